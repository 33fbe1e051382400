"""`make run` (the Flask development server) logs no URLs: tokens and steps stay out of its log (issue 11 hardening)."""
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

from tests.conftest import EVENT_TIMEOUT_SECONDS, ROOT, TEST_SECRET, content_dir, migrated_database

TOKEN = "TOKEN-d41d8cd98f00b204e980"
CANARY = "CANARY-5e2f"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback only
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_the_development_server_logs_the_apps_own_line_but_no_paths_or_queries(tmp_path):
    port = free_port()
    # The schema first, as `make run` makes it with `db upgrade` (the app never does): a copy of a database it made.
    env = dict(os.environ, FLASK_SECRET_KEY=TEST_SECRET, FLASK_DATABASE=str(migrated_database(tmp_path / "clinic.sqlite3")),
               FLASK_MAIL_DIR=str(tmp_path / "mail"), FLASK_CONTENT_DIR=str(content_dir()), FLASK_OUTBOX_AUTOSEND="false")
    env.pop("FLASK_DEBUG", None)
    # Then the server `make run` runs, on a free port.
    server = subprocess.Popen([sys.executable, "-m", "flask", "--app", "app", "run", "--host", "127.0.0.1", "--port", str(port)],
                              cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + EVENT_TIMEOUT_SECONDS
        while True:
            try:
                get(f"{base}/healthz")
                break
            except OSError:
                assert server.poll() is None, server.stdout.read()
                assert time.monotonic() < deadline, f"the development server did not answer within {EVENT_TIMEOUT_SECONDS} s"
                time.sleep(0.1)
        get(f"{base}/journey/continue/{TOKEN}")
        get(f"{base}/journey/urgent?symptom={CANARY}")
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:  # a request line Werkzeug refuses
            raw.sendall(f"GET /journey/continue/{TOKEN}?{CANARY} HTTP/9.9\r\n\r\n".encode())
            raw.recv(1024)
    finally:
        server.terminate()
        log, _ = server.communicate(timeout=15)
    assert "route=/journey/continue/<token>" in log  # the app's own line: the route pattern, not the path
    assert "Running on http://127.0.0.1" in log  # Werkzeug still says where it listens
    assert "refused a malformed request" in log  # and that it refused something, without the line
    assert TOKEN not in log and CANARY not in log and "/journey/urgent" not in log, log
