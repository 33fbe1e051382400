"""Work that must not run twice at once (housekeeping, backups): a lock that every process and host asks for
first, and that a crash lets go of by itself. No Flask here.

- PostgreSQL (two hosts share one database): a session-level `pg_try_advisory_lock` on a connection of its own,
  held while the work runs. The server drops it when that connection ends, so a host killed half-way holds
  nothing.
- SQLite (one host: a database file is never shared between machines): an exclusive `flock` on a file beside the
  database, so two processes on the host (the timer and a serving process, or two timers) never overlap. The
  kernel drops it when the process dies.

    with exclusive("housekeeping", database_path=..., engine=...) as held:
        if held:
            ...  # only one process anywhere gets here at a time
        else:
            ...  # another one is doing it now: skip, it will be done
"""
import fcntl
import hashlib
import os
from contextlib import contextmanager
from pathlib import Path

from clinic.private_files import FILE_MODE


def lock_key(name):
    """A stable signed 64-bit key for `name` (pg_advisory_lock takes a bigint); the same on every host."""
    digest = hashlib.sha256(f"fbss-journey:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def lock_file(database_path, name):
    path = Path(database_path)
    return path.with_name(f"{path.name}.{name}.lock")


@contextmanager
def exclusive(name, *, database_path=None, engine=None):
    """Yields True while this process holds the lock `name`, False when another process holds it now.

    `engine`: a SQLAlchemy engine on PostgreSQL (its dialect decides); otherwise the SQLite `database_path`.
    """
    if engine is not None and engine.dialect.name == "postgresql":
        with _advisory_lock(engine, lock_key(name)) as held:
            yield held
    else:
        with _file_lock(lock_file(database_path, name)) as held:
            yield held


@contextmanager
def _advisory_lock(engine, key):
    from sqlalchemy import text

    conn = engine.connect()
    try:
        held = bool(conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}).scalar())
        conn.commit()  # the lock is the session's, not the transaction's: no transaction stays open meanwhile
        try:
            yield held
        finally:
            if held:
                try:
                    conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                    conn.commit()
                except Exception:
                    # Unsure whether it was let go: never hand this connection (and the lock) back to the pool.
                    conn.invalidate()
                    raise
    finally:
        conn.close()


@contextmanager
def _file_lock(path):
    fd = os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
