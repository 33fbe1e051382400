"""The database seam: SQLAlchemy Core engines with a connection pool, for SQLite (the default) or PostgreSQL.

`connect(database)` takes a SQLite file path (or a `sqlite:///` URL) or a `postgresql://` URL and hands out a
pooled `sqlalchemy.Connection`; `conn.close()` gives it back. Queries are `sqlalchemy.text()` with `:named`
parameters; rows are read by column name (`.mappings()`), single values with `.scalar()`.

Connections run in autocommit: a lone statement commits by itself, and every write that must hold together goes
through `with transaction(conn):` (SQLite: BEGIN IMMEDIATE, so the write lock is taken before the first read;
PostgreSQL: BEGIN at READ COMMITTED, with row locks or advisory locks where a read decides a write).

SQLite's pragmas (WAL, synchronous FULL, foreign keys, secure_delete, busy timeout) are set once per pooled
connection by a connect event, not once per request. The schema is clinic/migrate.py's.
"""
import os
import threading

import sqlalchemy
from sqlalchemy import event, exc, text
from sqlalchemy.engine import make_url

from clinic.private_files import private_file

BUSY_TIMEOUT_MS = 5000
POOL_SIZE = 5  # per process and database; gunicorn runs a few workers with a few threads each
POOL_OVERFLOW = 10

# Every database error the seam lets through is one of these (SQLAlchemy wraps the driver's own).
DatabaseError = exc.DBAPIError
IntegrityError = exc.IntegrityError

# --- "busy for a moment" ----------------------------------------------------------------------------------
# SQLite: another writer holds the lock past the busy timeout, the file or its folder cannot be written
# (read-only, a disk remounted read-only), or the disk is full. Waiting, or the deployer freeing space, mends each
# of them, so pages say "busy" / "not sent yet" and ask the patient to try again.
SQLITE_BUSY, SQLITE_LOCKED, SQLITE_READONLY, SQLITE_CANTOPEN, SQLITE_FULL = 5, 6, 8, 14, 13
SQLITE_READONLY_DBMOVED = 1032  # a file deleted or replaced under an open connection: waiting never mends it
SQLITE_LOCK_CODES = frozenset({SQLITE_BUSY, SQLITE_LOCKED})
SQLITE_BUSY_CODES = SQLITE_LOCK_CODES | {SQLITE_READONLY, SQLITE_FULL, SQLITE_CANTOPEN}

# PostgreSQL, by SQLSTATE: a lock not granted within lock_timeout, a serialization failure or deadlock (the
# transaction can simply run again), the server refusing writes (a standby, disk full) or not reachable.
PG_LOCK_STATES = frozenset({"55P03", "40001", "40P01", "57014"})  # 57014: statement_timeout cancelled the wait
PG_NOT_WRITABLE_STATES = frozenset({"25006", "53100", "53200", "53300", "57P01", "57P02", "57P03", "08000",
                                    "08001", "08003", "08004", "08006"})


class DatabaseBusy(exc.OperationalError):
    """The database cannot be used for a moment (locked, busy, read-only, disk full, the server not reachable):
    the only database error that pages answer with "busy" / "not sent yet" and a 503. Any other one (a missing
    table or column, a damaged file) is a fault: a 500 with a log line.

    `reason` is "locked" (another writer: wait and retry) or "not_writable" (read-only, full, unreachable)."""

    reason = "locked"

    def __init__(self, statement=None, params=None, orig=None, *args, **options):
        if orig is None and params is None and isinstance(statement, str):
            statement, orig = None, RuntimeError(statement)  # DatabaseBusy("database is locked"), as tests raise it
        super().__init__(statement, params, orig, *args, **options)

    def __str__(self):
        return " ".join(str(self.orig).split())  # one line, the driver's words: no SQL, no parameters

    @classmethod
    def from_error(cls, error, reason):
        if isinstance(error, exc.DBAPIError):
            busy = cls(error.statement, error.params, error.orig, connection_invalidated=error.connection_invalidated)
        else:
            busy = cls(None, None, error)
        busy.reason = reason
        return busy


