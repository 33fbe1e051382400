"""Storage errors told apart: "busy for a moment" (locked, read-only, full) is a 503 the patient can retry;
any other database error (a missing column or table) is a 500 with a log line, and /healthz says 503."""
import logging
import sqlite3

import pytest
from sqlalchemy import text

from clinic import db as clinic_db
from tests.conftest import ROOT, database_locked
from tests.helpers import submit_request
from tests.support.storage import execute

pytestmark = pytest.mark.both_databases

FIXTURE_CONTENT = ROOT / "tests" / "fixtures" / "content"
TYPED = {"name": "Quinn Columnless", "email": "quinn@example.com", "description": "Pain since the fusion."}


@pytest.fixture
def app(make_app):
    return make_app(CONTENT_DIR=str(FIXTURE_CONTENT), WTF_CSRF_ENABLED=False, DATABASE_BUSY_TIMEOUT_MS=50,
                    OUTBOX_AUTOSEND=False, HEALTHZ_PROBE_SECONDS=0)


def drop_columns(app, *columns):
    """What a database made by a version with a column fewer looks like to the running code."""
    for table_column in columns:
        table, column = table_column.split(".")
        execute(app, f"ALTER TABLE {table} DROP COLUMN {column}")


# --- the finding: an older database failed quietly ---------------------------------------------------------

def test_finding_a_column_fewer_is_a_server_error_with_a_log_line_not_a_not_sent_yet_page(app, caplog):
    client = app.test_client()
    assert client.get("/request").status_code == 200  # serving: the schema was right when the process started
    drop_columns(app, "requests.spam_reason")
    caplog.set_level(logging.ERROR)
    response = submit_request(client, **TYPED)
    assert response.status_code == 500
    assert "not been sent yet" not in response.get_data(as_text=True)
    logged = "\n".join(record.getMessage() + (record.exc_text or "") for record in caplog.records)
    assert "POST" in logged and "spam_reason" in logged
    assert "Quinn" not in logged and "fusion" not in logged  # never what the patient typed


def test_finding_a_column_fewer_gives_journey_steps_a_server_error_not_the_busy_page(app):
    client = app.test_client()
    assert client.post("/journey/start").status_code in (302, 303)
    assert client.post("/journey/safety", data={"bladder": "no"}).status_code == 303  # the first answer makes the row
    drop_columns(app, "journeys.seen")
    response = client.get("/journey/surgery")
    assert response.status_code == 500
    assert "The site is busy" not in response.get_data(as_text=True)


def test_finding_healthz_is_503_when_the_tables_are_not_what_the_code_needs(app):
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    drop_columns(app, "requests.spam_reason")
    response = client.get("/healthz")
    assert response.status_code == 503 and response.json["status"] == "error"
    assert response.json["database"] == "schema_mismatch"


# --- busy for a moment stays a 503 --------------------------------------------------------------------------

def test_a_lock_held_by_another_writer_is_database_busy(app):
    conn = clinic_db.connect(app.config["DATABASE_URL"], busy_timeout_ms=50)
    with database_locked(app):
        with pytest.raises(clinic_db.DatabaseBusy) as raised:
            with clinic_db.transaction(conn):  # SQLite: BEGIN IMMEDIATE waits; PostgreSQL: the write does
                conn.execute(text("UPDATE requests SET status = status"))
    original = raised.value.orig
    assert raised.value.reason == "locked"
    if clinic_db.is_sqlite(conn):
        assert original.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY
    else:
        assert original.sqlstate == "55P03"  # lock_not_available: lock_timeout ran out
    conn.close()


@pytest.mark.sqlite_only("a full disk is made with PRAGMA max_page_count")
def test_a_full_disk_is_database_busy(app):
    conn = clinic_db.connect(app.config["DATABASE"])
    pages = conn.exec_driver_sql("PRAGMA page_count").scalar()
    conn.exec_driver_sql(f"PRAGMA max_page_count = {pages}")
    with pytest.raises(clinic_db.DatabaseBusy, match="full"):
        with clinic_db.transaction(conn):
            conn.execute(text("INSERT INTO journeys (id, answers, created_at, updated_at) VALUES (:id, :answers, 1, 1)"),
                         [{"id": str(n), "answers": "x" * 4000} for n in range(50)])
    conn.exec_driver_sql("PRAGMA max_page_count = 4294967294")  # this pooled connection may grow the file again
    conn.close()


def test_a_missing_column_or_table_is_not_database_busy(app):
    conn = clinic_db.connect(app.config["DATABASE_URL"])
    for sql in ("SELECT no_such_column FROM requests", "SELECT * FROM no_such_table"):
        with pytest.raises(clinic_db.DatabaseError) as raised:
            conn.execute(text(sql))
        assert not isinstance(raised.value, clinic_db.DatabaseBusy)
    conn.close()


def test_the_busy_page_still_comes_with_retry_after_for_a_locked_database(app):
    client = app.test_client()
    client.post("/journey/start")
    with database_locked(app, exclusive=True):
        response = client.post("/journey/safety", data={"bladder": "no"})
    assert response.status_code == 503 and "The site is busy" in response.get_data(as_text=True)
    assert response.headers["Retry-After"] == "5"
