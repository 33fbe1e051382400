"""Housekeeping off the request path: `flask housekeeping`, safe any time and twice, and its in-process schedule."""
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from clinic import housekeeping, insights
from clinic.db import connect, transaction
from tests.conftest import EVENT_TIMEOUT_SECONDS, ROOT, database_locked

pytestmark = pytest.mark.both_databases

FIXTURE_CONTENT = ROOT / "tests" / "fixtures" / "content"
DAY = 86400
NOW = int(time.time())


@pytest.fixture
def app(make_app):
    return make_app(CONTENT_DIR=str(FIXTURE_CONTENT), WTF_CSRF_ENABLED=False, OUTBOX_AUTOSEND=False,
                    JOURNEY_KEEP_DAYS=7, REQUEST_RETENTION_DAYS=30, STAFF_SESSION_IDLE_SECONDS=1800,
                    STAFF_SIGNIN_WINDOW_SECONDS=900, DATABASE_BUSY_TIMEOUT_MS=50)


def sql(app, statement, **params):
    """Rows of `statement` (:named parameters) on the app's database, committed at once, as tuples."""
    conn = connect(app.config["DATABASE_URL"])
    try:
        result = conn.execute(text(statement), params)
        return [tuple(row) for row in result] if result.returns_rows else []
    finally:
        conn.close()


def count(app, table, where="1 = 1"):
    return sql(app, f"SELECT COUNT(*) FROM {table} WHERE {where}")[0][0]  # noqa: S608  # nosec B608 - test tables


def add_journey(app, journey_id, updated_days_ago):
    at = NOW - updated_days_ago * DAY
    sql(app, "INSERT INTO journeys (id, created_at, updated_at) VALUES (:id, :at, :at)", id=journey_id, at=at)


def add_request(app, reference, days_ago):
    sql(app, "INSERT INTO requests (reference, submission_id, created_at, name, email, contact_by, description) "
             "VALUES (:reference, :submission, :at, 'Old Example', 'old@example.org', 'email', 'Old pain')",
        reference=reference, submission=f"sub-{reference}", at=NOW - days_ago * DAY)


def expired_and_fresh_rows(app):
    """One row past its keeping time and one within it, for every task."""
    add_journey(app, "journey-old", 8)
    add_journey(app, "journey-new", 1)
    add_request(app, "FBS-OLD1", 31)
    add_request(app, "FBS-NEW1", 2)
    staff_id = sql(app, "INSERT INTO staff (email, password_hash, created_at) VALUES ('s@clinic.example', 'x', 1) "
                        "RETURNING id")[0][0]
    sql(app, "INSERT INTO staff_sessions (token_hash, staff_id, created_at, last_seen_at) VALUES "
             "('idle', :staff, :idle, :idle), ('too-old', :staff, :old, :recent), ('active', :staff, :active, :recent)",
        staff=staff_id, idle=NOW - 3600, old=NOW - 13 * 3600, recent=NOW - 60, active=NOW - 600)
    sql(app, "INSERT INTO sign_in_attempts (account, address, at) VALUES ('a', '192.0.2.1', :old), "
             "('a', '192.0.2.2', :recent)", old=NOW - 2 * 3600, recent=NOW - 60)
    sql(app, "INSERT INTO staff_known_addresses (staff_id, address, last_seen_at) VALUES (:staff, '192.0.2.1', :old), "
             "(:staff, '192.0.2.2', :recent)", staff=staff_id, old=NOW - 31 * DAY, recent=NOW - DAY)
    old_week = insights.weeks_back(NOW - (insights.KEEP_WEEKS + 2) * 7 * DAY, 1)[0]
    this_week = insights.weeks_back(NOW, 1)[0]
    sql(app, "INSERT INTO insight_events (week, event, count) VALUES (:old, 'started', 3), (:this, 'started', 4)",
        old=old_week, this=this_week)


def remaining(app):
    return {
        "journeys": [r[0] for r in sql(app, "SELECT id FROM journeys ORDER BY id")],
        "requests": [r[0] for r in sql(app, "SELECT reference FROM requests ORDER BY reference")],
        "sessions": [r[0] for r in sql(app, "SELECT token_hash FROM staff_sessions ORDER BY 1")],
        "attempts": [r[0] for r in sql(app, "SELECT address FROM sign_in_attempts ORDER BY 1")],
        "known": [r[0] for r in sql(app, "SELECT address FROM staff_known_addresses ORDER BY 1")],
        "counters": count(app, "insight_events"),
    }


KEPT = {"journeys": ["journey-new"], "requests": ["FBS-NEW1"], "sessions": ["active"], "attempts": ["192.0.2.2"],
        "known": ["192.0.2.2"], "counters": 1}


# --- off the request path ---------------------------------------------------------------------------------------

def test_starting_a_journey_leaves_other_expired_journeys_to_housekeeping(app):
    add_journey(app, "journey-old", 30)
    assert app.test_client().post("/journey/start").status_code in (302, 303)
    assert count(app, "journeys", "id = 'journey-old'") == 1


