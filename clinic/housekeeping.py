"""Housekeeping: removing what has outlived its keeping time, off the patients' and staff's requests.

Each task deletes only what is past its date, so running housekeeping at any moment, or twice, is safe.
`flask --app app housekeeping` runs it (deploy/fbss-journey-housekeeping.timer, hourly); without the timer each
serving process runs it at start-up and then every HOUSEKEEPING_INTERVAL_SECONDS (blueprints/housekeeping.py).

To add a task: write `def purge_something(conn, now, settings) -> int` (rows removed) in the module that owns
the table, and append a Task to TASKS below. `settings` is the app's configuration (a mapping).
"""
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import text

from clinic import audit, inbox, insights, run_once
from clinic import staff as staff_store
from clinic.answer_store import AnswerStore
from clinic.db import DatabaseBusy, connect, engine, in_transaction, sqlite_path
from clinic.uploads import FileStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Task:
    name: str  # says what goes, in the clinic's words; shown by the command and in the log
    run: Callable  # (conn, now, settings) -> number of rows removed


def expired_journeys(conn, now, settings):
    return AnswerStore(conn, clock=lambda: now).purge_expired(int(settings["JOURNEY_KEEP_DAYS"]))


def idle_staff_sessions(conn, now, settings):
    # A session past its idle time or its longest life already opens nothing; this removes the row of one
    # nobody came back to.
    return staff_store.purge_idle_sessions(conn, now, int(settings["STAFF_SESSION_IDLE_SECONDS"]),
                                           int(settings["STAFF_SESSION_MAX_SECONDS"]))


def requests_past_retention(conn, now, settings):
    # Erased for good (notes and mail rows too, WAL emptied), with one 'purged' row in the audit trail.
    files = FileStore(settings["UPLOADS_DIR"]) if settings.get("UPLOADS_DIR") else None
    return inbox.purge(conn, audit.RETENTION, int(settings["REQUEST_RETENTION_DAYS"]), now, files=files)


def old_sign_in_attempts(conn, now, settings):
    # They hold client addresses: kept only as long as the throttle counts them, known addresses for their days.
    throttle = staff_store.Throttle.from_settings(settings)
    kept_seconds = max(throttle.window, throttle.account_window)
    removed = conn.execute(text("DELETE FROM sign_in_attempts WHERE at <= :before"),
                           {"before": int(now) - kept_seconds}).rowcount
    return removed + conn.execute(text("DELETE FROM staff_known_addresses WHERE last_seen_at <= :before"),
                                  {"before": int(now) - throttle.known_address_days * 86400}).rowcount


def old_journey_report_counters(conn, now, settings):
    return insights.purge_old(conn, now)


TASKS = [
    Task("expired journeys", expired_journeys),
    Task("idle or expired staff sessions", idle_staff_sessions),
    Task("requests past retention", requests_past_retention),
    Task("old sign-in attempts and known addresses", old_sign_in_attempts),
    Task("journey report counters older than two years", old_journey_report_counters),
]


@dataclass(frozen=True)
class Outcome:
    task: str
    removed: int | None  # None: the task could not run this time
    error: str | None = None


def run(database, settings, *, now=None, tasks=None, busy_timeout_ms=5000):
    """Run every task once on its own connection; one task's failure does not stop the others.

    A busy database (locked, read-only, full) is logged as a warning and tried again next time; any other
    error is logged with its trace. Returns one Outcome per task, or None when another process or host is
    running housekeeping at this moment (clinic/run_once.py): it does the same work, so this one skips.
    """
    with run_once.exclusive("housekeeping", database_path=sqlite_path(database), engine=engine(database)) as held:
        if not held:
            log.info("housekeeping: another process or host is running it now; skipped here")
            return None
        return _run_tasks(database, settings, now=now, tasks=tasks, busy_timeout_ms=busy_timeout_ms)


def _run_tasks(database, settings, *, now, tasks, busy_timeout_ms):
    now = int(time.time() if now is None else now)
    outcomes = []
    conn = connect(database, busy_timeout_ms=busy_timeout_ms)
    try:
        for task in TASKS if tasks is None else tasks:
            try:
                removed = task.run(conn, now, settings)
            except DatabaseBusy as error:
                log.warning("housekeeping: %s skipped, database busy (%s); next run tries again", task.name, error)
                outcomes.append(Outcome(task.name, None, str(error)))
            except Exception as error:
                log.exception("housekeeping: %s failed", task.name)
                outcomes.append(Outcome(task.name, None, f"{type(error).__name__}: {error}"))
            else:
                if removed:
                    log.info("housekeeping: %s: %d removed", task.name, removed)
                outcomes.append(Outcome(task.name, int(removed or 0)))
            if in_transaction(conn):  # a task that failed half-way never leaves its transaction open
                conn.exec_driver_sql("ROLLBACK")
                conn.info["in_transaction"] = False
    finally:
        conn.close()
    return outcomes