def busy_reason(error):
    """"locked" or "not_writable" when `error` (SQLAlchemy's or the driver's own) is busy-for-a-moment, else None."""
    if isinstance(error, DatabaseBusy):
        return error.reason
    original = getattr(error, "orig", None) or error
    code = getattr(original, "sqlite_errorcode", None)
    if code is not None:
        if code == SQLITE_READONLY_DBMOVED or code & 0xFF not in SQLITE_BUSY_CODES:
            return None
        return "locked" if code & 0xFF in SQLITE_LOCK_CODES else "not_writable"
    state = getattr(original, "sqlstate", None)
    if state in PG_LOCK_STATES:
        return "locked"
    if state in PG_NOT_WRITABLE_STATES:
        return "not_writable"
    if state is None and type(original).__module__.startswith("psycopg") and type(original).__name__ == "OperationalError":
        return "not_writable"  # no SQLSTATE: the server refused the connection or went away
    return None


def is_busy(error):
    return busy_reason(error) is not None


def _terse(context):
    """handle_error hook (PostgreSQL): an error's text keeps libpq's primary message only, as libpq's TERSE error
    verbosity would (psycopg 3.3's PGconn cannot set it). The full message adds `DETAIL: Failing row contains (...)`
    for a CHECK or NOT NULL violation and `Key (...)=(...)` for a UNIQUE one: the patient's name, email, phone and
    description, which a 500's log line (str, repr, the chained traceback) would carry. The driver's own error and
    SQLAlchemy's wrapper are both rewritten; `diag` (sqlstate, constraint_name) stays as it was for callers."""
    original = context.original_exception
    diag = getattr(original, "diag", None)
    primary = getattr(diag, "message_primary", None) if diag is not None else None
    if not primary:
        return None
    # libpq's TERSE text is "SEVERITY:  primary"; psycopg drops the severity, so the primary message is the text
    terse = " ".join(primary.split())
    if str(original) != terse:
        original.args = (terse,)
    wrapped = context.sqlalchemy_exception
    if wrapped is not None and wrapped.args and isinstance(wrapped.args[0], str):
        wrapped.args = (f"({type(original).__module__}.{type(original).__name__}) {terse}",) + wrapped.args[1:]
    return None


def _as_busy(context):
    """handle_error hook: a busy-for-a-moment error leaves the seam as DatabaseBusy, whatever statement met it."""
    reason = busy_reason(context.original_exception)
    if reason is None or isinstance(context.sqlalchemy_exception, DatabaseBusy):
        return None
    return DatabaseBusy.from_error(context.sqlalchemy_exception or context.original_exception, reason)


# --- engines ----------------------------------------------------------------------------------------------------
# hide_parameters on both: an error's text (logged on a 500) names the statement, never the values in it, which
# may be what a patient wrote. On PostgreSQL `_terse` also drops libpq's DETAIL line, which repeats the row's values.
_engines = {}
_engines_lock = threading.Lock()
# What callers pass (the app's DATABASE_URL, every request) -> its engine: parsing and rendering the URL again was a
# third of a pooled connect. Only URLs and absolute paths: a relative path's file depends on the working directory.
_given = {}


def database_url(database):
    """A SQLAlchemy URL for a SQLite path, a `sqlite:///` URL or a `postgresql://` URL (psycopg 3 is the driver)."""
    database = str(database)
    if "://" not in database:
        return make_url("sqlite://").set(database=os.path.abspath(database))
    url = make_url(database)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    if url.get_backend_name() not in ("sqlite", "postgresql"):
        raise ValueError(f"unsupported database URL scheme {url.drivername!r}: use a file path or postgresql://")
    return url


def sqlite_path(database):
    """The file of a SQLite path or `sqlite:///` URL; None for PostgreSQL."""
    url = database_url(database)
    return url.database if url.get_backend_name() == "sqlite" else None


def describe(database):
    """How messages name a database: the SQLite file's path, or the URL without its password."""
    url = database_url(database)
    return url.database if url.get_backend_name() == "sqlite" else url.render_as_string(hide_password=True)


def dialect_of(database):
    """"sqlite" or "postgresql" for a path or URL, without connecting."""
    return database_url(database).get_backend_name()


def engine(database):
    """The one Engine (and pool) of this process for `database`."""
    given = str(database)
    found = _given.get(given)
    if found is not None:
        return found
    url = database_url(database)
    key = url.render_as_string(hide_password=False)
    with _engines_lock:
        found = _engines.get(key)
        if found is None:
            found = _engines[key] = _make_engine(url)
        if "://" in given or os.path.isabs(given):
            _given[given] = found
        return found


