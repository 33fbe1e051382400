"""Consistent copies of the live SQLite database (online backup API, never a file copy), checked and restorable."""
import shutil
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from clinic.db import DatabaseError, connect
from clinic.private_files import private_folder, private_partial

BACKUP_PREFIX = "clinic-"
BACKUP_SUFFIX = ".sqlite3"


class BackupError(RuntimeError):
    """The copy could not be made or did not pass its check; nothing was left at the target path."""


@dataclass(frozen=True)
class BackupResult:
    path: Path
    size_bytes: int
    tables: dict  # table name -> row count, for a quick look at the copy (counts only)


def integrity_problems(path):
    """[] when `PRAGMA integrity_check` says ok, else its messages."""
    try:
        conn = sqlite3.connect(f"file:{Path(path).resolve()}?mode=ro", uri=True)
        try:
            rows = [row[0] for row in conn.execute("PRAGMA integrity_check").fetchall()]
        finally:
            conn.close()
    except sqlite3.DatabaseError as error:  # so damaged that the check itself cannot run, or not a database
        return [str(error)]
    return [] if rows == ["ok"] else rows


def table_counts(conn):
    names = [row[0] for row in conn.execute(
        "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
    return {name: conn.execute(f'SELECT COUNT(*) FROM "{name}"').fetchone()[0] for name in names}  # noqa: S608  # nosec B608 - names come from sqlite_schema


def target_path(target, *, now=None, suffix=BACKUP_SUFFIX):
    """A directory gets a dated file name inside it; anything else is the file to write."""
    target = Path(target)
    if target.is_dir():
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(time.time() if now is None else now))
        return target / f"{BACKUP_PREFIX}{stamp}{suffix}"
    return target


def files_folder(backup_path, suffix=BACKUP_SUFFIX):
    """Where a backup keeps copies of the requests' attached files: clinic-<stamp>.files/ beside clinic-<stamp>.sqlite3
    (or clinic-<stamp>.pgdump)."""
    backup_path = Path(backup_path)
    return backup_path.with_name(backup_path.name.removesuffix(suffix) + ".files")


def copy_files(source, target):
    """Copy every file of folder `source` into folder `target` (0700), each 0600; returns how many."""
    source = Path(source)
    if not source.is_dir():
        return 0
    private_folder(target)
    copied = 0
    for path in sorted(source.iterdir()):
        if not path.is_file() or path.name.startswith("."):
            continue
        try:
            with open(path, "rb") as reader, private_partial(Path(target) / path.name) as partial, \
                    open(partial, "wb") as writer:
                shutil.copyfileobj(reader, writer)
        except FileNotFoundError:  # erased meanwhile: its row is gone from the copy too, or will be
            continue
        copied += 1
    return copied


def backup(database_path, target, *, now=None, uploads_dir=None):
    """Copy the live database to `target` (a file, or a directory for a dated file) and verify the copy.

    The whole copy is made in one backup step: in WAL mode that is one read snapshot, so writers carry on
    and the copy is consistent. Copying page by page would restart whenever someone writes meanwhile.
    """
    final = target_path(target, now=now)
    if final.resolve() == Path(database_path).resolve():
        raise BackupError("The backup target is the live database itself")
    with private_partial(final) as partial:  # 0600 from its first byte: it holds patients' requests
        try:
            source = connect(database_path)
        except DatabaseError as error:
            raise BackupError(f"Backup failed: {error}") from error
        try:
            copy = sqlite3.connect(partial, isolation_level=None)
            try:
                source.connection.dbapi_connection.backup(copy)  # SQLite's online backup API, on the driver itself
                # A self-contained single file: restoring it needs no -wal file beside it.
                copy.execute("PRAGMA journal_mode = DELETE")
                tables = table_counts(copy)
            finally:
                copy.close()
        except sqlite3.Error as error:
            raise BackupError(f"Backup failed: {error}") from error
        finally:
            source.close()
        problems = integrity_problems(partial)
        if problems:
            raise BackupError("The copy failed its integrity check: " + "; ".join(problems[:5]))
    if uploads_dir:
        # After the snapshot: a file is written before its request's row commits, so every file the copy names
        # is there already (one erased in between is skipped: its row goes at the next backup).
        copy_files(uploads_dir, files_folder(final))
    return BackupResult(path=final, size_bytes=final.stat().st_size, tables=tables)


def prune(directory, keep, suffix=BACKUP_SUFFIX):
    """Delete all but the newest `keep` dated backups in `directory` (and their files); returns the deleted paths."""
    dated = sorted(Path(directory).glob(f"{BACKUP_PREFIX}*{suffix}"))
    doomed = dated[:-keep] if keep > 0 else dated
    for path in doomed:
        path.unlink()
        if files_folder(path, suffix).is_dir():
            shutil.rmtree(files_folder(path, suffix))
    return doomed


def restore(backup_path, database_path, uploads_dir=None):
    """Replace the database's contents with a verified backup, through SQLite (so its WAL stays consistent),
    and put back the attached files kept beside it.

    Stop the site first: requests made during a restore would be lost.
    """
    backup_path = Path(backup_path)
    if not backup_path.is_file():
        raise BackupError(f"No backup file at {backup_path}")
    problems = integrity_problems(backup_path)
    if problems:
        raise BackupError("The backup failed its integrity check: " + "; ".join(problems[:5]))
    source = sqlite3.connect(f"file:{backup_path.resolve()}?mode=ro", uri=True)
    try:
        live = connect(database_path)
    except DatabaseError as error:
        source.close()
        raise BackupError(f"Restore failed: {error}") from error
    try:
        driver = live.connection.dbapi_connection
        source.backup(driver)
        tables = table_counts(driver)
    except sqlite3.Error as error:
        raise BackupError(f"Restore failed: {error}") from error
    finally:
        live.close()
        source.close()
    if uploads_dir:
        copy_files(files_folder(backup_path), uploads_dir)
    return tables
