"""SQLite connections: one file, WAL mode, full sync, a busy timeout. The schema is clinic/migrate.py's."""
import sqlite3

from clinic.private_files import private_file

BUSY_TIMEOUT_MS = 5000


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
    conn = sqlite3.connect(path, timeout=busy_timeout_ms / 1000, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    # Erased rows must not linger in free pages of the file.
    conn.execute("PRAGMA secure_delete = ON")
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

