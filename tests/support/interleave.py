"""Two transactions forced into one order, on a real database, without sleeping and hoping for an overlap.

    outcome = race(database, first, second, pause_after="SELECT COUNT(*) FROM journeys")

`first(conn)` runs on a thread of its own and is stopped inside its transaction right after the first statement
whose SQL contains `pause_after` (an `after_cursor_execute` hook on its connection: the real code runs, on the
real server, with nothing mocked). Then `second(conn)` starts on another thread, and the race waits until one of
these is true:

- "waited": PostgreSQL shows the second's backend waiting for a lock (pg_stat_activity, wait_event_type 'Lock';
  `outcome.wait_event` says which: 'advisory', 'transactionid', 'tuple');
- "refused": SQLite refused the second's BEGIN IMMEDIATE (its connection has no busy timeout, so it is told at
  once, DatabaseBusy) - it is run again once the first has committed;
- "ran": the second finished while the first was still stopped in its transaction (SKIP LOCKED, or no lock).

Then the first goes on and both are joined. Every wait ends as soon as its condition holds; EVENT_TIMEOUT_SECONDS
only bounds a failure.
"""
import threading
import time
from dataclasses import dataclass

from sqlalchemy import event, text

from clinic.db import DatabaseBusy, connect, dialect_of

EVENT_TIMEOUT_SECONDS = 30
# The second transaction may wait for the first's lock this long (the pool's usual 5 s lock_timeout could run out
# on a loaded machine before the test lets the first go on).
LOCK_WAIT_MS = EVENT_TIMEOUT_SECONDS * 1000
POLL_SECONDS = 0.005


@dataclass
class Outcome:
    first: object
    second: object
    how: str  # "waited" | "refused" | "ran"
    wait_event: str | None = None


class _Worker:
    def __init__(self, database, work, busy_timeout_ms, tamper):
        self.conn = connect(database, busy_timeout_ms=busy_timeout_ms)
        if tamper is not None:
            tamper(self.conn)
        self.work = work
        self.result = None
        self.error = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        try:
            self.result = self.work(self.conn)
        except BaseException as error:  # noqa: BLE001 - handed to the test thread
            self.error = error

    def join(self):
        self.thread.join(EVENT_TIMEOUT_SECONDS)
        assert not self.thread.is_alive(), "a transaction of the race never finished"

    def close(self):
        # A connection whose events were changed never goes back to the pool for another test to meet.
        self.conn.invalidate()
        self.conn.close()


def backend_pid(conn):
    return conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()


def race(database, first, second, *, pause_after, tamper=None):
    """Run `first` up to just after its statement containing `pause_after`, then `second`; see the module's text.

    `tamper(conn)`, when given, is applied to both connections before they run (a test removing a lock's SQL)."""
    postgres = dialect_of(database) == "postgresql"
    reached, go = threading.Event(), threading.Event()
    a = _Worker(database, first, LOCK_WAIT_MS, tamper)

    @event.listens_for(a.conn, "after_cursor_execute")
    def _pause(conn, cursor, statement, parameters, context, executemany):
        if pause_after in statement and not reached.is_set():
            reached.set()
            if not go.wait(EVENT_TIMEOUT_SECONDS):
                raise AssertionError("the first transaction was never let go on")

    # SQLite: no busy timeout, so BEGIN IMMEDIATE behind the first's write lock is refused at once
    b = _Worker(database, second, LOCK_WAIT_MS if postgres else 0, tamper)
    monitor = connect(database)
    try:
        b_pid = backend_pid(b.conn) if postgres else None
        a.thread.start()
        _until(lambda: reached.is_set() or not a.thread.is_alive(), "the first transaction to reach its pause")
        if not reached.is_set():
            raise AssertionError(f"the first transaction never ran a statement with {pause_after!r}") from a.error
        b.thread.start()
        how, wait_event = None, None

        def settled():
            nonlocal how, wait_event
            if not b.thread.is_alive():
                how = "refused" if isinstance(b.error, DatabaseBusy) and not postgres else "ran"
                return True
            if postgres:
                row = monitor.execute(text("SELECT wait_event_type, wait_event FROM pg_stat_activity WHERE pid = :pid"),
                                      {"pid": b_pid}).mappings().first()
                if row is not None and row["wait_event_type"] == "Lock":
                    how, wait_event = "waited", row["wait_event"]
                    return True
            return False

        _until(settled, "the second transaction to wait for a lock, be refused, or finish")
        go.set()
        a.join()
        b.join()
        if a.error is not None:
            raise a.error
        if how == "refused":
            b.error, b.result = None, second(b.conn)  # the first has committed: now it may go ahead
        if b.error is not None:
            raise b.error
        return Outcome(a.result, b.result, how, wait_event)
    finally:
        go.set()
        for worker in (a, b):
            if worker.thread.ident is not None:
                worker.thread.join(EVENT_TIMEOUT_SECONDS)
        monitor.close()
        a.close()
        b.close()


def _until(condition, what):
    deadline = time.monotonic() + EVENT_TIMEOUT_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {EVENT_TIMEOUT_SECONDS} s for {what}")
        time.sleep(POLL_SECONDS)


def drop_from_statements(fragment, starting="UPDATE "):
    """A `tamper` for race(): `fragment` is cut out of the statements that start with `starting` (PostgreSQL's named
    parameters, so no positional parameter moves). How a test removes a guard written inline in the SQL."""

    def tamper(conn):
        @event.listens_for(conn, "before_cursor_execute", retval=True)
        def _cut(conn, cursor, statement, parameters, context, executemany):
            if statement.startswith(starting):
                statement = statement.replace(fragment, "")
            return statement, parameters

    return tamper
