"""Health figures for monitors: is the database's schema the code's, can it take a write, how far behind is the outbox.

No personal data."""
import threading
import time

from sqlalchemy import text

from clinic import migrate
from clinic.db import DatabaseBusy, DatabaseError, connect, transaction


class WriteProbe:
    """The database write probe, run at most once every `interval` seconds per process however often it is
    asked for: in between, the last outcome stands. A flood of /healthz calls cannot become a flood of writes."""

    def __init__(self, interval=10.0, clock=time.monotonic):
        self.interval = interval
        self.clock = clock
        self._lock = threading.Lock()  # one probe at a time: callers during a probe wait for its outcome
        self._last = None  # (clock reading, outcome)

    def outcome(self, conn, now):
        with self._lock:
            at = self.clock()
            if self._last is None or at - self._last[0] >= self.interval:
                self._last = (at, write_heartbeat(conn, now))
            return self._last[1]


def write_heartbeat(conn, now):
    """'writable', 'locked', 'not_writable' or 'error', from a real committed write.

    A stuck lock, a read-only file or a full disk all show up here (busy for a moment); anything else, such as
    a missing table, is 'error'.
    """
    try:
        with transaction(conn):
            conn.execute(text("INSERT INTO ops_heartbeat (id, checked_at) VALUES (1, :now) "
                              "ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at"), {"now": now})
    except DatabaseBusy as error:
        return error.reason  # "locked" or "not_writable"
    except DatabaseError:
        return "error"
    return "writable"


def check(database_path, *, busy_timeout_ms=1000, now=None, probe=None):
    """Return (healthy, report). The report holds only states and counts, never row contents.

    With a WriteProbe, the write is made only when the probe is due; the outbox figures are read every time.
    """
    now = int(time.time() if now is None else now)
    report = {"status": "error", "database": "unavailable", "schema_version": None, "outbox_pending": None,
              "outbox_failed": None, "oldest_pending_age_seconds": None}
    try:
        conn = connect(database_path, busy_timeout_ms=busy_timeout_ms)
    except DatabaseBusy:
        return False, report  # the server not reachable, the file not openable: "unavailable"
    except DatabaseError:
        return False, report
    try:
        # The schema first (reads only): behind, ahead, or tables that differ from what the migrations make, and
        # every page may fail; the heartbeat's table may not even be there. SQLite: PRAGMA user_version;
        # PostgreSQL: the schema_version row.
        try:
            version = migrate.user_version(conn)
            report["schema_version"] = version
            if version != migrate.head() or migrate.shape_problems(conn, version):
                report["database"] = "schema_mismatch"
                return False, report
        except DatabaseBusy as error:
            report["database"] = error.reason
            return False, report
        except DatabaseError:
            report["database"] = "error"
            return False, report
        report["database"] = probe.outcome(conn, now) if probe is not None else write_heartbeat(conn, now)
        if report["database"] != "writable":
            return False, report
        try:
            row = conn.execute(text(
                "SELECT COUNT(CASE WHEN status = 'pending' THEN 1 END) AS pending,"
                " COUNT(CASE WHEN status = 'failed' THEN 1 END) AS failed,"
                " MIN(CASE WHEN status = 'pending' THEN created_at END) AS oldest FROM outbox"
            )).mappings().one()
        except DatabaseError:
            return False, report
        report.update(
            status="ok",
            outbox_pending=int(row["pending"]),
            outbox_failed=int(row["failed"]),
            oldest_pending_age_seconds=max(0, now - int(row["oldest"])) if row["oldest"] is not None else 0,
        )
        return True, report
    finally:
        conn.close()
