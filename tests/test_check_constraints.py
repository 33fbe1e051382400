"""Every CHECK constraint of the head schema holds on both databases: the schema comparison in clinic/migrate.py
leaves CHECKs out (their SQL differs: GLOB against ~), so this is where they are compared, by what they refuse.

The CHECKed columns are read from SQLite's own table definitions, so a new CHECK fails here until it has a row in
BAD_AND_GOOD; in the [postgresql] run PostgreSQL's CHECKed columns must be the same set."""
import re
import sqlite3
from itertools import count

import pytest
from sqlalchemy import text

from clinic import db as clinic_db
from clinic.db import connect
from tests.conftest import migrated_database

pytestmark = pytest.mark.both_databases

# (table, column) -> (values the CHECK must refuse, a value it must accept)
BAD_AND_GOOD = {
    ("requests", "status"): (["bogus", "NEW"], "contacted"),
    ("requests", "contact_by"): (["fax"], "phone"),
    ("requests", "flagged"): ([2, -1], 1),
    ("requests", "voicemail"): (["maybe"], "no"),
    ("requests", "language"): (["fr"], "es"),
    ("requests", "interpreter"): ([2], 1),
    ("requests", "past_ceiling"): ([2], 1),
    ("outbox", "status"): (["lost"], "sent"),
    ("staff", "active"): ([2], 0),
    ("staff", "role"): (["owner"], "admin"),
    ("ops_heartbeat", "id"): ([2], 1),
    ("insight_steps", "week"): (["2026-01", "2026-W1", "x2026-W01", "2026-W01x", "2026-W61"], "2026-W53"),
    ("insight_steps", "reached"): ([-1], 0),
    ("insight_steps", "moved_on"): ([-1], 0),
    ("insight_events", "week"): (["2026-01", "x2026-W01", "2026-W01x"], "2026-W01"),
    ("insight_events", "count"): ([-1], 0),
    ("insight_answers", "week"): (["2026-01", "x2026-W01", "2026-W01x"], "2026-W01"),
    ("insight_answers", "count"): ([-1], 0),
    ("sign_in_attempts", "outcome"): (["ok"], "failed"),
    ("request_files", "position"): ([0, 4], 3),
    ("request_files", "kind"): (["gif"], "png"),
    ("audit_log", "action"): (["not_an_action"], "exported"),
}

_unique = count(1)


def base_row(conn, table):
    """Every NOT NULL column without a default, valid and unique, for one row of `table`."""
    n = next(_unique)
    if table == "requests":
        return {"reference": f"FBS-C{n:03d}", "submission_id": f"check-{n}", "created_at": 1, "name": "Check",
                "email": "check@example.org", "contact_by": "email", "description": "check"}
    if table == "outbox":
        return {"kind": "staff_notification", "next_attempt_at": 1, "created_at": 1}
    if table == "staff":
        return {"email": f"check{n}@clinic.example", "password_hash": "x", "created_at": 1}
    if table == "ops_heartbeat":
        conn.execute(text("DELETE FROM ops_heartbeat"))
        return {"id": 1, "checked_at": 1}
    if table == "insight_steps":
        return {"week": "2026-W01", "step": f"step{n}"}
    if table == "insight_events":
        return {"week": "2026-W01", "event": f"event{n}"}
    if table == "insight_answers":
        return {"week": "2026-W01", "question": f"q{n}", "answer": "a"}
    if table == "sign_in_attempts":
        return {"account": "a", "address": "127.0.0.1", "at": 1}
    if table == "request_files":
        request_id = insert(conn, "requests", base_row(conn, "requests"), returning="id")
        return {"request_id": request_id, "position": 1, "stored_name": f"file{n}", "kind": "pdf", "size": 1,
                "created_at": 1}
    if table == "audit_log":
        return {"at": 1, "staff_email": "check", "action": "viewed"}
    pytest.fail(f"no valid row for {table}: add one to base_row")


def insert(conn, table, row, returning=None):
    columns = ", ".join(row)
    values = ", ".join(f":{name}" for name in row)
    sql = f"INSERT INTO {table} ({columns}) VALUES ({values})"  # noqa: S608 - names from this module
    if returning:
        return conn.execute(text(f"{sql} RETURNING {returning}"), row).scalar()
    conn.execute(text(sql), row)
    return None


def sqlite_checked_columns(path):
    """(table, column) for each CHECK in SQLite's table definitions: the column a CHECK ( ... ) opens with."""
    conn = sqlite3.connect(path)
    try:
        tables = conn.execute("SELECT name, sql FROM sqlite_schema WHERE type = 'table' AND sql IS NOT NULL").fetchall()
    finally:
        conn.close()
    return {(name, column) for name, sql in tables
            for column in re.findall(r"\bCHECK\s*\(\s*\"?(\w+)", sql, flags=re.IGNORECASE)}


def postgresql_checked_columns(conn):
    rows = conn.execute(text(
        "SELECT c.conrelid::regclass::text, a.attname FROM pg_constraint c"
        " JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)"
        " WHERE c.contype = 'c' AND c.connamespace = current_schema()::regnamespace"))
    # schema_version is PostgreSQL's only (SQLite keeps the version in PRAGMA user_version): the migrator's own row.
    return {(table.strip('"'), column) for table, column in rows if table != "schema_version"}


def test_every_check_refuses_an_out_of_range_value_and_accepts_a_valid_one(fresh_database, db_engine, tmp_path):
    checked = sqlite_checked_columns(migrated_database(tmp_path / "head.sqlite3"))
    assert ("requests", "status") in checked and ("insight_steps", "week") in checked  # the parsing finds them
    conn = connect(fresh_database)
    try:
        if db_engine == "postgresql":
            assert postgresql_checked_columns(conn) == checked, "the two databases CHECK different columns"
        assert checked == set(BAD_AND_GOOD), (
            f"CHECKed but without bad values here: {sorted(checked - set(BAD_AND_GOOD))}; "
            f"in the table but not CHECKed: {sorted(set(BAD_AND_GOOD) - checked)}")
        for (table, column), (bad_values, good) in sorted(BAD_AND_GOOD.items(), key=lambda item: str(item[0])):
            insert(conn, table, {**base_row(conn, table), column: good})
            for bad in bad_values:
                with pytest.raises(clinic_db.IntegrityError):
                    insert(conn, table, {**base_row(conn, table), column: bad})
                    pytest.fail(f"{db_engine} took {table}.{column} = {bad!r}")
    finally:
        conn.close()
