"""SQLite connections: one file, WAL mode, full sync, a busy timeout. The schema is clinic/migrate.py's."""
import sqlite3

from clinic.private_files import private_file

BUSY_TIMEOUT_MS = 5000

# "Busy for a moment": another writer holds the lock past the busy timeout, the file or its folder cannot be
# written (read-only, a disk remounted read-only), or the disk is full. Waiting, or the deployer freeing space,
# mends each of them, so pages say "busy" / "not sent yet" and ask the patient to try again.
BUSY_CODES = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_FULL,
                        sqlite3.SQLITE_CANTOPEN})
# A database file deleted or replaced under an open connection reads as "read-only", but waiting never mends it.
NEVER_BUSY_CODES = frozenset({sqlite3.SQLITE_READONLY_DBMOVED})


class DatabaseBusy(sqlite3.OperationalError):
    """The database cannot be used for a moment (locked, busy, read-only, disk full): the only database error
    that pages answer with "busy" / "not sent yet" and a 503. Any other one (a missing table or column, a
    damaged file) is a fault: a 500 with a log line."""

    @classmethod
    def from_error(cls, error):
        busy = cls(*error.args)
        busy.sqlite_errorcode = error.sqlite_errorcode
        busy.sqlite_errorname = error.sqlite_errorname
        return busy


def is_busy(error):
    code = getattr(error, "sqlite_errorcode", None)
    return (isinstance(error, sqlite3.OperationalError) and code is not None
            and code not in NEVER_BUSY_CODES and code & 0xFF in BUSY_CODES)


def raising_busy(call, *args, **options):
    """call(*args, **options), with a "busy for a moment" error raised as DatabaseBusy."""
    try:
        return call(*args, **options)
    except sqlite3.OperationalError as error:
        if is_busy(error) and not isinstance(error, DatabaseBusy):
            raise DatabaseBusy.from_error(error) from error
        raise


class Connection(sqlite3.Connection):
    """A connection whose "busy for a moment" errors are DatabaseBusy, whatever statement met them."""

    def execute(self, *args):
        return raising_busy(super().execute, *args)

    def executemany(self, *args):
        return raising_busy(super().executemany, *args)


def connect(path, *, busy_timeout_ms=BUSY_TIMEOUT_MS):
    """Open the database file with the pragmas every connection needs.

    isolation_level=None puts transactions in our hands: callers use
    `transaction(conn)` so a request and its outbox row commit together.
    A new database file is created with mode 0600 first, so it and its -wal/-shm are private.
    """
    if str(path) != ":memory:" and not str(path).startswith("file:"):
        try:
            private_file(path)
        except OSError:
            pass  # a missing folder or a read-only disk: sqlite3.connect below reports it as a database error
    conn = raising_busy(sqlite3.connect, path, timeout=busy_timeout_ms / 1000, isolation_level=None, factory=Connection)
    conn.row_factory = sqlite3.Row
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
        # Erased rows must not linger in free pages of the file.
        conn.execute("PRAGMA secure_delete = ON")
    except BaseException:
        conn.close()
        raise
    return conn


class transaction:
    """`with transaction(conn):` runs BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on error."""

    def __init__(self, conn):
        self.conn = conn

    def __enter__(self):
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.conn.execute("COMMIT")
        else:
            try:
                self.conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
        return False

