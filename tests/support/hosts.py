"""Two (or more) app hosts behind nginx, as a clinic group runs the site: each "host" is a gunicorn with the
project's gunicorn.conf.py on a loopback port of its own, in a process group of its own (so a whole host can be
SIGKILLed at once), and nginx balances them round-robin through an `upstream`, as deploy/nginx-fbss-journey.conf
does for one. Used by `make soak ARGS="--hosts 2"` (scripts/soak.py) and tests/test_two_hosts.py.

The hosts share what two machines would share: the database (FLASK_DATABASE_URL, PostgreSQL), Redis for the
rate limits and the secret key, all in the `env` given. nginx serves /static/ from disk like the kit, so only
the app's own pages take turns between the hosts.
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from scripts.loopback import LoopbackClient, free_port

ROOT = Path(__file__).resolve().parent.parent.parent
VENV_BIN = Path(sys.executable).parent
START_TIMEOUT_SECONDS = 60


def flask_command(env, *args, **options):
    """`flask --app app ARGS` with the hosts' settings (e.g. `db upgrade`, once, before they start)."""
    return subprocess.run([str(VENV_BIN / "flask"), "--app", "app", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=START_TIMEOUT_SECONDS * 2, **options)


class AppHost:
    """One host: gunicorn (its master and workers in one process group), logging to `<workdir>/<name>.log`."""

    def __init__(self, name, env, workdir, workers=2, port=None):
        self.name = name
        self.port = port or free_port()
        self.env = {**env, "GUNICORN_WORKERS": str(workers)}
        self.log_path = Path(workdir) / f"{name}.log"
        self.process = None
        self.starts = 0

    def start(self):
        self.launch()
        self.wait_healthy()
        return self

    def launch(self):
        """Start gunicorn without waiting for it (start several hosts at once, then `wait_healthy` each)."""
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child keeps its own copy; ours is closed below
        try:
            self.process = subprocess.Popen(
                [str(VENV_BIN / "gunicorn"), "--config", "gunicorn.conf.py", "--bind", f"127.0.0.1:{self.port}"],
                cwd=ROOT, env=self.env, start_new_session=True, stdout=log, stderr=subprocess.STDOUT)
        finally:
            log.close()
        self.starts += 1
        return self

    def wait_healthy(self):
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name}: gunicorn exited with {self.process.returncode}:\n{self.log()[-3000:]}")
            try:
                if LoopbackClient(self.port, timeout=2).fetch("GET", "/healthz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name}: gunicorn did not answer /healthz within {START_TIMEOUT_SECONDS} s")

    def workers(self):
        """PIDs of the master's worker processes (from /proc, no extra tools)."""
        pid = self.process.pid
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]

    def kill(self):
        """The whole host dies at once (master and every worker), as when a machine loses power."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self):
        if not self.process or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.kill()
        try:  # a worker that outlived its master
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def log(self):
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def routes(self, log=None):
        """(method, route pattern, status) of each request this host's app logged (blueprints/request_log.py), in
        its whole log or in the part of it given."""
        return re.findall(r"request id=\S+ method=(\S+) route=(\S+) status=(\d+)", self.log() if log is None else log)


class Balancer:
    """nginx on a free loopback port with an `upstream` of the hosts (round-robin, passive health checks)."""

    def __init__(self, hosts, workdir, port=None):
        self.hosts = hosts
        self.workdir = Path(workdir) / "nginx"
        self.port = port or free_port()
        self.process = None

    def config(self):
        servers = "\n".join(f"        server 127.0.0.1:{host.port} max_fails=1 fail_timeout=3s;" for host in self.hosts)
        user = "user root;\n" if os.geteuid() == 0 else ""
        w = self.workdir
        return f"""{user}pid {w}/nginx.pid;
error_log {w}/error.log warn;
daemon off;
worker_processes 1;
events {{ worker_connections 1024; }}
http {{
    include /etc/nginx/mime.types;
    access_log off;
    client_body_temp_path {w}/body;
    proxy_temp_path {w}/proxy;
    fastcgi_temp_path {w}/fastcgi;
    uwsgi_temp_path {w}/uwsgi;
    scgi_temp_path {w}/scgi;
    upstream fbss_journey {{
{servers}
        keepalive 8;
    }}
    server {{
        listen 127.0.0.1:{self.port};
        server_tokens off;
        client_max_body_size 128k;
        location /static/ {{
            alias {ROOT}/static/;
        }}
        location / {{
            proxy_pass http://fbss_journey;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Host $http_host;
            proxy_connect_timeout 2s;
            proxy_read_timeout 35s;
            # A host that refuses the connection (down): nginx tries the next one. A post already sent to a host
            # that then died is not sent again by nginx (non-idempotent); the browser's retry is, to the other.
            proxy_next_upstream error timeout;
        }}
    }}
}}
"""

    def start(self):
        if not shutil.which("nginx"):
            raise RuntimeError("nginx not installed: apt-get install nginx (.ci/run does)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "nginx.conf").write_text(self.config())
        self.process = subprocess.Popen(["nginx", "-c", str(self.workdir / "nginx.conf"), "-p", str(self.workdir)],
                                        start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nginx exited: {self.process.stderr.read().decode()}")
            try:
                if LoopbackClient(self.port, timeout=2).fetch("GET", "/healthz")[0] == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("nginx did not answer within the start-up time")

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # fast shutdown
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
