"""Versioned migrations: new databases, the released database upgraded intact, refusals, table rebuilds done right."""
import logging
import os
import shutil
import sqlite3
import subprocess
import sys

import pytest
from sqlalchemy import text

from clinic import migrate
from clinic.db import connect
from tests.conftest import ROOT, TEST_SECRET, migrated_database
from tests.support import factors as factor_support
from tests.support.servers import gunicorn_env

RELEASED = ROOT / "tests" / "fixtures" / "databases" / "released-v1.sqlite3"
FIXTURE_CONTENT = ROOT / "tests" / "fixtures" / "content"
FLASK = str(ROOT / ".venv" / "bin" / "flask") if (ROOT / ".venv" / "bin" / "flask").exists() else shutil.which("flask")


def rows(path, table):
    conn = sqlite3.connect(path)
    try:
        return conn.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()  # noqa: S608  # nosec B608 - test tables
    finally:
        conn.close()


def everything(path):
    conn = sqlite3.connect(path)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
    finally:
        conn.close()
    return {table: rows(path, table) for table in tables}


def version(path):
    conn = sqlite3.connect(path)
    try:
        return conn.execute("PRAGMA user_version").fetchone()[0]
    finally:
        conn.close()


def assert_audit_append_only(path):
    conn = sqlite3.connect(path)
    try:
        conn.execute("INSERT INTO audit_log (at, staff_email, action) VALUES (1, 'check', 'viewed')")
        conn.execute("INSERT INTO requests (reference, submission_id, created_at, name, email, contact_by, description)"
                     " VALUES ('FBS-CHCK', 'check-submission', 1, 'n', 'e', 'email', 'd')")
        conn.commit()
        with pytest.raises(sqlite3.IntegrityError, match="cannot be changed"):
            conn.execute("UPDATE audit_log SET detail = 'rewritten'")
        with pytest.raises(sqlite3.IntegrityError, match="cannot be deleted"):
            conn.execute("DELETE FROM audit_log")
        with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
            conn.execute("INSERT INTO audit_log (at, staff_email, action) VALUES (1, 'x', 'not_an_action')")
        with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
            conn.execute("UPDATE requests SET status = 'lost'")
    finally:
        conn.close()


# Tables a later migration drops on purpose, with why: their rows are not kept.
RETIRED_TABLES = {
    "sign_in_failures": "0003: minutes-old failed sign-ins, replaced by sign_in_attempts",
    "sign_in_lockouts": "0003: the account-wide lock-out anyone could trigger (issue 11 L1)",
}
# Tables a later migration empties on purpose, with why.
EMPTIED_TABLES = {
    "staff_sessions": "0010: sessions opened with a password alone end; everyone signs in again with a second factor",
}


@pytest.fixture
def released(tmp_path):
    """A copy of the database the released code made (user_version 0, tables and rows in it)."""
    path = tmp_path / "clinic.sqlite3"
    shutil.copyfile(RELEASED, path)
    return path


