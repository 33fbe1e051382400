"""Fault injection end to end: SMTP refusing, 451, 550 or hanging; the database locked, full, read-only or deleted;
a sender killed between commit and sending. Each fault has its expected behaviour asserted."""
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time

import pytest

from blueprints.requests import mail_settings
from clinic import db as clinic_db
from clinic.outbox import send_pending
from tests.conftest import EVENT_TIMEOUT_SECONDS, ROOT, TEST_SECRET, content_dir, database_locked
from tests.helpers import reference_in, submit_request
from tests.support.storage import stored, value

pytestmark = pytest.mark.both_databases

TYPED = {"name": "Robin Faultline", "email": "robin.faultline@example.com",
         "description": "Pain in my left leg since the second operation."}


class Clock:
    """The sender's clock, moved by hand: retries and leases without sleeping."""

    def __init__(self):
        self.now = time.time() + 5  # a pass a few seconds after the request was stored

    def __call__(self):
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def app(make_app, smtp_server):
    return make_app(CONTENT_DIR=str(content_dir()), REQUEST_RATE_LIMIT="1000 per minute", OUTBOX_MAX_ATTEMPTS=3,
                    DATABASE_BUSY_TIMEOUT_MS=200, **smtp_server.config())


def count(app, sql):
    return value(app, sql)


def outbox(app):
    return stored(app, "SELECT status, attempts, last_error FROM outbox ORDER BY id")


def send_pass(app, clock):
    with app.app_context():
        settings = mail_settings(app)
    return send_pending(app.config["DATABASE_URL"], settings, clock)


def accepted_reference(client):
    response = submit_request(client, **TYPED, follow_redirects=True)
    assert response.status_code == 200
    reference = reference_in(response.get_data(as_text=True))
    assert reference
    return reference


def messages_naming(smtp_server, reference):
    return [m for m in smtp_server.messages if reference.encode() in m[2]]


def healthz(app):
    return json.loads(app.test_client().get("/healthz").get_data(as_text=True))


# --- SMTP ------------------------------------------------------------------------------------------
def test_smtp_refusing_connections_keeps_the_request_and_delivers_it_once_when_the_server_is_back(app, smtp_server, clock):
    smtp_server.stop()
    reference = accepted_reference(app.test_client())  # the patient is not held up by the outage
    assert send_pass(app, clock) == {"sent": 0, "retry": 1, "failed": 0}
    assert outbox(app) == [{"status": "pending", "attempts": 1, "last_error": "ConnectionRefusedError"}]

    smtp_server.start()
    clock.now += 24 * 3600
    assert send_pass(app, clock)["sent"] == 1
    clock.now += 24 * 3600
    assert send_pass(app, clock)["sent"] == 0
    assert len(messages_naming(smtp_server, reference)) == 1


def test_smtp_451_is_retried_later_and_delivered_exactly_once(app, smtp_server, clock):
    reference = accepted_reference(app.test_client())
    smtp_server.reply = "451 4.3.0 Try again later"
    assert send_pass(app, clock)["retry"] == 1
    assert send_pass(app, clock)["retry"] == 0  # not due yet: no hammering of a struggling server
    smtp_server.reply = None
    clock.now += 3600
    assert send_pass(app, clock)["sent"] == 1
    clock.now += 3600
    send_pass(app, clock)
    assert len(messages_naming(smtp_server, reference)) == 1
    assert outbox(app)[0]["status"] == "sent"


def test_smtp_550_marks_the_notification_failed_and_healthz_shows_it(app, smtp_server, clock):
    accepted_reference(app.test_client())
    assert healthz(app)["outbox_failed"] == 0
    smtp_server.reply = "550 5.1.1 Mailbox unavailable"
    assert send_pass(app, clock) == {"sent": 0, "retry": 0, "failed": 1}
    [row] = outbox(app)
    assert row["status"] == "failed" and row["last_error"].startswith("550")
    report = healthz(app)
    assert report["outbox_failed"] == 1 and report["outbox_pending"] == 0
    smtp_server.reply = None
    clock.now += 7 * 24 * 3600
    assert send_pass(app, clock)["sent"] == 0 and smtp_server.messages == []  # a failed row is never resent


def test_a_temporary_failure_is_marked_failed_after_the_configured_number_of_tries(app, smtp_server, clock):
    accepted_reference(app.test_client())
    smtp_server.reply = "451 4.3.0 Try again later"
    outcomes = []
    for _ in range(app.config["OUTBOX_MAX_ATTEMPTS"]):
        outcomes.append(send_pass(app, clock))
        clock.now += 24 * 3600
    assert [o["retry"] for o in outcomes] == [1, 1, 0] and outcomes[-1]["failed"] == 1
    assert outbox(app)[0]["status"] == "failed" and outbox(app)[0]["attempts"] == 3
    assert healthz(app)["outbox_failed"] == 1


