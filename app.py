"""Application factory: configuration, extensions and blueprints. `flask --app app run` finds `app`."""
import logging
import os
import secrets
import sys
from pathlib import Path

from flask import Flask
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from blueprints import assets, housekeeping, insights, journey, ops, pages, request_log, requests, security, staff, web
from clinic import local_time, migrate, production
from clinic.journey import load_journey
from clinic.private_files import private_folder
from clinic.triage import load_triage

ROOT = Path(__file__).parent
log = logging.getLogger(__name__)
csrf = CSRFProtect()

DEFAULTS = {
    # Storage and content
    "DATABASE": None,  # default: instance/clinic.sqlite3
    "DATABASE_BUSY_TIMEOUT_MS": 5000,  # how long a page waits for another writer before saying "busy"
    "CONTENT_DIR": str(ROOT / "content"),
    "JOURNEY_KEEP_DAYS": 7,
    # Housekeeping (clinic/housekeeping.py): expired journeys, idle sessions, requests past retention ... go
    # when each serving process starts serving and then every interval; set FLASK_HOUSEKEEPING_IN_PROCESS=false
    # where deploy/fbss-journey-housekeeping.timer runs `flask housekeeping` instead.
    "HOUSEKEEPING_IN_PROCESS": True,
    "HOUSEKEEPING_INTERVAL_SECONDS": 3600,
    "CONTINUE_LINK_MAX_AGE_DAYS": 7,
    # Absolute links (emails, continue-later links) start with this
    "BASE_URL": "http://127.0.0.1:5000",
    # Forms
    "MAX_CONTENT_LENGTH": 64 * 1024,
    "MAX_FORM_MEMORY_SIZE": 64 * 1024,
    "WTF_CSRF_TIME_LIMIT": 3600,
    # Cookies: only a random id travels in them
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "PRODUCTION": False,
    # Serving (see docs/deploy.md): FLASK_PROXY_FIX=1 behind exactly one reverse proxy (nginx);
    # FLASK_TRUSTED_HOSTS="clinic.example,www.clinic.example" answers other Host headers with 400.
    "PROXY_FIX": False,
    "TRUSTED_HOSTS": None,
    "HEALTHZ_BUSY_TIMEOUT_MS": 1000,
    "HEALTHZ_PROBE_SECONDS": 10,  # /healthz writes to the database at most this often per process
    "HEALTHZ_TOKEN": "",  # nosec B105 - empty: no token. Callers off this machine with "Authorization: Bearer <token>" see the outbox figures
    "BENCH_ROUTE": False,  # /bench/ping for scripts/bench.py only, never in production
    # Every time staff see (list, request, notes, audit, CSV) is shown in this IANA zone; stored times stay UTC.
    "CLINIC_TIMEZONE": local_time.DEFAULT_ZONE,
    # Second-opinion requests and their mail (blueprints/requests.py, clinic/outbox.py; README "Mail settings")
    "SMTP_HOST": "",  # empty: mail is written as .eml files under MAIL_DIR instead of sent
    "SMTP_PORT": 587,
    "SMTP_STARTTLS": True,
    "SMTP_USER": "",
    # SMTP_PASSWORD has no default: it comes from FLASK_SMTP_PASSWORD only.
    "SMTP_TIMEOUT": 20,
    "MAIL_FROM": "no-reply@localhost",
    "STAFF_EMAILS": "",  # comma separated
    "MAIL_DIR": None,  # default: instance/mail
    "PATIENT_RECEIPT": False,  # also mail the patient their reference (no health detail)
    "OUTBOX_AUTOSEND": True,  # a sender thread in each serving process
    "OUTBOX_POLL_SECONDS": 30,
    "OUTBOX_MAX_ATTEMPTS": 10,
    "OUTBOX_RETRY_SECONDS": 60,  # doubled after each failed attempt, up to an hour
    "OUTBOX_LEASE_SECONDS": 300,
    "REQUEST_MIN_SECONDS": 3,  # posts sooner than this after the form was served are kept as suspected spam
    "REQUEST_MAX_AGE_SECONDS": 86400,
    "REQUEST_RATE_LIMIT": "5 per minute;30 per hour",  # posts to /request per client address
    "RATELIMIT_STORAGE_URI": "memory://",  # per process; see README "Mail settings"
    # Staff sessions end after STAFF_SESSION_IDLE_SECONDS without a click, and after this long however busy.
    "STAFF_SESSION_MAX_SECONDS": 12 * 3600,
}


