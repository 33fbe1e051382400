"""Backups: a consistent online copy while the site writes, checked with integrity_check, and restorable."""
import secrets
import sqlite3
import threading
import time

import pytest
from sqlalchemy import text

from clinic import backup
from clinic.db import connect, transaction
from tests.conftest import ROOT, migrated_database


@pytest.fixture
def database(tmp_path):
    path = migrated_database(tmp_path / "live" / "clinic.sqlite3")
    conn = connect(path)
    with transaction(conn):
        # Enough pages that a copy takes a while, so the writer below really runs during it.
        conn.execute(text("INSERT INTO journeys (id, answers, created_at, updated_at) VALUES (:id, :answers, 1, 1)"),
                     [{"id": secrets.token_hex(16), "answers": "x" * 2000} for _ in range(3000)])
    conn.close()
    return path


class Writer(threading.Thread):
    """Inserts journeys one transaction at a time, as the site does, until stopped."""

    def __init__(self, path):
        super().__init__(daemon=True)
        self.path = path
        self.stop = threading.Event()
        self.written = 0
        self.error = None

    def run(self):
        conn = connect(self.path)
        try:
            while not self.stop.is_set():
                with transaction(conn):
                    conn.execute(text("INSERT INTO journeys (id, created_at, updated_at) VALUES (:id, 2, 2)"),
                                 {"id": secrets.token_hex(16)})
                self.written += 1
        except Exception as error:  # reported by the test, not lost in the thread
            self.error = error
        finally:
            conn.close()


def count_journeys(path):
    conn = sqlite3.connect(path)
    try:
        return tuple(conn.execute("SELECT COUNT(*), MAX(rowid) FROM journeys").fetchone())
    finally:
        conn.close()


def test_backup_while_another_thread_writes_is_consistent_and_restores(database, tmp_path):
    writer = Writer(database)
    writer.start()
    try:
        while writer.written < 20 and writer.is_alive():
            time.sleep(0.005)
        before = count_journeys(database)[0]
        copies = [backup.backup(database, tmp_path / f"copy-{n}.sqlite3") for n in range(3)]
        after = count_journeys(database)[0]
        written_during = writer.written
    finally:
        writer.stop.set()
        writer.join(10)
    assert writer.error is None
    assert written_during > 20

    for result in copies:
        assert backup.integrity_problems(result.path) == []
        rows, last_rowid = count_journeys(result.path)
        # One snapshot: every committed row up to a point, none missing in between, nothing half-written.
        assert before <= rows <= after
        assert rows == last_rowid
        assert result.tables["journeys"] == rows
        assert result.path.stat().st_mode & 0o777 == 0o600
        assert not result.path.with_name(result.path.name + ".partial").exists()
        assert not result.path.with_name(result.path.name + "-wal").exists()  # one self-contained file

    # Restore the last copy into a fresh database file and into the live one: the same rows come back.
    expected = count_journeys(copies[-1].path)
    fresh = tmp_path / "restored" / "clinic.sqlite3"
    fresh.parent.mkdir()
    assert backup.restore(copies[-1].path, fresh)["journeys"] == expected[0]
    assert count_journeys(fresh) == expected
    backup.restore(copies[-1].path, database)
    assert count_journeys(database) == expected
    conn = connect(database)  # the live file is still a working WAL database afterwards
    assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    with transaction(conn):
        conn.execute(text("INSERT INTO journeys (id, created_at, updated_at) VALUES ('after-restore', 3, 3)"))
    conn.close()
    assert backup.integrity_problems(database) == []


def test_backup_into_a_directory_gets_a_dated_name_and_old_ones_can_be_pruned(database, tmp_path):
    folder = tmp_path / "backups"
    folder.mkdir()
    names = [backup.backup(database, folder, now=1_700_000_000 + day * 86400).path.name for day in range(4)]
    assert names[0] == "clinic-20231114-221320.sqlite3"
    removed = backup.prune(folder, keep=2)
    assert sorted(p.name for p in removed) == names[:2]
    assert sorted(p.name for p in folder.iterdir()) == names[2:]


def test_backup_refuses_to_overwrite_the_live_database(database):
    with pytest.raises(backup.BackupError, match="live database"):
        backup.backup(database, database)


def test_restore_refuses_a_damaged_backup_and_leaves_the_database_alone(database, tmp_path):
    damaged = tmp_path / "damaged.sqlite3"
    good = backup.backup(database, tmp_path / "good.sqlite3").path
    data = bytearray(good.read_bytes())
    data[4096 * 3: 4096 * 3 + 512] = b"\xff" * 512  # scribble over a page of the table
    damaged.write_bytes(bytes(data))
    before = count_journeys(database)
    with pytest.raises(backup.BackupError):
        backup.restore(damaged, database)
    assert count_journeys(database) == before


def test_flask_db_backup_command_writes_a_checked_copy_and_restore_puts_it_back(make_app, tmp_path):
    app = make_app(CONTENT_DIR=str(ROOT / "tests" / "fixtures" / "content"))
    folder = tmp_path / "nightly"
    folder.mkdir()
    result = app.test_cli_runner().invoke(args=["db", "backup", str(folder), "--keep", "7"])
    assert result.exit_code == 0, result.output
    assert "integrity ok" in result.output
    (copy,) = folder.iterdir()
    assert backup.integrity_problems(copy) == []

    restored = app.test_cli_runner().invoke(args=["db", "restore", str(copy), "--yes"])
    assert restored.exit_code == 0, restored.output
    assert "Restored" in restored.output


def test_flask_db_restore_asks_before_replacing_the_database(make_app, tmp_path):
    app = make_app(CONTENT_DIR=str(ROOT / "tests" / "fixtures" / "content"))
    copy = backup.backup(app.config["DATABASE"], tmp_path / "copy.sqlite3").path
    result = app.test_cli_runner().invoke(args=["db", "restore", str(copy)], input="n\n")
    assert result.exit_code != 0
    assert "Aborted" in result.output