class HangingSmtp:
    """Accepts TCP connections and never says a word: a mail server that hangs."""

    def __init__(self):
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.port = self.listener.getsockname()[1]
        self.connections = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.connections.append(connection)

    def close(self):
        self.listener.close()
        for connection in self.connections:
            connection.close()


@pytest.fixture
def hanging_smtp():
    server = HangingSmtp()
    yield server
    server.close()


def test_a_hanging_smtp_server_does_not_slow_the_patients_post(make_app, hanging_smtp):
    # Not TESTING: the served app's own sender thread runs, woken by the new request, as in production. Its SMTP
    # timeout outlasts the test's waits, so the mail attempt ends only when the test drops the connection below.
    app = make_app(CONTENT_DIR=str(content_dir()), TESTING=False, REQUEST_RATE_LIMIT="1000 per minute",
                   SMTP_HOST="127.0.0.1", SMTP_PORT=hanging_smtp.port, SMTP_STARTTLS=False,
                   SMTP_TIMEOUT=2 * EVENT_TIMEOUT_SECONDS, STAFF_EMAILS="staff@clinic.test", OUTBOX_POLL_SECONDS=3600)
    client = app.test_client()
    try:
        response = submit_request(client, **TYPED)
        assert response.status_code == 303
        # The patient has the answer while the mail is not yet tried or still waiting on the silent server:
        # a post that waited for the mail would find its attempt over (given up, attempts 1).
        row = outbox(app)[0]
        assert row["attempts"] == 0 or row["status"] == "sending", row
        deadline = time.monotonic() + EVENT_TIMEOUT_SECONDS
        while not hanging_smtp.connections and time.monotonic() < deadline:
            time.sleep(0.02)
        assert hanging_smtp.connections, "the sender never tried the mail server"
        assert outbox(app)[0]["status"] == "sending"
        # The mail server drops the connection: the sender keeps the row for later.
        hanging_smtp.close()
        while outbox(app)[0]["status"] == "sending" and time.monotonic() < deadline:
            time.sleep(0.05)
        row = outbox(app)[0]
        assert row["status"] == "pending" and row["attempts"] == 1 and row["last_error"]
    finally:
        app.extensions["outbox_sender"].stop()


def test_the_sender_gives_up_on_a_silent_smtp_server_after_its_timeout_and_keeps_the_row(make_app, hanging_smtp, clock):
    app = make_app(CONTENT_DIR=str(content_dir()), SMTP_HOST="127.0.0.1", SMTP_PORT=hanging_smtp.port,
                   SMTP_STARTTLS=False, SMTP_TIMEOUT=0.5, STAFF_EMAILS="staff@clinic.test")
    accepted_reference(app.test_client())
    assert send_pass(app, clock)["retry"] == 1  # returns although the server, still connected, never answered
    assert hanging_smtp.connections, "the sender never tried the mail server"
    row = outbox(app)[0]
    assert row["status"] == "pending" and row["attempts"] == 1 and row["last_error"], row


# --- The database ------------------------------------------------------------------------------------
def assert_not_sent_yet(app, response):
    """The friendly "not sent yet" page with what was typed, and no request or outbox row written."""
    html = response.get_data(as_text=True)
    assert response.status_code == 503
    assert "Your request has not been sent yet" in html
    assert app.extensions["journey"].clinic_phone in html
    assert f'value="{TYPED["name"]}"' in html and TYPED["description"] in html


def test_database_locked_by_another_writer_gives_the_not_sent_page_and_writes_nothing(app):
    client = app.test_client()
    with database_locked(app):
        response = submit_request(client, **TYPED)
    assert_not_sent_yet(app, response)
    assert count(app, "SELECT COUNT(*) FROM requests") == 0 and count(app, "SELECT COUNT(*) FROM outbox") == 0


@pytest.mark.sqlite_only("a full disk is made with PRAGMA max_page_count")
def test_database_full_gives_the_not_sent_page_and_leaves_no_partial_rows(app, monkeypatch):
    import blueprints.web

    client = app.test_client()
    accepted_reference(client)  # one request in, so the tables have pages of their own
    conn = sqlite3.connect(app.config["DATABASE"])
    conn.execute("VACUUM")  # no free pages left to reuse
    conn.close()

    def connect_to_a_full_disk(path, **options):
        conn = clinic_db.connect(path, **options)
        pages = conn.exec_driver_sql("PRAGMA page_count").scalar()
        conn.exec_driver_sql(f"PRAGMA max_page_count = {pages}")  # the file may not grow: SQLite answers SQLITE_FULL
        return conn

    monkeypatch.setattr(blueprints.web, "connect", connect_to_a_full_disk)  # every page's database connection
    # A description that cannot fit in the free space of the existing pages.
    response = submit_request(app.test_client(), **{**TYPED, "description": "€" * 2000})
    assert response.status_code == 503 and "not been sent yet" in response.get_data(as_text=True)
    assert count(app, "SELECT COUNT(*) FROM requests") == 1 and count(app, "SELECT COUNT(*) FROM outbox") == 1
    assert count(app, "PRAGMA integrity_check") == "ok"