def create_app(config=None):
    app = Flask(__name__, instance_relative_config=True)
    app.config.update(DEFAULTS)
    app.config.from_prefixed_env()  # FLASK_SECRET_KEY -> SECRET_KEY, FLASK_DATABASE -> DATABASE ...
    if config:
        app.config.update(config)
    production.configure_logging()
    app.config["TRUSTED_HOSTS"] = production.parse_host_list(app.config.get("TRUSTED_HOSTS"))
    # Refuses (ConfigError, with what to change) a placeholder or short key, or the debugger, in production.
    production.check_production(app.config, debug=app.debug)
    for warning in production.production_warnings(app.config):
        log.warning("%s", warning)
    if app.config["PRODUCTION"]:
        app.config["BENCH_ROUTE"] = False
    try:
        app.extensions["clinic_zone"] = local_time.load_zone(app.config["CLINIC_TIMEZONE"])
    except ValueError as error:
        raise production.ConfigError(f"Refusing to start: {error}") from None
    if app.config["PROXY_FIX"]:
        # Trust one proxy's X-Forwarded-For/-Proto/-Host, so is_secure and the client address are right.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)

    private_folder(app.instance_path, tighten=True)  # 0700: the database, mail files and secret key live here
    if not app.config.get("DATABASE"):
        app.config["DATABASE"] = os.path.join(app.instance_path, "clinic.sqlite3")
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _instance_secret_key(app.instance_path)

    if not _running_schema_command():
        # New database: created. Older: upgraded outside production (after a backup beside it), refused in
        # production with the command to run. Newer than the code: refused. (clinic/migrate.py)
        migrate.prepare(app.config["DATABASE"], upgrade_automatically=not app.config["PRODUCTION"],
                        backup_dir=Path(app.config["DATABASE"]).parent / "backups")
    # A broken content file stops start-up here, naming the file and the field.
    app.extensions["journey"] = load_journey(app.config["CONTENT_DIR"])
    app.extensions["triage"] = load_triage(app.config["CONTENT_DIR"])  # flagged requests: phrases, banner text

    # Order matters: hooks run in the order they are registered.
    request_log.init_app(app)  # first: its clock covers every other hook, its line sees the final status
    security.init_app(app)  # before CSRF: a cross-site post is refused with 403 before its token is checked
    csrf.init_app(app)
    web.init_app(app)  # database teardown, layout context, error pages
    app.register_blueprint(journey.bp)
    app.register_blueprint(pages.bp)
    requests.init_app(app)  # the request form at /request, its rate limit, the outbox sender and `outbox send`
    staff.init_app(app)  # the staff inbox at /staff and the `staff` / `requests` commands
    insights.init_app(app)  # the journey report at /staff/insights and `insights demo`
    assets.init_app(app)  # versioned static URLs, favicon.ico, robots.txt
    ops.init_app(app)  # /healthz and the `db backup` / `db restore` commands
    housekeeping.init_app(app)  # `flask housekeeping`, and its schedule in each serving process
    return app


def _running_schema_command():
    """True while `flask --app app db upgrade` (or db status/backup/restore) loads the app: those commands
    mend or inspect the very database that would otherwise stop it loading."""
    program = Path(sys.argv[0])
    if not (program.name == "flask" or program.parts[-2:] == ("flask", "__main__.py")) or "db" not in sys.argv:
        return False  # `flask ...` or `python -m flask ...` only
    following = sys.argv[sys.argv.index("db") + 1:]
    return bool(following) and following[0] in ("upgrade", "status", "backup", "restore")


def _instance_secret_key(instance_path):
    """Use instance/secret_key, creating it once (mode 0600) so sessions survive restarts."""
    path = Path(instance_path) / "secret_key"
    if path.exists():
        log.info("No FLASK_SECRET_KEY set: using the one in %s", path)
        return path.read_text(encoding="ascii").strip()
    key = secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(key)
    log.warning("No FLASK_SECRET_KEY set: generated one into %s (mode 0600)", path)
    return key


def __getattr__(name):
    """`app` is built on first use, so importing create_app (as tests do) has no side effects."""
    if name == "app":
        globals()["app"] = create_app()
        return globals()["app"]
    raise AttributeError(name)
