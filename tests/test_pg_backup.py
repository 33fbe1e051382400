"""Backups on PostgreSQL (issue 21): pg_dump/pg_restore on the throwaway cluster, with the SQLite path's promises:
a checked copy, 0600 from its first byte, a damaged backup refused before anything is replaced."""
import os

import pytest

from clinic import pg_backup
from clinic.backup import BackupError

SCHEMA = """
CREATE TABLE requests (id bigserial PRIMARY KEY, reference text UNIQUE NOT NULL, description text);
CREATE TABLE audit_log (id bigserial PRIMARY KEY, action text NOT NULL);
CREATE TABLE empty_one (id integer);
INSERT INTO requests (reference, description) VALUES ('FBS-AAAA', E'two\\nlines, a tab\\t and a \\\\ backslash'),
    ('FBS-BBBB', NULL), ('FBS-CCCC', 'plain');
INSERT INTO audit_log (action) VALUES ('created');
"""


@pytest.fixture
def database(postgres):
    url = postgres.new_database()
    postgres.psql(SCHEMA, database=url.rsplit("/", 1)[1])
    return url


def rows(postgres, url, sql):
    return postgres.psql(sql, database=url.rsplit("/", 1)[1])


def test_a_backup_is_a_checked_private_file_that_restores_every_row(postgres, database, tmp_path):
    (tmp_path / "backups").mkdir()
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    (uploads / "report.pdf").write_bytes(b"%PDF-1.4 a report")
    result = pg_backup.backup(database, tmp_path / "backups", now=0, uploads_dir=uploads)
    assert result.path.name == "clinic-19700101-000000.pgdump"
    assert os.stat(result.path).st_mode & 0o777 == 0o600
    assert result.tables == {"audit_log": 1, "empty_one": 0, "requests": 3}
    assert not list((tmp_path / "backups").glob("*.partial"))
    assert (tmp_path / "backups" / "clinic-19700101-000000.files" / "report.pdf").read_bytes() == b"%PDF-1.4 a report"

    rows(postgres, database, "DELETE FROM requests; DROP TABLE audit_log")  # a bad day
    (uploads / "report.pdf").unlink()
    assert pg_backup.restore(result.path, database, uploads_dir=uploads) == result.tables
    assert (uploads / "report.pdf").exists()
    assert rows(postgres, database, "SELECT count(*) FROM audit_log") == "1"
    assert rows(postgres, database, "SELECT description FROM requests WHERE reference = 'FBS-AAAA'") == \
        "two\nlines, a tab\t and a \\ backslash"
    # the sequences come back too: the next row does not collide with a restored one
    rows(postgres, database, "INSERT INTO requests (reference) VALUES ('FBS-DDDD')")
    assert rows(postgres, database, "SELECT count(*) FROM requests") == "4"
    assert pg_backup.prune(tmp_path / "backups", 0) == [result.path] and not list((tmp_path / "backups").iterdir())


def test_a_damaged_backup_is_refused_and_the_database_is_left_alone(postgres, database, tmp_path):
    good = pg_backup.backup(database, tmp_path / "good.pgdump")
    damaged = tmp_path / "damaged.pgdump"
    data = good.path.read_bytes()
    damaged.write_bytes(data[: len(data) * 2 // 3])  # cut short, as a full disk would leave it
    with pytest.raises(BackupError, match="failed its check"):
        pg_backup.restore(damaged, database)
    assert rows(postgres, database, "SELECT count(*) FROM requests") == "3"
    with pytest.raises(BackupError, match="No backup file"):
        pg_backup.restore(tmp_path / "missing.pgdump", database)


def test_a_failed_dump_leaves_no_file_and_the_password_never_reaches_the_command_line(postgres, tmp_path):
    address, env = pg_backup.libpq_target("postgresql+psycopg://clinic:s%40cret@127.0.0.1:5432/clinic")
    assert address == "postgresql://clinic@127.0.0.1:5432/clinic" and env["PGPASSWORD"] == "s@cret"
    with pytest.raises(BackupError, match="Backup failed"):
        pg_backup.backup(postgres.url("no_such_database"), tmp_path / "x.pgdump")
    assert list(tmp_path.iterdir()) == []
