"""PostgreSQL's two roles (deploy/postgresql-roles.sql) and erasure there: the site's role writes everything the
site writes but cannot change or delete an audit row; erasure VACUUMs what it deleted from. On the session's
throwaway cluster, with the roles made as docs/deploy.md makes them."""
import logging
import shutil
import subprocess
import time

import pytest
from sqlalchemy import text

from clinic import db as clinic_db
from clinic import housekeeping, inbox, migrate, pg_backup
from clinic.db import connect
from tests.conftest import ROOT
from tests.support import staff as staff_support
from tests.support.pg_pages import database_name, row_versions_holding

FIXTURE_CONTENT = ROOT / "tests" / "fixtures" / "content"
ROLES_FILE = ROOT / "deploy" / "postgresql-roles.sql"
OWNER, APP = "fbss", "fbss_app"


def run_roles_file(postgres, name):
    """The file as docs/deploy.md runs it: psql as the superuser in the site's database."""
    return subprocess.run([postgres.psql_binary, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
                           "-p", str(postgres.port), "-U", postgres.user, "-d", name, "-f", str(ROLES_FILE)],
                          capture_output=True, text=True, timeout=60)


@pytest.fixture
def two_roles(postgres):
    """A database owned by `fbss`, upgraded by it, then the roles file run: (owner URL, the site's URL)."""
    postgres.psql(f"""DO $$ BEGIN
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{OWNER}') THEN CREATE ROLE {OWNER} LOGIN; END IF;
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP}') THEN CREATE ROLE {APP} LOGIN; END IF;
        END $$""")
    name = database_name(postgres.new_database())
    postgres.psql(f'ALTER DATABASE "{name}" OWNER TO {OWNER}')
    owner_url, app_url = postgres.url(name, user=OWNER), postgres.url(name, user=APP)
    refused = run_roles_file(postgres, name)
    assert refused.returncode != 0 and "db upgrade" in refused.stderr  # no schema yet: it says what to run first
    migrate.upgrade(owner_url)
    clinic_db.dispose(owner_url)
    applied = run_roles_file(postgres, name)
    assert applied.returncode == 0, applied.stderr
    assert run_roles_file(postgres, name).returncode == 0  # again: harmless
    yield owner_url, app_url
    clinic_db.dispose(app_url)
    postgres.drop_database(owner_url)


def refused(url, sql):
    conn = connect(url)
    try:
        with pytest.raises(clinic_db.DatabaseError) as error:
            conn.execute(text(sql))
        return str(error.value.orig)
    finally:
        conn.close()


def test_the_sites_role_writes_what_the_site_writes_but_cannot_rewrite_the_audit_trail(two_roles, make_app, caplog,
                                                                                        tmp_path):
    owner_url, app_url = two_roles
    app = make_app(DATABASE_URL=app_url, CONTENT_DIR=str(FIXTURE_CONTENT), WTF_CSRF_ENABLED=False,
                   OUTBOX_AUTOSEND=False)
    client = app.test_client()
    health = client.get("/healthz")  # the gate's catalog reads, the version, the heartbeat's upsert
    assert health.status_code == 200 and health.json["schema_version"] == migrate.head()
    staff_support.create_staff(app)  # identity ids through RETURNING, recovery codes
    reference = staff_support.add_request(app)  # the request store: requests, outbox, consent text
    assert staff_support.sign_in(client).status_code == 303  # attempts, session, known address, audit row
    assert client.get(f"/staff/requests/{reference}").status_code == 200  # a 'viewed' audit row
    conn = connect(app_url)
    try:
        caplog.set_level(logging.WARNING, logger="clinic.inbox")
        assert inbox.erase(conn, None, reference, time.time())  # deletes in four tables and appends to the trail
    finally:
        conn.close()
    outcomes = housekeeping.run(app_url, app.config)
    assert outcomes is not None and [o for o in outcomes if o.error] == []
    actions = [row["action"] for row in staff_support.audit_rows(app)]
    assert {"signed_in", "viewed", "erased"} <= set(actions)

    for statement in ("UPDATE audit_log SET detail = 'rewritten'", "DELETE FROM audit_log", "TRUNCATE audit_log",
                      "UPDATE schema_version SET version = 1", "ALTER TABLE requests ADD COLUMN extra text",
                      "DROP TRIGGER audit_log_no_update ON audit_log"):
        message = refused(app_url, statement)
        assert "permission denied" in message or "must be owner" in message, (statement, message)
    # the owner may, but the append-only triggers stop it too
    assert "cannot be changed" in refused(owner_url, "UPDATE audit_log SET detail = 'rewritten'")
    assert "cannot be deleted" in refused(owner_url, "DELETE FROM audit_log")
    assert len(staff_support.audit_rows(app)) == len(actions)

    # `db backup` (pg_dump) works as either role (the nightly one runs as the site's); a migration needs the owner's
    assert pg_backup.backup(app_url, tmp_path).tables["audit_log"] == len(actions)
    (tmp_path / "as-owner").mkdir()
    assert pg_backup.backup(owner_url, tmp_path / "as-owner").tables["audit_log"] == len(actions)
    folder = tmp_path / "migrations"
    shutil.copytree(migrate.MIGRATIONS_DIR, folder, ignore=shutil.ignore_patterns("__pycache__"))
    nxt = migrate.head() + 1
    (folder / f"{nxt:04d}_note_kind.sql").write_text("ALTER TABLE request_notes ADD COLUMN kind TEXT;")
    (folder / "postgresql" / f"{nxt:04d}_note_kind.sql").write_text("ALTER TABLE request_notes ADD COLUMN kind text;")
    with pytest.raises(migrate.MigrationError, match="must be owner"):
        migrate.upgrade(app_url, directory=folder)
    assert migrate.upgrade(owner_url, directory=folder) == [nxt]

    conn = connect(app_url)
    try:
        may_vacuum = inbox.vacuumable(conn)
        before_17 = conn.exec_driver_sql("SELECT current_setting('server_version_num')::int < 170000").scalar()
    finally:
        conn.close()
    warned = "may not VACUUM" in caplog.text
    if before_17:  # only the owner may VACUUM, and the erasure says so instead of pretending
        assert may_vacuum == [] and warned
    else:  # the roles file granted MAINTAIN on the erased tables
        assert may_vacuum == list(inbox.ERASED_TABLES) and not warned


