"""Health figures for monitors: can the database take a write, and how far behind is the outbox. No personal data."""
import sqlite3
import time

from clinic.db import connect, transaction


def check(database_path, *, busy_timeout_ms=1000, now=None):
    """Return (healthy, report). The report holds only states and counts, never row contents."""
    now = int(time.time() if now is None else now)
    report = {"status": "error", "database": "unavailable", "outbox_pending": None, "outbox_failed": None,
              "oldest_pending_age_seconds": None}
    try:
        conn = connect(database_path, busy_timeout_ms=busy_timeout_ms)
    except sqlite3.Error:
        return False, report
    try:
        try:
            # A real committed write: a read-only file, a full disk or a stuck lock all show up here.
            with transaction(conn):
                conn.execute("INSERT INTO ops_heartbeat (id, checked_at) VALUES (1, ?) "
                             "ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at", (now,))
        except sqlite3.OperationalError as error:
            report["database"] = "locked" if "locked" in str(error) or "busy" in str(error) else "not_writable"
            return False, report
        except sqlite3.Error:
            report["database"] = "not_writable"
            return False, report
        report["database"] = "writable"
        try:
            row = conn.execute(
                "SELECT COALESCE(SUM(status = 'pending'), 0) AS pending, COALESCE(SUM(status = 'failed'), 0) AS failed, "
                "MIN(CASE WHEN status = 'pending' THEN created_at END) AS oldest FROM outbox"
            ).fetchone()
        except sqlite3.Error:
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