def _make_engine(url):
    if url.get_backend_name() == "sqlite":
        if url.database in (None, "", ":memory:"):
            raise ValueError("the site's database is a file (SQLite in WAL mode), not an in-memory database")
        made = sqlalchemy.create_engine(url, isolation_level="AUTOCOMMIT", pool_size=POOL_SIZE,
                                        max_overflow=POOL_OVERFLOW, hide_parameters=True,
                                        connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})
        path = url.database

        @event.listens_for(made, "do_connect")
        def _private(dialect, record, cargs, cparams):
            try:
                private_file(path)  # a new file is made 0600 first, so it and its -wal/-shm are private
            except OSError:
                pass  # a missing folder or a read-only disk: the connect reports it as a database error

        @event.listens_for(made, "connect")
        def _pragmas(dbapi_connection, record):
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
                cursor.execute("PRAGMA journal_mode = WAL")
                cursor.execute("PRAGMA synchronous = FULL")
                cursor.execute("PRAGMA foreign_keys = ON")
                cursor.execute("PRAGMA secure_delete = ON")  # erased rows must not linger in free pages of the file
            finally:
                cursor.close()
            record.info["busy_timeout_ms"] = BUSY_TIMEOUT_MS
            record.info["file_id"] = _file_id(path)

        @event.listens_for(made, "checkout")
        def _same_file(dbapi_connection, record, proxy):
            # A pooled connection keeps its file open: if the file was deleted or replaced since (by hand, by a
            # restore), writing through it would go to a file nobody reads. It is dropped and a new one opened,
            # which meets what is there now (no tables: a 500 for the deployer to see, never a lost request).
            if record.info.get("file_id") != _file_id(path):
                raise exc.DisconnectionError("the database file was replaced or removed")
    else:
        # pre-ping: a server restarted since a connection was pooled costs one reconnect, not a failed page
        made = sqlalchemy.create_engine(url, isolation_level="AUTOCOMMIT", pool_size=POOL_SIZE,
                                        max_overflow=POOL_OVERFLOW, pool_pre_ping=True, hide_parameters=True,
                                        connect_args={"connect_timeout": 5, "application_name": "clinic"})

        @event.listens_for(made, "connect")
        def _session(dbapi_connection, record):
            with dbapi_connection.cursor() as cursor:
                cursor.execute(f"SET lock_timeout = {BUSY_TIMEOUT_MS}")
            record.info["busy_timeout_ms"] = BUSY_TIMEOUT_MS

    if url.get_backend_name() == "postgresql":
        event.listen(made, "handle_error", _terse)  # first: DatabaseBusy.from_error then wraps the terse error
    event.listen(made, "handle_error", _as_busy, retval=True)
    return made


def _file_id(path):
    try:
        found = os.stat(path)
    except OSError:
        return None
    return found.st_dev, found.st_ino


def dispose(database=None, *, close=True):
    """Close the pooled connections of one database, or of all (after a restore replaced the file; in tests)."""
    with _engines_lock:
        _given.clear()
        if database is None:
            doomed = list(_engines.values())
            _engines.clear()
        else:
            doomed = [_engines.pop(database_url(database).render_as_string(hide_password=False), None)]
    for made in doomed:
        if made is not None:
            made.dispose(close=close)


# A forked child (gunicorn's workers) must never share its parent's SQLite or PostgreSQL connections.
os.register_at_fork(after_in_child=lambda: [made.dispose(close=False) for made in list(_engines.values())])


def connect(database, *, busy_timeout_ms=BUSY_TIMEOUT_MS):
    """A pooled connection to `database` (a SQLite path or a URL); `close()` returns it to the pool.

    `busy_timeout_ms` is how long a statement waits for another writer's lock before DatabaseBusy (SQLite's
    busy timeout, PostgreSQL's lock_timeout); it is set on the pooled connection only when it changes."""
    try:
        conn = engine(database).connect()
    except DatabaseBusy:
        raise
    except exc.DBAPIError as error:
        reason = busy_reason(error)
        if reason is not None:
            raise DatabaseBusy.from_error(error, reason) from error
        raise
    try:
        _set_busy_timeout(conn, int(busy_timeout_ms))
    except BaseException:
        conn.close()
        raise
    return conn