def test_erasure_vacuums_so_the_erased_rows_old_versions_leave_the_table_pages(postgres, migrated_pg, make_app):
    postgres.psql("CREATE EXTENSION pageinspect", database=database_name(migrated_pg))
    app = make_app(DATABASE_URL=migrated_pg, CONTENT_DIR=str(FIXTURE_CONTENT), OUTBOX_AUTOSEND=False)
    deleted = staff_support.add_request(app, description="Deleted without vacuum CANARY-DELETED-4417")
    conn = connect(migrated_pg)
    try:
        # What PostgreSQL does by itself: a DELETE leaves the row's old version in the page, for anyone reading
        # the files (or a page inspector) to find, until VACUUM.
        conn.execute(text("DELETE FROM outbox WHERE request_id = (SELECT id FROM requests WHERE reference = :r)"),
                     {"r": deleted})
        conn.execute(text("DELETE FROM requests WHERE reference = :r"), {"r": deleted})
        assert row_versions_holding(postgres, migrated_pg, "CANARY-DELETED-4417") >= 1  # (an UPDATE made one more)
        erased = staff_support.add_request(app, description="Erased by staff CANARY-ERASED-9903")
        assert row_versions_holding(postgres, migrated_pg, "CANARY-ERASED-9903") >= 1
        assert inbox.erase(conn, None, erased, time.time())
    finally:
        conn.close()
    assert row_versions_holding(postgres, migrated_pg, "CANARY-ERASED-9903") == 0
    assert row_versions_holding(postgres, migrated_pg, "CANARY-DELETED-4417") == 0  # the same VACUUM took it too


def test_a_purge_vacuums_too_and_vacuum_never_runs_inside_a_transaction(postgres, migrated_pg, make_app):
    postgres.psql("CREATE EXTENSION pageinspect", database=database_name(migrated_pg))
    app = make_app(DATABASE_URL=migrated_pg, CONTENT_DIR=str(FIXTURE_CONTENT), OUTBOX_AUTOSEND=False)
    staff_support.add_request(app, created_at=time.time() - 400 * 86400, description="Old CANARY-PURGED-5521")
    conn = connect(migrated_pg)
    try:
        assert inbox.purge(conn, "automatic retention", 365, time.time()) == 1
        with pytest.raises(RuntimeError, match="never inside"):
            with clinic_db.transaction(conn):
                inbox._vacuum(conn)
    finally:
        conn.close()
    assert row_versions_holding(postgres, migrated_pg, "CANARY-PURGED-5521") == 0


def test_the_sites_role_ends_an_idle_transaction_within_a_minute_but_the_csv_export_is_not_cut(two_roles, make_app):
    """A host that loses power leaves its transaction open: the roles file gives fbss_app the same
    idle_in_transaction_session_timeout docs/deploy.md gives the owner; the export's read-only snapshot, idle between
    chunks for as long as the download takes, turns it off for its own transaction only."""
    from zoneinfo import ZoneInfo
    owner_url, app_url = two_roles
    app = make_app(DATABASE_URL=app_url, CONTENT_DIR=str(FIXTURE_CONTENT), OUTBOX_AUTOSEND=False)
    staff_support.add_request(app)
    conn = connect(app_url)
    try:
        assert conn.exec_driver_sql(f"SELECT rolconfig FROM pg_roles WHERE rolname = '{APP}'").scalar() == [
            "idle_in_transaction_session_timeout=60s"]
        assert conn.exec_driver_sql("SHOW idle_in_transaction_session_timeout").scalar() == "1min"
    finally:
        conn.close()
    reader, writer = connect(app_url), connect(app_url)
    try:
        count, chunks = inbox.export_csv(reader, writer, None, time.time(), zone=ZoneInfo("America/New_York"))
        assert count == 1
        assert reader.exec_driver_sql("SHOW idle_in_transaction_session_timeout").scalar() == "0"
        assert "reference" in "".join(chunks)
    finally:
        writer.close()
    conn = connect(app_url)
    try:  # SET LOCAL: the pooled connection is back to the role's value
        assert conn.exec_driver_sql("SHOW idle_in_transaction_session_timeout").scalar() == "1min"
    finally:
        conn.close()
