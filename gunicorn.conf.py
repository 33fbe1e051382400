"""gunicorn settings for one small host (1-2 cores): `make serve` and deploy/fbss-journey.service use this file.

Each value can be overridden by an environment variable named below, or on the command line.
"""
import os

wsgi_app = "app:app"
# nginx proxies to it; in production a public bind is refused (on_starting below) unless FLASK_ALLOW_PUBLIC_BIND=1
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")

# 2 processes x 4 threads: a request mostly waits on SQLite or the network, so threads keep a core
# busy while the second process survives a crash of the first. More workers only add memory on 1-2 cores.
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))

# Load the app once in the master: a bad setting (a weak secret key) stops start-up with one clear
# message instead of workers failing one after another, and the workers share the loaded code's memory.
preload_app = True

timeout = 30  # a worker stuck this long is restarted
graceful_timeout = 20  # systemctl restart lets running requests finish
keepalive = 5  # nginx reuses connections to us
max_requests = 5000  # recycle workers now and then so slow leaks cannot grow without bound
max_requests_jitter = 500

# Header limits well above any browser's, below anything abusive; bodies are capped by the app (64 KB).
limit_request_line = 4094
limit_request_fields = 60
limit_request_field_size = 8190

# The app logs one line per request itself (blueprints/request_log.py, without query strings):
# gunicorn's access log would repeat each request with its full URL, so it stays off.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
capture_output = False

# Only the app decides what to trust from the proxy (FLASK_PROXY_FIX=1 -> ProxyFix).
forwarded_allow_ips = "127.0.0.1"
secure_scheme_headers = {}

# gunicorn 27 opens a control socket at one shared path by default; two servers on one host would collide,
# and nothing here uses gunicornc.
control_socket_disable = True

# Heartbeat files in memory, not on a disk that may be slow or read-only (systemd ProtectSystem=strict).
# gunicorn creates them with mkstemp (unique name, mode 0600), so a shared folder is safe here.
SHARED_MEMORY = "/dev/shm"  # noqa: S108
worker_tmp_dir = SHARED_MEMORY if os.path.isdir(SHARED_MEMORY) else None
proc_name = "fbss-journey"


def on_starting(server):
    """In production gunicorn listens on loopback only (nginx in front), unless FLASK_ALLOW_PUBLIC_BIND=1."""
    import sys

    from clinic.production import public_bind_problem
    from clinic.settings import Settings

    settings = Settings.from_sources(os.environ)
    problem = public_bind_problem(server.cfg.bind, production=settings.PRODUCTION,
                                  allow_public=settings.ALLOW_PUBLIC_BIND)
    if problem:
        sys.exit(problem)
    # The app was loaded in this master (preload_app): a database at another version stops start-up here, with the
    # command to run (`flask --app app db upgrade`, which make serve and the systemd unit run first).
    from clinic.migrate import MigrationError

    gate = getattr(server.app.wsgi(), "extensions", {}).get("schema_gate") if server.cfg.preload_app else None
    if gate is not None:
        try:
            gate.require()
        except MigrationError as error:
            sys.exit(f"Refusing to start: {error}")