def test_staff_sign_in_leaves_requests_past_retention_to_housekeeping(make_app):
    from tests.support.staff import FAST_ARGON2, create_staff, sign_in

    app = make_app(CONTENT_DIR=str(FIXTURE_CONTENT), WTF_CSRF_ENABLED=False, STAFF_ARGON2=FAST_ARGON2,
                   REQUEST_RETENTION_DAYS=30)
    add_request(app, "FBS-OLD1", 31)
    create_staff(app)
    assert sign_in(app.test_client()).status_code == 303
    assert count(app, "requests") == 1 and count(app, "audit_log", "action = 'purged'") == 0


# --- the tasks --------------------------------------------------------------------------------------------------

def test_housekeeping_removes_what_is_past_its_keeping_time_and_keeps_the_rest(app):
    expired_and_fresh_rows(app)
    outcomes = housekeeping.run(app.config["DATABASE_URL"], app.config, now=NOW)
    assert [o.task for o in outcomes] == [t.name for t in housekeeping.TASKS]
    assert all(o.removed is not None for o in outcomes)
    assert remaining(app) == KEPT
    # A request erased by retention leaves one audit row, with no detail of the patient.
    assert sql(app, "SELECT staff_email, detail FROM audit_log WHERE action = 'purged'") == [
        ("automatic retention", "1 requests older than 30 days")]


def test_housekeeping_twice_removes_nothing_the_second_time(app):
    expired_and_fresh_rows(app)
    first = housekeeping.run(app.config["DATABASE_URL"], app.config, now=NOW)
    second = housekeeping.run(app.config["DATABASE_URL"], app.config, now=NOW)
    assert sum(o.removed for o in first) == 7
    assert [o.removed for o in second] == [0] * len(housekeeping.TASKS)
    assert remaining(app) == KEPT and count(app, "audit_log", "action = 'purged'") == 1


def test_one_failing_task_does_not_stop_the_others(app, caplog):
    expired_and_fresh_rows(app)

    def broken(conn, now, settings):
        transaction(conn).__enter__()  # left open, as a task that fails half-way would leave it
        conn.execute(text("SELECT * FROM no_such_table"))

    tasks = [housekeeping.Task("broken", broken), *housekeeping.TASKS]
    outcomes = housekeeping.run(app.config["DATABASE_URL"], app.config, now=NOW, tasks=tasks)
    assert outcomes[0].removed is None and "no_such_table" in outcomes[0].error
    assert remaining(app) == KEPT
    assert any("housekeeping: broken failed" in r.getMessage() for r in caplog.records)


# --- the command ------------------------------------------------------------------------------------------------

def test_the_command_says_what_each_task_removed(app):
    expired_and_fresh_rows(app)
    result = app.test_cli_runner().invoke(args=["housekeeping"])
    assert result.exit_code == 0, result.output
    assert "expired journeys: 1 removed" in result.output
    assert "requests past retention: 1 removed" in result.output
    assert remaining(app) == KEPT
    again = app.test_cli_runner().invoke(args=["housekeeping"])
    assert again.exit_code == 0 and "requests past retention: 0 removed" in again.output


def test_the_command_fails_and_removes_nothing_while_the_database_is_locked_then_catches_up(app):
    expired_and_fresh_rows(app)
    with database_locked(app):
        result = app.test_cli_runner().invoke(args=["housekeeping"])
    assert result.exit_code == 1 and "not done" in result.output
    assert count(app, "journeys") == 2 and count(app, "requests") == 2
    assert app.test_cli_runner().invoke(args=["housekeeping"]).exit_code == 0
    assert remaining(app) == KEPT


# --- in the serving process -------------------------------------------------------------------------------------

def wait_until(condition, timeout=EVENT_TIMEOUT_SECONDS):
    done = threading.Event()
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        done.wait(0.05)
    return True


def test_without_the_timer_the_serving_process_runs_it_from_its_first_request_on(make_app):
    app = make_app(CONTENT_DIR=str(FIXTURE_CONTENT), TESTING=False, OUTBOX_AUTOSEND=False,
                   HOUSEKEEPING_INTERVAL_SECONDS=3600)
    add_journey(app, "journey-old", 30)
    scheduler = app.extensions["housekeeping"]
    try:
        app.test_client().get("/healthz")
        assert scheduler._thread is not None and scheduler._thread.name == "housekeeping"
        assert wait_until(lambda: count(app, "journeys", "id = 'journey-old'") == 0)
    finally:
        scheduler.stop()


def test_with_the_timer_the_serving_process_leaves_it_alone(make_app):
    app = make_app(CONTENT_DIR=str(FIXTURE_CONTENT), TESTING=False, OUTBOX_AUTOSEND=False,
                   HOUSEKEEPING_IN_PROCESS=False)
    app.test_client().get("/healthz")
    assert app.extensions["housekeeping"]._thread is None


def test_the_systemd_timer_runs_the_command_as_the_service_user():
    service = (ROOT / "deploy" / "fbss-journey-housekeeping.service").read_text()
    timer = (ROOT / "deploy" / "fbss-journey-housekeeping.timer").read_text()
    assert "ExecStart=/srv/fbss-journey/.venv/bin/flask --app app housekeeping" in service
    assert "User=fbss" in service and "EnvironmentFile=/etc/fbss-journey.env" in service
    assert "OnCalendar=hourly" in timer and "Persistent=true" in timer
    assert "FLASK_HOUSEKEEPING_IN_PROCESS" in Path(ROOT / "deploy" / "fbss-journey.env.example").read_text()
