"""The machinery behind `both_databases` (tests/conftest.py, tests/support/databases.py): a [postgresql] test gets
a migrated database with no rows, whatever the test before it left there, and never one whose schema a test changed."""
import pytest

from clinic import migrate
from clinic.db import DatabaseError
from tests.support.storage import execute, value

pytestmark = pytest.mark.both_databases


def test_each_run_gets_a_migrated_database_of_its_own_engine(db_engine, fresh_database, make_app):
    app = make_app()
    assert app.config["DATABASE_URL"].startswith("postgresql://" if db_engine == "postgresql" else "sqlite:///")
    assert value(app, "SELECT COUNT(*) FROM requests") == 0
    assert app.test_client().get("/healthz").json["schema_version"] == migrate.head()


def test_a_reused_database_is_emptied_its_sequences_start_again_and_the_audit_trail_goes_too(migrated_databases):
    url = migrated_databases.acquire()
    staff_id = value(url, "INSERT INTO staff (email, password_hash, created_at) VALUES ('a@clinic.test', 'x', 1) "
                          "RETURNING id")
    execute(url, "INSERT INTO audit_log (at, staff_email, action) VALUES (1, 'a@clinic.test', 'viewed')")
    execute(url, "INSERT INTO journeys (id, created_at, updated_at) VALUES ('left-behind', 1, 1)")
    migrated_databases.release(url)
    again = migrated_databases.acquire()
    try:
        assert again == url  # the same database, emptied
        for table in ("staff", "audit_log", "journeys"):
            assert value(again, f"SELECT COUNT(*) FROM {table}") == 0, table  # noqa: S608
        assert value(again, "INSERT INTO staff (email, password_hash, created_at) VALUES ('b@clinic.test', 'x', 1) "
                            "RETURNING id") == staff_id  # as in a new database
        execute(again, "INSERT INTO audit_log (at, staff_email, action) VALUES (2, 'b@clinic.test', 'viewed')")
        with pytest.raises(DatabaseError, match="cannot be deleted"):
            execute(again, "DELETE FROM audit_log")  # the append-only trigger is on again
    finally:
        migrated_databases.release(again)


def test_a_database_whose_schema_a_test_changed_is_dropped_not_reused(migrated_databases, postgres):
    url = migrated_databases.acquire()
    execute(url, "ALTER TABLE requests DROP COLUMN spam_reason")
    dropped = migrated_databases.dropped
    migrated_databases.release(url)
    assert migrated_databases.dropped == dropped + 1
    name = url.rsplit("/", 1)[1]
    assert postgres.psql(f"SELECT COUNT(*) FROM pg_database WHERE datname = '{name}'") == "0"
    fresh = migrated_databases.acquire()
    try:
        assert fresh != url and value(fresh, "SELECT COUNT(*) FROM requests WHERE spam_reason IS NULL") == 0
    finally:
        migrated_databases.release(fresh)
    assert migrated_databases.acquire() == fresh  # a database made after a drop is reused like any other
    migrated_databases.release(fresh)
