"""The PostgreSQL schema: `db upgrade` on an empty database makes the head version from the baseline, once even
with two hosts at once, the same shape as SQLite's head, and the serving gate and /healthz read its version.
Real PostgreSQL: the session's throwaway cluster (tests/support/postgres.py)."""
import os
import shutil
import subprocess
import threading
import time

import pytest
from sqlalchemy import text

from clinic import db as clinic_db
from clinic import migrate, staff
from clinic.db import connect, transaction
from tests.conftest import EVENT_TIMEOUT_SECONDS, ROOT, TEST_SECRET, migrated_database

FIXTURE_CONTENT = ROOT / "tests" / "fixtures" / "content"
FLASK = str(ROOT / ".venv" / "bin" / "flask") if (ROOT / ".venv" / "bin" / "flask").exists() else shutil.which("flask")


def run_flask(*args, url, instance):
    env = dict(os.environ, FLASK_DATABASE_URL=url, FLASK_DATABASE=str(instance / "clinic.sqlite3"),
               FLASK_SECRET_KEY=TEST_SECRET, FLASK_CONTENT_DIR=str(FIXTURE_CONTENT), FLASK_OUTBOX_AUTOSEND="false")
    return subprocess.run([FLASK, "--app", "app", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def scalar(url, sql, **params):
    conn = connect(url)
    try:
        return conn.execute(text(sql), params).scalar()
    finally:
        conn.close()


def pg_version(url):
    conn = connect(url)
    try:
        return migrate.user_version(conn)
    finally:
        conn.close()


# --- db upgrade ------------------------------------------------------------------------------------------------

def test_db_upgrade_on_an_empty_postgresql_database_makes_the_head_version_and_twice_applies_nothing(postgres_url,
                                                                                                     tmp_path):
    first = run_flask("db", "upgrade", url=postgres_url, instance=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "Applied postgresql/0010_baseline.sql" in first.stdout
    assert f"Database at schema version {migrate.head()}" in first.stdout
    assert pg_version(postgres_url) == migrate.head()
    assert not (tmp_path / "backups").exists()  # a new database: nothing to back up
    again = run_flask("db", "upgrade", url=postgres_url, instance=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "already; nothing to do" in again.stdout and "Applied" not in again.stdout
    status = run_flask("db", "status", url=postgres_url, instance=tmp_path)
    assert status.returncode == 0 and f"schema version {migrate.head()}" in status.stdout
    assert "@127.0.0.1" in status.stdout and "://postgres:" not in status.stdout  # the URL, never a password
    migrate.check(postgres_url)  # the serving gate's check holds


def test_two_upgrades_at_once_apply_the_baseline_once_the_second_waits_for_the_first(postgres_url):
    holder = connect(postgres_url)
    results, errors = [], []

    def upgrade():
        try:
            results.append(migrate.upgrade(postgres_url))
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)

    with transaction(holder):
        clinic_db.advisory_lock(holder, migrate.UPGRADE_LOCK)  # a third host mid-migration
        threads = [threading.Thread(target=upgrade) for _ in range(2)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + EVENT_TIMEOUT_SECONDS
        while scalar(postgres_url, "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted") < 2:
            assert time.monotonic() < deadline, "the two upgrades never waited for the lock"
            time.sleep(0.02)
        assert pg_version(postgres_url) == 0  # both wait: neither made a table past the lock
    holder.close()
    for thread in threads:
        thread.join(EVENT_TIMEOUT_SECONDS)
    assert errors == []
    assert sorted(results) == [[], [migrate.head()]]
    assert pg_version(postgres_url) == migrate.head()
    assert scalar(postgres_url, "SELECT COUNT(*) FROM schema_version") == 1


def test_a_postgresql_database_with_tables_but_no_version_is_refused_untouched(postgres, postgres_url):
    postgres.psql("CREATE TABLE journeys (id text PRIMARY KEY)", database=postgres_url.rsplit("/", 1)[1])
    with pytest.raises(migrate.MigrationError, match="no schema version"):
        migrate.upgrade(postgres_url)
    with pytest.raises(migrate.MigrationError, match="no schema version"):
        migrate.check(postgres_url)
    assert scalar(postgres_url, "SELECT to_regclass('schema_version')") is None


def test_a_failing_postgresql_migration_changes_nothing_and_the_version_stays(migrated_pg, tmp_path):
    folder = tmp_path / "migrations"
    shutil.copytree(migrate.MIGRATIONS_DIR, folder, ignore=shutil.ignore_patterns("__pycache__"))
    nxt = migrate.head() + 1
    (folder / f"{nxt:04d}_broken.sql").write_text("ALTER TABLE requests ADD COLUMN extra TEXT;")
    (folder / "postgresql" / f"{nxt:04d}_broken.sql").write_text(
        "ALTER TABLE requests ADD COLUMN extra text;\nALTER TABLE no_such_table ADD COLUMN x text;")
    with pytest.raises(migrate.MigrationError, match="no_such_table"):
        migrate.upgrade(migrated_pg, directory=folder)
    assert pg_version(migrated_pg) == migrate.head()
    assert scalar(migrated_pg, "SELECT COUNT(*) FROM information_schema.columns WHERE column_name = 'extra'") == 0


def test_a_later_migration_on_postgresql_runs_after_the_baseline_and_a_backup_is_taken_first(migrated_pg, tmp_path):
    folder = tmp_path / "migrations"
    shutil.copytree(migrate.MIGRATIONS_DIR, folder, ignore=shutil.ignore_patterns("__pycache__"))
    nxt = migrate.head() + 1
    (folder / f"{nxt:04d}_note_kind.sql").write_text("ALTER TABLE request_notes ADD COLUMN kind TEXT;")
    (folder / "postgresql" / f"{nxt:04d}_note_kind.sql").write_text("ALTER TABLE request_notes ADD COLUMN kind text;")
    lines = []
    assert migrate.upgrade(migrated_pg, directory=folder, backup_dir=tmp_path / "backups", report=lines.append) == [nxt]
    assert lines[0].startswith("Backup written to ") and list((tmp_path / "backups").glob("*.pgdump"))
    assert pg_version(migrated_pg) == nxt
    migrate.check(migrated_pg, directory=folder)
    with pytest.raises(migrate.SchemaMismatch, match="newer than this code"):
        migrate.check(migrated_pg)  # this code (head) meets a database one version ahead


# --- one migration per number on each database ---------------------------------------------------------------

def test_the_postgresql_migrations_start_with_the_baseline_at_the_head_of_that_day():
    found = migrate.migrations(dialect="postgresql")
    assert found[0].name == "0010_baseline.sql" and found[-1].version == migrate.head()


def test_a_migration_without_its_postgresql_twin_or_one_without_a_sqlite_twin_is_refused(tmp_path):
    folder = tmp_path / "migrations"
    shutil.copytree(migrate.MIGRATIONS_DIR, folder, ignore=shutil.ignore_patterns("__pycache__"))
    nxt = migrate.head() + 1
    (folder / f"{nxt:04d}_sqlite_only.sql").write_text("SELECT 1;")
    with pytest.raises(migrate.MigrationError, match=f"{nxt:04d}_sqlite_only.sql has no PostgreSQL twin"):
        migrate.migrations(folder, dialect="postgresql")
    (folder / f"{nxt:04d}_sqlite_only.sql").unlink()
    (folder / "postgresql" / f"{nxt:04d}_pg_only.sql").write_text("SELECT 1;")
    with pytest.raises(migrate.MigrationError, match="there is no SQLite migration"):
        migrate.migrations(folder, dialect="postgresql")


# --- the same schema on both -----------------------------------------------------------------------------------

def test_the_postgresql_head_schema_has_the_sqlite_head_schemas_tables_columns_keys_indexes_and_triggers(migrated_pg,
                                                                                                         tmp_path):
    conn = connect(migrated_database(tmp_path / "head.sqlite3"))
    try:
        sqlite_shape = migrate.neutral_shape(conn)
    finally:
        conn.close()
    conn = connect(migrated_pg)
    try:
        pg_shape = migrate.neutral_shape(conn)
    finally:
        conn.close()
    assert migrate.differences(pg_shape, sqlite_shape) == []
    assert pg_shape == sqlite_shape
    # the comparison sees what it must: column kinds, not-null, keys, uniques, indexes, foreign keys, triggers
    kinds = {key[0] for key in sqlite_shape}
    assert kinds == {"table", "unique", "index", "foreign key", "trigger"}
    assert ("id", "integer", True, 1, None) in sqlite_shape[("table", "requests")]
    assert sqlite_shape[("unique", "staff(lower(email))")] == ("staff", "lower(email)")
    assert sqlite_shape[("unique", "request_files(request_id, position)")] == ("request_files", "request_id", "position")
    assert sqlite_shape[("foreign key", "outbox(request_id)")] == ("outbox", ("request_id",), "requests", ("id",), "CASCADE")
    assert sqlite_shape[("index", "requests_status_flagged")] == ("requests", "status", "flagged", "created_at")
    assert {name for kind, name in sqlite_shape if kind == "trigger"} == {"audit_log_no_update", "audit_log_no_delete"}


def test_check_names_what_differs_on_postgresql(migrated_pg, postgres):
    postgres.psql("DROP INDEX requests_created_at; ALTER TABLE requests DROP COLUMN spam_reason",
                  database=migrated_pg.rsplit("/", 1)[1])
    with pytest.raises(migrate.MigrationError) as refused:
        migrate.check(migrated_pg)
    assert "requests has no column spam_reason" in str(refused.value)
    assert "index requests_created_at is missing" in str(refused.value)


# --- what the app relies on -----------------------------------------------------------------------------------

def test_unique_constraints_have_the_names_unique_violation_expects_and_staff_email_ignores_case(migrated_pg):
    conn = connect(migrated_pg)
    try:
        insert = text("INSERT INTO requests (reference, submission_id, created_at, name, email, contact_by, description)"
                      " VALUES (:reference, :submission, 1, 'n', 'e', 'email', 'd') RETURNING id")
        first = conn.execute(insert, {"reference": "FBS-AAAA", "submission": "s1"}).scalar_one()
        assert conn.execute(insert, {"reference": "FBS-BBBB", "submission": "s2"}).scalar_one() == first + 1
        with pytest.raises(clinic_db.IntegrityError) as duplicate:
            conn.execute(insert, {"reference": "FBS-AAAA", "submission": "s3"})
        assert clinic_db.unique_violation(duplicate.value, "requests.reference")
        assert not clinic_db.unique_violation(duplicate.value, "requests.submission_id")

        hasher = staff.make_hasher({"time_cost": 1, "memory_cost": 1024, "parallelism": 1})
        member = staff.create_staff(conn, "Ana.Lopez@Clinic.Example", "a long enough password", hasher, 1)
        assert member.email == "ana.lopez@clinic.example"
        assert staff.find_staff(conn, "ANA.LOPEZ@clinic.example").id == member.id
        with pytest.raises(ValueError, match="already has an account"):
            staff.create_staff(conn, "ana.lopez@CLINIC.example", "a long enough password", hasher, 1)
        with pytest.raises(clinic_db.IntegrityError) as same_but_case:
            conn.execute(text("INSERT INTO staff (email, password_hash, created_at) VALUES (:email, 'x', 1)"),
                         {"email": "ANA.LOPEZ@clinic.example"})
        assert clinic_db.unique_violation(same_but_case.value, "staff.email")
    finally:
        conn.close()


def test_the_audit_trail_is_append_only_on_postgresql(migrated_pg):
    conn = connect(migrated_pg)
    try:
        conn.execute(text("INSERT INTO audit_log (at, staff_email, action) VALUES (1, 'check', 'viewed')"))
        with pytest.raises(clinic_db.IntegrityError, match="cannot be changed"):
            conn.execute(text("UPDATE audit_log SET detail = 'rewritten'"))
        with pytest.raises(clinic_db.IntegrityError, match="cannot be deleted"):
            conn.execute(text("DELETE FROM audit_log"))
        with pytest.raises(clinic_db.IntegrityError, match="check constraint"):
            conn.execute(text("INSERT INTO audit_log (at, staff_email, action) VALUES (1, 'x', 'not_an_action')"))
        assert conn.execute(text("SELECT COUNT(*) FROM audit_log")).scalar() == 1
    finally:
        conn.close()


def test_the_app_serves_on_a_migrated_postgresql_database(migrated_pg, make_app):
    app = make_app(DATABASE_URL=migrated_pg, CONTENT_DIR=str(FIXTURE_CONTENT), OUTBOX_AUTOSEND=False)
    client = app.test_client()
    assert client.get("/request").status_code == 200
    health = client.get("/healthz")
    assert health.status_code == 200 and health.json["schema_version"] == migrate.head()
