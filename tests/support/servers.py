"""Servers the tests start as real processes."""
import os
import time

from scripts.loopback import LoopbackClient, free_port
from tests.conftest import EVENT_TIMEOUT_SECONDS, content_dir, migrated_database


def gunicorn_env(tmp_path, secret):
    """The environment of a production gunicorn with the checked-in configuration (what `make serve` runs), one
    worker on a free loopback port, on a migrated database in `tmp_path`."""
    migrated_database(tmp_path / "db.sqlite3")
    env = dict(os.environ, FLASK_PRODUCTION="1", FLASK_SECRET_KEY=secret, FLASK_DATABASE=str(tmp_path / "db.sqlite3"),
               FLASK_CONTENT_DIR=str(content_dir()), GUNICORN_BIND=f"127.0.0.1:{free_port()}", GUNICORN_WORKERS="1")
    env.pop("FLASK_DEBUG", None)
    return env


def wait_until_healthy(server, port):
    """Wait for the gunicorn `server` (a Popen with stderr piped) to answer /healthz on `port`; fail with its
    error output if it exits first."""
    deadline = time.monotonic() + EVENT_TIMEOUT_SECONDS
    while True:
        try:
            if LoopbackClient(port, timeout=2).fetch("GET", "/healthz")[0] == 200:
                return
        except OSError:
            pass
        assert server.poll() is None, server.stderr.read().decode()
        assert time.monotonic() < deadline, f"gunicorn did not answer within {EVENT_TIMEOUT_SECONDS} s"
        time.sleep(0.1)