def _set_busy_timeout(conn, busy_timeout_ms):
    info = conn.connection.info
    if info.get("busy_timeout_ms") == busy_timeout_ms:
        return
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql(f"PRAGMA busy_timeout = {busy_timeout_ms}")
    else:
        conn.exec_driver_sql(f"SET lock_timeout = {busy_timeout_ms}")
    info["busy_timeout_ms"] = busy_timeout_ms


def is_sqlite(conn):
    return conn.dialect.name == "sqlite"


def in_transaction(conn):
    return bool(conn.info.get("in_transaction"))


class transaction:
    """`with transaction(conn):` runs BEGIN (IMMEDIATE on SQLite) ... COMMIT, or ROLLBACK on error.

    On SQLite the write lock is taken at BEGIN, so a count read inside decides a write nobody else can race.
    PostgreSQL runs READ COMMITTED: a read that decides a write takes a row lock (`SELECT ... FOR UPDATE`) or an
    advisory lock (`advisory_lock`) inside the transaction.
    """

    def __init__(self, conn):
        self.conn = conn

    def __enter__(self):
        if in_transaction(self.conn):
            raise RuntimeError("transaction(conn) does not nest: this connection is already in one")
        self.conn.exec_driver_sql("BEGIN IMMEDIATE" if is_sqlite(self.conn) else "BEGIN")
        self.conn.info["in_transaction"] = True
        return self.conn

    def __exit__(self, exc_type, exc_value, tb):
        try:
            if exc_type is None:
                self.conn.exec_driver_sql("COMMIT")
            else:
                try:
                    self.conn.exec_driver_sql("ROLLBACK")
                except exc.DBAPIError:
                    pass
        finally:
            self.conn.info["in_transaction"] = False
        return False


def advisory_lock(conn, name):
    """Inside a transaction: wait for (then hold until it ends) a lock named `name`, shared by every process and
    host. PostgreSQL: pg_advisory_xact_lock on a 64-bit hash of the name. SQLite: a no-op, since BEGIN IMMEDIATE
    already holds the one write lock."""
    if not in_transaction(conn):
        raise RuntimeError("advisory_lock(conn, name) needs an open transaction(conn)")
    if not is_sqlite(conn):
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:name, 0))"), {"name": name})


def try_advisory_lock(conn, name):
    """Inside a transaction: take the lock named `name` if free (True) or give up at once (False). SQLite: True."""
    if not in_transaction(conn):
        raise RuntimeError("try_advisory_lock(conn, name) needs an open transaction(conn)")
    if is_sqlite(conn):
        return True
    return bool(conn.execute(text("SELECT pg_try_advisory_xact_lock(hashtextextended(:name, 0))"),
                             {"name": name}).scalar())


def constraint_name(error):
    """The constraint an IntegrityError broke: PostgreSQL names it; SQLite names the columns ("requests.reference")."""
    original = getattr(error, "orig", error)
    diag = getattr(original, "diag", None)
    if diag is not None and getattr(diag, "constraint_name", None):
        return diag.constraint_name
    message = str(original)
    for prefix in ("UNIQUE constraint failed: ", "NOT NULL constraint failed: ", "CHECK constraint failed: "):
        if message.startswith(prefix):
            return message[len(prefix):]
    return message


def unique_violation(error, *columns):
    """True when `error` is a UNIQUE (or primary key) violation on exactly `columns` ("table.column" ...)."""
    if not isinstance(error, exc.IntegrityError):
        return False
    original = error.orig
    state = getattr(original, "sqlstate", None)
    if state is not None:
        if state != "23505":
            return False
        # PostgreSQL names the constraint; ours are "<table>_<column>_key" (the default for a UNIQUE column)
        table = columns[0].split(".")[0]
        wanted = table + "_" + "_".join(c.split(".")[1] for c in columns) + "_key"
        return constraint_name(error) == wanted
    return str(original) == "UNIQUE constraint failed: " + ", ".join(columns)


def row_lock(conn):
    """" FOR UPDATE" to append to a SELECT inside a transaction on PostgreSQL (the rows read stay locked until it
    ends); "" on SQLite, whose BEGIN IMMEDIATE already keeps every other writer out."""
    return "" if is_sqlite(conn) else " FOR UPDATE"