@pytest.fixture
def read_only_database(app):
    """The database file made read-only, put back afterwards.

    As root, permissions do not stop a write, so the file is made immutable (chattr +i); as anyone
    else, taking away the write bits is enough.
    """
    path = app.config["DATABASE"]
    conn = clinic_db.connect(path)
    conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    clinic_db.dispose(path)  # no pooled connection keeps the file open for writing
    for suffix in ("-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    if os.geteuid() != 0:
        folder = os.path.dirname(path)
        os.chmod(path, 0o444)
        os.chmod(folder, 0o555)  # nor may SQLite create its -wal file beside it
        yield path
        os.chmod(folder, 0o755)
        os.chmod(path, 0o644)
        return
    result = subprocess.run(["chattr", "+i", path], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.fail(f"chattr +i failed (the file system must support it): {result.stderr.strip()}")
    yield path
    subprocess.run(["chattr", "-i", path], check=True)


@pytest.mark.sqlite_only("a read-only database file")
def test_database_read_only_gives_the_not_sent_page_and_writes_nothing(app, read_only_database):
    client = app.test_client()
    response = submit_request(client, **TYPED)
    assert_not_sent_yet(app, response)
    assert count(app, "SELECT COUNT(*) FROM requests") == 0
    report = app.test_client().get("/healthz")
    assert report.status_code == 503 and report.get_json()["database"] == "not_writable"


@pytest.mark.sqlite_only("the database file deleted under the app")
def test_database_deleted_under_the_running_app_is_a_logged_500_not_a_busy_page(app, caplog):
    # Not "busy for a moment": waiting never brings the tables back, so it is a fault for the deployer
    # (500, logged, /healthz 503), not a "try again" page for the patient (issue 10).
    client = app.test_client()
    page = client.get("/request")
    assert page.status_code == 200
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(app.config["DATABASE"] + suffix):
            os.remove(app.config["DATABASE"] + suffix)
    response = submit_request(client, **TYPED)
    assert response.status_code == 500 and "not been sent yet" not in response.get_data(as_text=True)
    assert any("Unhandled error on POST" in record.getMessage() for record in caplog.records)
    # Whatever file SQLite created in its place holds no request, half-written or otherwise.
    conn = sqlite3.connect(app.config["DATABASE"])
    tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    conn.close()
    assert "requests" not in tables or count(app, "SELECT COUNT(*) FROM requests") == 0
    assert app.test_client().get("/healthz").status_code == 503


# --- A crash between commit and sending ----------------------------------------------------------------------
def test_a_request_committed_before_a_crash_is_sent_after_restart_exactly_once(make_app, app, smtp_server, clock):
    reference = accepted_reference(app.test_client())  # committed; TESTING: no sender ran
    assert outbox(app)[0]["status"] == "pending"
    del app  # the process is gone

    restarted = make_app(CONTENT_DIR=str(content_dir()), **smtp_server.config())  # same database file
    runner = restarted.test_cli_runner()
    assert "1 sent" in runner.invoke(args=["outbox", "send"]).output
    assert "0 sent" in runner.invoke(args=["outbox", "send"]).output
    assert len(messages_naming(smtp_server, reference)) == 1


def test_a_sender_killed_mid_send_leaves_the_mail_to_be_sent_once_after_restart(app, smtp_server, hanging_smtp, clock):
    reference = accepted_reference(app.test_client())
    env = {**os.environ, "FLASK_SECRET_KEY": TEST_SECRET, "FLASK_DATABASE": app.config["DATABASE"],
           "FLASK_CONTENT_DIR": str(content_dir()), "FLASK_SMTP_HOST": "127.0.0.1",
           "FLASK_SMTP_PORT": str(hanging_smtp.port), "FLASK_SMTP_STARTTLS": "false", "FLASK_SMTP_TIMEOUT": "30",
           "FLASK_STAFF_EMAILS": "staff@clinic.test"}
    if clinic_db.dialect_of(app.config["DATABASE_URL"]) == "postgresql":
        env["FLASK_DATABASE_URL"] = app.config["DATABASE_URL"]
    sender = subprocess.Popen([sys.executable, "-m", "flask", "--app", "app", "outbox", "send"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + EVENT_TIMEOUT_SECONDS
        while outbox(app)[0]["status"] != "sending" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert outbox(app)[0]["status"] == "sending", "the sender never claimed the row"
    finally:
        sender.send_signal(signal.SIGKILL)  # killed while waiting on the mail server
        sender.wait(10)

    assert send_pass(app, clock)["sent"] == 0  # its lease still holds: no second sender jumps in
    clock.now = time.time() + app.config["OUTBOX_LEASE_SECONDS"] + 1
    assert send_pass(app, clock)["sent"] == 1
    clock.now += 24 * 3600
    assert send_pass(app, clock)["sent"] == 0
    assert len(messages_naming(smtp_server, reference)) == 1