def run_flask(*args, database, extra_env=None):
    env = dict(os.environ, FLASK_DATABASE=str(database), FLASK_SECRET_KEY=TEST_SECRET,
               FLASK_CONTENT_DIR=str(FIXTURE_CONTENT), FLASK_OUTBOX_AUTOSEND="false", **(extra_env or {}))
    return subprocess.run([FLASK, "--app", "app", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


# --- the files -------------------------------------------------------------------------------------------------

def test_migrations_are_numbered_from_one_without_gaps_and_the_first_is_the_released_schema():
    found = migrate.migrations()
    assert [m.version for m in found] == list(range(1, len(found) + 1))
    assert found[0].name == "0001_released.sql"


def test_a_gap_or_a_twin_in_the_numbering_is_refused(tmp_path):
    shutil.copy(migrate.MIGRATIONS_DIR / "0001_released.sql", tmp_path)
    (tmp_path / "0003_skipped_two.sql").write_text("SELECT 1;")
    with pytest.raises(migrate.MigrationError, match="expected number 0002"):
        migrate.migrations(tmp_path)
    (tmp_path / "0003_skipped_two.sql").rename(tmp_path / "0001_twin.sql")
    with pytest.raises(migrate.MigrationError, match="expected number 0002"):
        migrate.migrations(tmp_path)


def test_statements_keep_a_trigger_body_whole_and_drop_comments_only_text():
    sql = ("-- heading\nCREATE TABLE t (a);\nCREATE TRIGGER t_no BEFORE DELETE ON t BEGIN SELECT RAISE(ABORT, 'no; never'); END;"
           "\n-- trailing comment\n")
    parts = migrate.statements(sql)
    assert len(parts) == 2 and parts[1].startswith("CREATE TRIGGER") and parts[1].endswith("END;")


# --- new databases ---------------------------------------------------------------------------------------------

def test_a_new_database_is_created_at_the_head_version_with_the_audit_trail_append_only(tmp_path):
    path = tmp_path / "new.sqlite3"
    assert migrate.upgrade(path) == list(range(1, migrate.head() + 1))
    assert version(path) == migrate.head()
    conn = connect(path)
    assert migrate.shape_problems(conn, migrate.head()) == []
    conn.close()
    assert_audit_append_only(path)
    assert migrate.upgrade(path) == []  # twice is harmless


def app_schema_version(app):
    """The schema version of the app's database, SQLite's or PostgreSQL's, as the migrator reads it."""
    conn = connect(app.config["DATABASE_URL"])
    try:
        return migrate.user_version(conn)
    finally:
        conn.close()


@pytest.mark.both_databases
def test_make_run_needs_no_step_the_app_creates_its_database_at_the_head_version(make_app, tmp_path):
    app = make_app(CONTENT_DIR=str(FIXTURE_CONTENT))
    assert app_schema_version(app) == migrate.head()
    assert app.test_client().get("/healthz").json["schema_version"] == migrate.head()


@pytest.mark.both_databases
def test_a_new_database_is_created_in_production_too_since_there_is_nothing_to_lose(make_app):
    app = make_app(CONTENT_DIR=str(FIXTURE_CONTENT), PRODUCTION=True)
    assert app_schema_version(app) == migrate.head()
    assert app.test_client().get("/healthz").json["schema_version"] == migrate.head()


# --- the released database -----------------------------------------------------------------------------------

def test_the_released_database_is_recognised_stamped_and_upgraded_with_every_row_intact(released, tmp_path):
    before = everything(released)
    assert version(released) == 0 and before["requests"] and before["outbox"] and before["audit_log"]
    applied = migrate.upgrade(released, backup_dir=tmp_path / "backups")
    assert applied[0] == migrate.RELEASED_VERSION and version(released) == migrate.head()
    after = everything(released)
    for table, old_rows in before.items():
        if table in RETIRED_TABLES:  # a later migration dropped it on purpose
            assert table not in after, table
            continue
        if table in EMPTIED_TABLES:  # a later migration emptied it on purpose
            assert after[table] == [], table
            continue
        # Columns added by later migrations come after the old ones; the old values are all still there.
        assert [row[:len(old_rows[0])] for row in after[table]] == old_rows if old_rows else after[table] == [], table
    assert_audit_append_only(released)
    backups = list((tmp_path / "backups").glob("clinic-*.sqlite3"))
    assert len(backups) == 1 and everything(backups[0]) == before and version(backups[0]) == 0


def test_db_upgrade_command_backs_up_then_upgrades_and_the_app_then_serves_in_production(released, tmp_path, make_app):
    before = everything(released)
    refused = run_flask("db", "status", database=released)
    assert refused.returncode == 1 and "db upgrade" in refused.stderr
    result = run_flask("db", "upgrade", "--backup-to", str(tmp_path / "backups"), database=released)
    assert result.returncode == 0, result.stderr
    assert "Backup written to" in result.stdout and f"schema version {migrate.head()}" in result.stdout
    assert version(released) == migrate.head()
    assert len(list((tmp_path / "backups").glob("clinic-*.sqlite3"))) == 1
    again = run_flask("db", "upgrade", database=released)
    assert again.returncode == 0 and "nothing to do" in again.stdout
    assert run_flask("db", "status", database=released).returncode == 0

    app = make_app(DATABASE=str(released), CONTENT_DIR=str(FIXTURE_CONTENT), PRODUCTION=True, OUTBOX_AUTOSEND=False)
    client = app.test_client()
    health = client.get("/healthz")
    assert health.status_code == 200 and health.json["schema_version"] == migrate.head()
    assert health.json["outbox_pending"] == sum(1 for row in before["outbox"] if row[3] == "pending")
    assert client.get("/").status_code in (200, 302)
    assert client.get("/request").status_code == 200

    # Staff made by the released code still sign in (their password, then they set up a second factor, 0010) and,
    # as admins (0010 makes every account made before roles an admin), find every request, its notes and the audit trail.
    staff_app = make_app(DATABASE=str(released), CONTENT_DIR=str(FIXTURE_CONTENT), OUTBOX_AUTOSEND=False,
                         WTF_CSRF_ENABLED=False)
    staff = staff_app.test_client()
    password = staff.post("/staff/sign-in", data={"email": "alice.staff@clinic.example",
                                                  "password": "correct horse battery staple"})
    assert password.status_code == 303 and password.headers["Location"] == "/staff/sign-in/enrol"
    signed_in, recovery_codes = factor_support.enrol_through_page(staff, password)
    assert signed_in.status_code == 200 and len(recovery_codes) == 10
    listing = "".join(staff.get(f"/staff?status={status}").get_data(as_text=True)
                      for status in ("new", "contacted", "closed", "spam"))
    for (reference,) in sqlite3.connect(RELEASED).execute("SELECT reference FROM requests"):
        assert reference in listing
    first = before["requests"][0][1]
    assert "Called back, sending forms." in staff.get(f"/staff/requests/{first}").get_data(as_text=True)
    assert staff.get("/staff/audit").status_code == 200
    assert_audit_append_only(released)


def test_in_production_other_commands_refuse_an_older_database_but_python_m_flask_db_upgrade_mends_it(released, tmp_path):
    env = dict(os.environ, FLASK_DATABASE=str(released), FLASK_SECRET_KEY=TEST_SECRET, FLASK_PRODUCTION="1",
               FLASK_CONTENT_DIR=str(FIXTURE_CONTENT))

    def flask(*args):
        return subprocess.run([sys.executable, "-m", "flask", "--app", "app", *args], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=120)

    refused = flask("housekeeping")
    assert refused.returncode != 0 and "flask --app app db upgrade" in refused.stderr
    assert version(released) == 0
    result = flask("db", "upgrade", "--backup-to", str(tmp_path / "backups"))
    assert result.returncode == 0, result.stderr
    assert version(released) == migrate.head()
    assert flask("housekeeping").returncode == 0


def refused_pages(app, caplog):
    """What a serving process answers on a database at another version: every page a 503, /healthz too, and the
    log line that says why (what to run)."""
    caplog.clear()
    client = app.test_client()
    pages = [client.get(url) for url in ("/", "/request", "/staff/sign-in")]
    assert [page.status_code for page in pages] == [503, 503, 503]
    assert "The site is being updated" in pages[1].get_data(as_text=True)
    health = client.get("/healthz")
    assert health.status_code == 503 and health.json["database"] in ("schema_mismatch", "error")
    return " ".join(record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR)


def test_serving_refuses_the_released_database_and_the_log_names_the_command(released, make_app, caplog):
    app = make_app(DATABASE=str(released), CONTENT_DIR=str(FIXTURE_CONTENT), PRODUCTION=True)
    assert "Run `flask --app app db upgrade`" in refused_pages(app, caplog)
    assert version(released) == 0  # untouched


def test_gunicorn_in_production_refuses_the_released_database_and_the_log_names_the_command(released, tmp_path):
    env = gunicorn_env(tmp_path, TEST_SECRET)
    env["FLASK_DATABASE"] = str(released)
    result = subprocess.run([sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "Run `flask --app app db upgrade`" in result.stderr
    assert version(released) == 0


def test_create_app_never_migrates_an_older_or_a_new_database_and_serves_once_db_upgrade_ran(released, tmp_path,
                                                                                             make_app, caplog):
    before = everything(released)
    app = make_app(DATABASE=str(released), CONTENT_DIR=str(FIXTURE_CONTENT), OUTBOX_AUTOSEND=False)
    assert "flask --app app db upgrade" in refused_pages(app, caplog)
    kept = {table: rows for table, rows in everything(released).items() if table != "ops_heartbeat"}  # /healthz's probe
    assert version(released) == 0 and kept == {table: rows for table, rows in before.items() if table != "ops_heartbeat"}
    assert not (released.parent / "backups").exists()
    assert run_flask("db", "upgrade", database=released).returncode == 0
    again = make_app(DATABASE=str(released), CONTENT_DIR=str(FIXTURE_CONTENT), OUTBOX_AUTOSEND=False)
    assert again.test_client().get("/request").status_code == 200

    new = tmp_path / "new" / "clinic.sqlite3"  # a new file: no tables are made by serving either
    new.parent.mkdir()
    new.touch()
    fresh = make_app(DATABASE=str(new), CONTENT_DIR=str(FIXTURE_CONTENT), OUTBOX_AUTOSEND=False)
    assert "a new, empty database" in refused_pages(fresh, caplog)
    assert sqlite3.connect(new).execute("SELECT COUNT(*) FROM sqlite_schema").fetchone()[0] == 0


def database_at_version(kind, version, tmp_path, request):
    """A head-schema database stamped `version`: (make_app settings, run_flask arguments)."""
    if kind == "sqlite":
        path = migrated_database(tmp_path / "stamped.sqlite3")
        conn = sqlite3.connect(path)
        conn.execute(f"PRAGMA user_version = {version}")
        conn.close()
        return {"DATABASE": str(path)}, {"database": path}
    url = request.getfixturevalue("migrated_pg")
    conn = connect(url)
    conn.execute(text("UPDATE schema_version SET version = :version"), {"version": version})
    conn.close()
    return ({"DATABASE_URL": url},
            {"database": tmp_path / "instance" / "clinic.sqlite3", "extra_env": {"FLASK_DATABASE_URL": url}})


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_a_database_newer_than_the_code_is_refused_everywhere(kind, tmp_path, make_app, caplog, request):
    settings, flask_database = database_at_version(kind, migrate.head() + 1, tmp_path, request)
    for production in (False, True):
        app = make_app(**settings, CONTENT_DIR=str(FIXTURE_CONTENT), PRODUCTION=production)
        assert "newer than this code" in refused_pages(app, caplog)
    result = run_flask("db", "upgrade", **flask_database)
    assert result.returncode == 1 and "newer than this code" in result.stderr


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_a_database_older_than_the_code_is_refused_when_serving_and_the_log_names_the_command(kind, tmp_path,
                                                                                            make_app, caplog, request):
    settings, _ = database_at_version(kind, migrate.head() - 1, tmp_path, request)
    app = make_app(**settings, CONTENT_DIR=str(FIXTURE_CONTENT), PRODUCTION=True)
    assert "Run `flask --app app db upgrade`" in refused_pages(app, caplog)


def test_serving_refuses_a_new_empty_postgresql_database_and_serves_once_db_upgrade_ran(postgres_url, tmp_path,
                                                                                       make_app, caplog):
    fresh = make_app(DATABASE_URL=postgres_url, CONTENT_DIR=str(FIXTURE_CONTENT), OUTBOX_AUTOSEND=False)
    assert "a new, empty database" in refused_pages(fresh, caplog)
    result = run_flask("db", "upgrade", database=tmp_path / "instance" / "clinic.sqlite3",
                       extra_env={"FLASK_DATABASE_URL": postgres_url})
    assert result.returncode == 0, result.stderr
    again = make_app(DATABASE_URL=postgres_url, CONTENT_DIR=str(FIXTURE_CONTENT), OUTBOX_AUTOSEND=False)
    assert again.test_client().get("/request").status_code == 200


# --- the finding: an older database failed quietly ------------------------------------------------------------

def released_with_a_column_fewer(tmp_path):
    """What a version with one column fewer would have made: the released schema without requests.spam_reason."""
    path = tmp_path / "older.sqlite3"
    shutil.copyfile(RELEASED, path)
    conn = sqlite3.connect(path)
    conn.execute("ALTER TABLE requests DROP COLUMN spam_reason")
    conn.close()
    return path


def test_finding_a_database_with_a_column_fewer_is_refused_when_serving_naming_the_column(tmp_path, make_app, caplog):
    path = released_with_a_column_fewer(tmp_path)
    for production in (False, True):
        app = make_app(DATABASE=str(path), CONTENT_DIR=str(FIXTURE_CONTENT), PRODUCTION=production)
        assert "requests has no column spam_reason" in refused_pages(app, caplog)
    assert version(path) == 0


# --- table rebuilds -------------------------------------------------------------------------------------------

REBUILD_AUDIT_LOG = '''
from clinic.migrate import rebuild_table


def upgrade(conn):
    # A CHECK constraint can only change by rebuilding: allow a new action.
    rebuild_table(conn, "audit_log", """
        CREATE TABLE audit_log (
            id              INTEGER PRIMARY KEY,
            at              INTEGER NOT NULL,
            staff_id        INTEGER,
            staff_email     TEXT NOT NULL,
            action          TEXT NOT NULL CHECK (action IN ('viewed', 'status_changed', 'note_added', 'exported',
                                                            'erased', 'purged', 'signed_in', 'signed_out', 'flagged')),
            reference       TEXT,
            detail          TEXT
        )""")
    rebuild_table(conn, "requests", """
        CREATE TABLE requests (
            id              INTEGER PRIMARY KEY,
            reference       TEXT NOT NULL UNIQUE,
            submission_id   TEXT NOT NULL UNIQUE,
            created_at      INTEGER NOT NULL,
            status          TEXT NOT NULL DEFAULT 'new'
                            CHECK (status IN ('new', 'contacted', 'closed', 'spam')),
            spam_reason     TEXT,
            name            TEXT NOT NULL,
            email           TEXT NOT NULL,
            phone           TEXT,
            contact_by      TEXT NOT NULL CHECK (contact_by IN ('email', 'phone')),
            description     TEXT NOT NULL,
            journey_answers TEXT,
            flagged         INTEGER NOT NULL DEFAULT 0 CHECK (flagged IN (0, 1))
        )""")
'''


def test_a_table_rebuild_keeps_rows_indexes_append_only_triggers_checks_and_foreign_keys(released, tmp_path):
    directory = tmp_path / "migrations"
    directory.mkdir()
    shutil.copy(migrate.MIGRATIONS_DIR / "0001_released.sql", directory)
    (directory / "0002_rebuild_audit_log_and_requests.py").write_text(REBUILD_AUDIT_LOG)
    before = everything(released)
    assert migrate.upgrade(released, directory=directory) == [1, 2]
    after = everything(released)
    assert after["audit_log"] == before["audit_log"] and after["outbox"] == before["outbox"]
    assert [row[:-1] for row in after["requests"]] == before["requests"]
    conn = sqlite3.connect(released)
    names = {row[0] for row in conn.execute("SELECT name FROM sqlite_schema WHERE type IN ('index', 'trigger')")}
    assert {"audit_log_at", "audit_log_no_update", "audit_log_no_delete", "requests_status_created"} <= names
    conn.execute("INSERT INTO audit_log (at, staff_email, action) VALUES (1, 'x', 'flagged')")
    conn.commit()
    # Foreign keys still point at the rebuilt table: erasing a request takes its outbox rows and notes with it.
    conn.execute("PRAGMA foreign_keys = ON")
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    request_id = conn.execute("SELECT request_id FROM request_notes LIMIT 1").fetchone()[0]
    conn.execute("DELETE FROM requests WHERE id = ?", (request_id,))
    assert conn.execute("SELECT COUNT(*) FROM outbox WHERE request_id = ?", (request_id,)).fetchone()[0] == 0
    assert conn.execute("SELECT COUNT(*) FROM request_notes WHERE request_id = ?", (request_id,)).fetchone()[0] == 0
    conn.rollback()
    conn.close()
    assert_audit_append_only(released)


def test_a_failing_migration_changes_nothing_and_the_version_stays(released, tmp_path):
    directory = tmp_path / "migrations"
    directory.mkdir()
    shutil.copy(migrate.MIGRATIONS_DIR / "0001_released.sql", directory)
    (directory / "0002_half_done.sql").write_text("ALTER TABLE requests ADD COLUMN extra TEXT;\nSELECT * FROM no_such_table;\n")
    with pytest.raises(migrate.MigrationError, match="0002_half_done.sql failed: no such table"):
        migrate.upgrade(released, directory=directory)
    assert version(released) == 1
    assert "extra" not in [row[1] for row in sqlite3.connect(released).execute("PRAGMA table_info(requests)")]


def test_a_migration_that_leaves_dangling_foreign_keys_is_rolled_back(released, tmp_path):
    directory = tmp_path / "migrations"
    directory.mkdir()
    shutil.copy(migrate.MIGRATIONS_DIR / "0001_released.sql", directory)
    (directory / "0002_orphans.sql").write_text("DELETE FROM requests;\n")  # foreign keys are off while it runs
    with pytest.raises(migrate.MigrationError, match="pointing at nothing"):
        migrate.upgrade(released, directory=directory)
    assert version(released) == 1 and len(rows(released, "requests")) == 4


@pytest.mark.parametrize("target", range(1, migrate.head() + 1))
def test_every_migration_keeps_the_audit_trail_append_only_and_the_checks(released, target, tmp_path):
    directory = tmp_path / "migrations"
    directory.mkdir()
    for migration in migrate.migrations()[:target]:
        shutil.copy(migration.path, directory)
    migrate.upgrade(released, directory=directory)
    assert version(released) == target
    assert_audit_append_only(released)


def test_the_runner_is_importable_without_flask():
    code = "import sys, clinic.migrate; assert 'flask' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


# --- answers stored as ids (issue 20 A) ---------------------------------------------------------------------

def test_a_request_made_by_the_released_code_keeps_its_stored_text_and_staff_are_told_it_predates_ids(released, make_app):
    import csv
    import io
    import json

    before = {row[1]: row for row in rows(released, "requests")}
    migrate.upgrade(released)
    conn = sqlite3.connect(released)
    conn.row_factory = sqlite3.Row
    stored = {row["reference"]: dict(row) for row in conn.execute("SELECT * FROM requests")}
    conn.close()
    with_answers = [ref for ref, row in stored.items() if row["journey_answers"]]
    assert len(with_answers) == 1
    reference = with_answers[0]
    pairs = json.loads(stored[reference]["journey_answers"])
    assert pairs == [["How long ago was your surgery?", "More than a year"], ["Where is the pain?", "Leg"]]
    assert stored[reference]["journey_answers"] == before[reference][11]  # the text, byte for byte
    for row in stored.values():  # nothing is guessed for them: no ids, no version, no language
        assert (row["answer_values"], row["warning_sign_ids"], row["free_text"], row["content_version"],
                row["answers_language"]) == (None, None, None, None, None)

    app = make_app(DATABASE=str(released), CONTENT_DIR=str(FIXTURE_CONTENT), OUTBOX_AUTOSEND=False,
                   WTF_CSRF_ENABLED=False)
    staff = app.test_client()
    signed_in = factor_support.sign_in(staff, "alice.staff@clinic.example", "correct horse battery staple")
    assert signed_in.status_code == 200  # the released account sets up its second factor first (0010)
    page = staff.get(f"/staff/requests/{reference}").get_data(as_text=True)
    for question, answer in pairs:
        assert f"<dt>{question}</dt><dd>{answer}</dd>" in page
    assert "Saved before answers were stored as ids" in page
    exported = {row["reference"]: row for row in csv.DictReader(io.StringIO(
        staff.post("/staff/export.csv").get_data(as_text=True).lstrip("\ufeff")))}
    assert exported[reference]["journey_answers"] == "How long ago was your surgery?: More than a year\nWhere is the pain?: Leg"
    assert (exported[reference]["answer_ids"], exported[reference]["content_version"]) == ("", "")


def test_after_the_upgrade_a_new_request_stores_ids_the_content_version_and_the_language(released, make_app):
    import json

    from tests.conftest import walk_to_summary
    from tests.helpers import submit_request

    migrate.upgrade(released)
    app = make_app(DATABASE=str(released), CONTENT_DIR=str(FIXTURE_CONTENT), OUTBOX_AUTOSEND=False,
                   WTF_CSRF_ENABLED=False)
    patient = app.test_client()
    walk_to_summary(patient, app.extensions["journey"])
    assert submit_request(patient, description="A request after the upgrade.").status_code == 303
    conn = sqlite3.connect(released)
    conn.row_factory = sqlite3.Row
    new = dict(conn.execute("SELECT * FROM requests WHERE description = 'A request after the upgrade.'").fetchone())
    conn.close()
    values = json.loads(new["answer_values"])
    journey = app.extensions["journey"]
    assert values and all(journey.question(q) and set(v) <= {o.value for o in journey.question(q).options}
                          for q, v in values.items())
    assert new["content_version"] == journey.version and new["answers_language"] == "en" and new["journey_answers"] is None


def test_after_the_upgrade_staff_see_the_same_english_labels_whichever_language_the_patient_used(
        released, make_app, tmp_path):
    """Issue 20's migration test, its last point: the same answers sent from / and from /es/ are stored as the same
    ids, with each language's content version and its code, and staff read both in the same English words."""
    import re

    from tests.conftest import route_to_summary
    from tests.helpers import PATIENT, form_fields
    from tests.support.translations import write_translation

    content = tmp_path / "content"
    shutil.copytree(FIXTURE_CONTENT, content)
    write_translation(content, "es", lambda text: f"{text} (es)")  # every text "translated"
    migrate.upgrade(released)
    app = make_app(DATABASE=str(released), CONTENT_DIR=str(content), OUTBOX_AUTOSEND=False, WTF_CSRF_ENABLED=False,
                   REQUEST_MIN_SECONDS=0)
    journeys = app.extensions["journeys"]
    assert set(journeys) == {"en", "es"}
    references = {}
    for language, prefix in (("en", ""), ("es", "/es")):
        patient = app.test_client()
        for step, form in route_to_summary(journeys[language])[:-1]:
            assert patient.post(f"{prefix}/journey/{step.id}", data=form).status_code == 303
        page = patient.get(f"{prefix}/request").get_data(as_text=True)
        sent = patient.post(f"{prefix}/request", data={**form_fields(page), **PATIENT, "description": language})
        assert sent.status_code == 303, sent.status_code
        conn = sqlite3.connect(released)
        conn.row_factory = sqlite3.Row
        references[language] = dict(conn.execute("SELECT * FROM requests WHERE description = ?", (language,)).fetchone())
        conn.close()
    english, spanish = references["en"], references["es"]
    assert spanish["answer_values"] == english["answer_values"] and english["answer_values"]
    assert (english["answers_language"], spanish["answers_language"]) == ("en", "es")
    assert (english["content_version"], spanish["content_version"]) == (journeys["en"].version, journeys["es"].version)

    staff = app.test_client()
    assert factor_support.sign_in(staff, "alice.staff@clinic.example", "correct horse battery staple").status_code == 200
    shown = {}
    for language, row in references.items():
        page = staff.get(f"/staff/requests/{row['reference']}").get_data(as_text=True)
        answers = page.split('class="answer-list journey-answers"', 1)[1].split("</dl>", 1)[0]
        shown[language] = re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>", answers)
        assert "The guide has changed" not in page
    assert shown["en"] == shown["es"] and shown["en"]
    assert not any("(es)" in question + answer for question, answer in shown["es"])  # English labels only
