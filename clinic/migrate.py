"""Versioned schema: numbered migration files in clinic/migrations/, the database's version in PRAGMA user_version.

Each migration runs in its own transaction with its new version number, so a failure leaves the database at the
last version that completed. Foreign keys are off while one runs (SQLite's table-rebuild recipe needs that) and
`PRAGMA foreign_key_check` must come back empty before it commits.
"""
import importlib.util
import re
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from clinic import backup
from clinic.db import connect as pooled_connect
from clinic.db import describe
from clinic.private_files import private_folder, tighten_database

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
FILE_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.(sql|py)$")
RELEASED_VERSION = 1  # what a database made before versioned migrations holds (user_version 0, tables present)
UPGRADE_COMMAND = "flask --app app db upgrade"


class MigrationError(RuntimeError):
    """A migration could not run, or the database is not in a shape any migration expects."""


class SchemaMismatch(MigrationError):
    """The database's version is not the one this code needs; the message says what to run."""


@dataclass(frozen=True)
class Migration:
    version: int
    path: Path

    @property
    def name(self):
        return self.path.name

    def apply(self, conn):
        """Run inside the caller's transaction: SQL statement by statement, or a .py file's upgrade(conn)."""
        if self.path.suffix == ".sql":
            for statement in statements(self.path.read_text(encoding="utf-8")):
                conn.execute(statement)
            return
        spec = importlib.util.spec_from_file_location(f"clinic_migration_{self.version:04d}", self.path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        module.upgrade(conn)


def migrations(directory=MIGRATIONS_DIR):
    """Every migration in order; numbering must run 1, 2, 3 ... without gaps or twins."""
    found = []
    for path in sorted(Path(directory).iterdir()):
        if path.name.startswith(("_", ".")) or path.suffix not in (".sql", ".py"):
            continue
        match = FILE_NAME.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: migration files are named NNNN_what_it_does.sql or .py")
        found.append(Migration(int(match.group(1)), path))
    for expected, migration in enumerate(found, start=1):
        if migration.version != expected:
            raise MigrationError(f"{migration.name}: expected number {expected:04d} (one file per number, no gaps)")
    return found


def head(directory=MIGRATIONS_DIR):
    """The version this code needs: the highest migration number."""
    return len(migrations(directory))


def statements(sql):
    """Split a script into complete statements (a trigger's BEGIN ... END stays whole). Comments-only text is dropped."""
    result, pending = [], ""
    for piece in sql.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if _strip_comments(pending).strip(" \t\r\n;"):
                result.append(pending.strip())
            pending = ""
    if _strip_comments(pending).strip(" \t\r\n;"):
        raise MigrationError(f"unfinished SQL statement at the end: {pending.strip()[:80]!r}")
    return result


def _strip_comments(sql):
    return re.sub(r"--[^\n]*|/\*.*?\*/", "", sql, flags=re.S)


@contextmanager
def connect(path):
    """The driver's own sqlite3 connection under a pooled one (clinic/db.py): migrations are SQLite scripts run
    as they are, statement by statement, with SQLite's own transaction and pragma handling."""
    conn = pooled_connect(path)
    try:
        yield driver_connection(conn)
    finally:
        conn.close()


def driver_connection(conn):
    """sqlite3's connection for a pooled SQLAlchemy one; a sqlite3 connection as it is."""
    return conn.connection.dbapi_connection if hasattr(conn, "exec_driver_sql") else conn


# --- what a database holds ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Status:
    version: int  # PRAGMA user_version; RELEASED_VERSION for an unversioned database from the released code
    head: int
    empty: bool  # no tables at all: a new database
    unversioned: bool  # user_version 0 but tables present: made by the code released before migrations

    @property
    def behind(self):
        return self.version < self.head or self.unversioned

    @property
    def ahead(self):
        return self.version > self.head

    def describe(self):
        if self.empty:
            return "a new, empty database"
        if self.unversioned:
            return "a database from before versioned migrations"
        return f"schema version {self.version}"


def user_version(conn):
    return driver_connection(conn).execute("PRAGMA user_version").fetchone()[0]


def has_tables(conn):
    return driver_connection(conn).execute(
        "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' LIMIT 1"
    ).fetchone() is not None


def status(conn, directory=MIGRATIONS_DIR):
    version, tables = user_version(conn), has_tables(conn)
    unversioned = version == 0 and tables
    return Status(version=RELEASED_VERSION if unversioned else version, head=head(directory),
                  empty=not tables, unversioned=unversioned)


def shape(conn):
    """Tables with their columns, indexes with their columns, triggers: what the code relies on, comparable."""
    objects = {}
    conn = driver_connection(conn)
    rows = conn.execute("SELECT type, name, tbl_name FROM sqlite_schema "
                        "WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY type, name").fetchall()
    for kind, name, table in rows:
        quoted = '"' + name.replace('"', '""') + '"'
        if kind == "table":
            detail = tuple((r[1], r[2].upper(), r[3], r[4], r[5]) for r in conn.execute(f"PRAGMA table_xinfo({quoted})"))
        elif kind == "index":
            detail = (table, *(r[2] for r in conn.execute(f"PRAGMA index_info({quoted})")))
        else:
            detail = (table,)
        objects[(kind, name)] = detail
    return objects


@lru_cache(maxsize=8)
def expected_shape(version, directory=MIGRATIONS_DIR):
    """The shape migrations 1..version give a new database (built once per process, in memory)."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    try:
        for migration in migrations(directory)[:version]:
            _apply(conn, migration)
        return shape(conn)
    finally:
        conn.close()


def differences(actual, expected):
    """Readable lines naming each table, column, index or trigger that is missing, extra or different."""
    lines = []
    for key in sorted(expected.keys() | actual.keys()):
        kind, name = key
        if key not in actual:
            lines.append(f"{kind} {name} is missing")
        elif key not in expected:
            lines.append(f"{kind} {name} is not expected")
        elif actual[key] != expected[key]:
            if kind == "table":
                have = {column[0]: column for column in actual[key]}
                want = {column[0]: column for column in expected[key]}
                lines += [f"table {name} has no column {c}" for c in want if c not in have]
                lines += [f"table {name} has an unexpected column {c}" for c in have if c not in want]
                lines += [f"table {name}: column {c} differs" for c in want if c in have and have[c] != want[c]]
            else:
                lines.append(f"{kind} {name} differs")
    return lines


def shape_problems(conn, version, directory=MIGRATIONS_DIR):
    return differences(shape(conn), expected_shape(version, directory))


# --- changing it ------------------------------------------------------------------------------------------------
def upgrade(path, *, backup_dir=None, directory=MIGRATIONS_DIR, report=lambda line: None):
    """Bring the database at `path` to the head version; returns the versions applied.

    With `backup_dir`, a checked backup is written there first (only when there is data and something to do).
    A database from before versioned migrations is checked against version 1's shape and stamped, data untouched.
    """
    private_folder(Path(path).parent)
    tighten_database(path)
    with connect(path) as conn:
        return _upgrade(conn, path, backup_dir, directory, report)


def _upgrade(conn, path, backup_dir, directory, report):
    state = status(conn, directory)
    if state.ahead:
        raise SchemaMismatch(ahead_message(path, state))
    if not state.behind:
        return []
    if backup_dir is not None and not state.empty:
        private_folder(backup_dir)  # an existing directory gets a dated file
        result = backup.backup(path, backup_dir)
        report(f"Backup written to {result.path} ({result.size_bytes} bytes, integrity ok)")
    applied = []
    if state.unversioned:
        _stamp_released(conn, directory)
        report(f"Recognised a database from before versioned migrations: stamped version {RELEASED_VERSION}")
        applied.append(RELEASED_VERSION)
    for migration in migrations(directory)[user_version(conn):]:
        if _apply_in_transaction(conn, migration):
            report(f"Applied {migration.name}")
            applied.append(migration.version)
    return applied


def _check_released_shape(conn, directory):
    problems = shape_problems(conn, RELEASED_VERSION, directory)
    if problems:
        raise MigrationError(
            "This database has no schema version and does not match the first released schema, so no migration "
            "knows how to upgrade it: " + "; ".join(problems[:10]) + ". Restore a backup made by a released version.")


def _stamp_released(conn, directory):
    _check_released_shape(conn, directory)
    conn.execute("BEGIN IMMEDIATE")
    try:
        if user_version(conn) == 0:
            conn.execute(f"PRAGMA user_version = {RELEASED_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _apply_in_transaction(conn, migration):
    """Apply one migration with its version bump in one transaction; False if another process already did."""
    conn.execute("PRAGMA foreign_keys = OFF")  # only takes effect outside a transaction
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            current = user_version(conn)
            if current >= migration.version:
                conn.execute("ROLLBACK")
                return False
            if current != migration.version - 1:
                raise MigrationError(f"{migration.name} needs version {migration.version - 1}, the database is at {current}")
            _apply(conn, migration)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    finally:
        conn.execute("PRAGMA foreign_keys = ON")
    return True


def _apply(conn, migration):
    try:
        migration.apply(conn)
    except sqlite3.Error as error:
        raise MigrationError(f"{migration.name} failed: {error}") from error
    broken = conn.execute("PRAGMA foreign_key_check").fetchall()
    if broken:
        raise MigrationError(f"{migration.name} leaves {len(broken)} rows pointing at nothing (first in {broken[0][0]})")
    conn.execute(f"PRAGMA user_version = {int(migration.version)}")


def rebuild_table(conn, table, create_sql, *, copy=None):
    """Change a table the way SQLite allows (https://sqlite.org/lang_altertable.html#otheralter), for .py migrations.

    `create_sql` is the new `CREATE TABLE <table> (...)`; `copy` maps new column -> SQL expression over the old
    row (default: every column both shapes share, unchanged). The table's indexes and triggers (the audit
    trail's append-only triggers among them) are created again as they were; drop or replace any that change
    afterwards. The runner checks foreign keys before the migration commits.
    """
    quoted = '"' + table.replace('"', '""') + '"'
    keep = conn.execute("SELECT sql FROM sqlite_schema WHERE tbl_name = ? AND type IN ('index', 'trigger') "
                        "AND sql IS NOT NULL ORDER BY type, name", (table,)).fetchall()
    temporary = f"{table}__rebuild"
    new_sql, found = re.subn(rf'^\s*CREATE\s+TABLE\s+("?){re.escape(table)}\1(?=\s|\()', f'CREATE TABLE "{temporary}"',
                             create_sql, count=1, flags=re.I)
    if not found:
        raise MigrationError(f"rebuild_table: create_sql must start with CREATE TABLE {table}")
    conn.execute(new_sql)
    old_columns = [row[1] for row in conn.execute(f"PRAGMA table_info({quoted})")]
    new_columns = [row[1] for row in conn.execute(f'PRAGMA table_info("{temporary}")')]
    copy = copy or {column: f'"{column}"' for column in new_columns if column in old_columns}
    targets = ", ".join(f'"{column}"' for column in copy)
    sources = ", ".join(copy.values())
    conn.execute(f'INSERT INTO "{temporary}" ({targets}) SELECT {sources} FROM {quoted}')  # noqa: S608  # nosec B608 - migration code, no input
    conn.execute(f"DROP TABLE {quoted}")
    conn.execute(f'ALTER TABLE "{temporary}" RENAME TO {quoted}')
    for (sql,) in keep:
        conn.execute(sql)


# --- start-up -------------------------------------------------------------------------------------------------
def behind_message(path, state):
    return (f"The database {path} holds {state.describe()}; this code needs schema version {state.head}. "
            f"Run `{UPGRADE_COMMAND}` (it takes a backup first; on a new database it creates the tables), "
            "then start the site again.")


def ahead_message(path, state):
    return (f"The database {path} is at schema version {state.version}, newer than this code (version {state.head}). "
            "Deploy the code that made it, or restore the backup `db upgrade` took before upgrading.")


def check(path, directory=MIGRATIONS_DIR):
    """For a serving process and the commands that use the database: None when the database is at this code's
    version with the tables the migrations make; else SchemaMismatch (a new, older or newer database, with the
    command to run) or MigrationError (tables that differ). Reads only: nothing here creates or changes a table."""
    with connect(path) as conn:
        path = describe(path)  # for the messages
        state = status(conn, directory)
        if state.ahead:
            raise SchemaMismatch(ahead_message(path, state))
        if state.unversioned:
            _check_released_shape(conn, directory)  # before telling anyone to run an upgrade that cannot work
        if state.behind or state.empty:
            raise SchemaMismatch(behind_message(path, state))
        problems = shape_problems(conn, state.head, directory)
    if problems:
        raise MigrationError(f"The database {path} is at schema version {state.head} but its tables differ from what "
                             "the migrations make: " + "; ".join(problems[:10]))


class Gate:
    """A serving process's answer to "is the database at this code's version?": checked at the first request and
    remembered once it holds; while it does not, checked again at most every `recheck_seconds`, so the site serves
    as soon as `db upgrade` has run, without a restart."""

    def __init__(self, database, recheck_seconds=5.0, clock=time.monotonic):
        self.database = database
        self.recheck_seconds = recheck_seconds
        self.clock = clock
        self._lock = threading.Lock()
        self._ok = False
        self._last = None  # (clock reading, the error) of the last failed check

    def require(self):
        if self._ok:
            return
        with self._lock:
            if self._ok:
                return
            if self._last is not None and self.clock() - self._last[0] < self.recheck_seconds:
                raise self._last[1]
            try:
                check(self.database)
            except MigrationError as error:
                self._last = (self.clock(), error)
                raise
            self._ok, self._last = True, None
