"""Versioned schema: numbered migration files in clinic/migrations/, the database's version in PRAGMA user_version
(SQLite) or the one-row table schema_version (PostgreSQL).

Each migration runs in its own transaction with its new version number, so a failure leaves the database at the
last version that completed. SQLite: foreign keys are off while one runs (SQLite's table-rebuild recipe needs
that) and `PRAGMA foreign_key_check` must come back empty before it commits.

PostgreSQL (a `postgresql://` URL): no PostgreSQL database existed before version 10, so its migrations are
clinic/migrations/postgresql/: a baseline NNNN_baseline.sql that makes the head schema of that day at once, then
one file for every later number, beside the SQLite one (`migrations(dialect="postgresql")` refuses a number
without its PostgreSQL twin). Each runs in a transaction holding an advisory lock, so two hosts running
`db upgrade` at once apply it once. `check()` compares the database's shape, read from pg_catalog into a
dialect-neutral form (`neutral_shape`), with the neutral shape of the SQLite migrations at the same version.
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

from sqlalchemy import text

from clinic import backup
from clinic.db import DatabaseError, advisory_lock, describe, dialect_of, transaction
from clinic.db import connect as pooled_connect
from clinic.private_files import private_folder, tighten_database

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
POSTGRESQL_DIR = "postgresql"  # under the migrations folder: the PostgreSQL files
FILE_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.(sql|py)$")
BASELINE_NAME = re.compile(r"^\d{4}_baseline\.sql$")
UPGRADE_LOCK = "clinic.migrate.upgrade"  # the advisory lock every PostgreSQL migration's transaction holds
UPGRADE_LOCK_WAIT_MS = 10 * 60 * 1000  # how long a second host's `db upgrade` waits for the first one's migration
VERSION_TABLE = "schema_version"  # PostgreSQL: the migrator's one-row table, not part of the compared shape
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

    @property
    def postgresql(self):
        return self.path.parent.name == POSTGRESQL_DIR

    def apply(self, conn):
        """Run inside the caller's transaction: SQL statement by statement, or a .py file's upgrade(conn).
        A PostgreSQL .sql file goes to the server as one script (functions with $$ bodies stay whole)."""
        if self.postgresql and self.path.suffix == ".sql":
            driver_connection(conn).execute(self.path.read_text(encoding="utf-8"))
            return
        if self.path.suffix == ".sql":
            for statement in statements(self.path.read_text(encoding="utf-8")):
                conn.execute(statement)
            return
        spec = importlib.util.spec_from_file_location(f"clinic_migration_{self.version:04d}", self.path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        module.upgrade(conn)


def _numbered_files(directory):
    found = []
    for path in sorted(Path(directory).iterdir()):
        if path.is_dir() or path.name.startswith(("_", ".")) or path.suffix not in (".sql", ".py"):
            continue
        match = FILE_NAME.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: migration files are named NNNN_what_it_does.sql or .py")
        found.append(Migration(int(match.group(1)), path))
    return found


def migrations(directory=MIGRATIONS_DIR, dialect="sqlite"):
    """Every migration in order. SQLite's numbering must run 1, 2, 3 ... without gaps or twins.

    dialect="postgresql": the files in the folder's postgresql/ subfolder: first NNNN_baseline.sql (the schema
    SQLite reaches at NNNN, made at once), then exactly one file for each later SQLite number, none beyond."""
    found = _numbered_files(directory)
    for expected, migration in enumerate(found, start=1):
        if migration.version != expected:
            raise MigrationError(f"{migration.name}: expected number {expected:04d} (one file per number, no gaps)")
    if dialect == "sqlite":
        return found
    if dialect != "postgresql":
        raise MigrationError(f"no migrations for the {dialect} database")
    folder = Path(directory) / POSTGRESQL_DIR
    ours = _numbered_files(folder) if folder.is_dir() else []
    if not ours or not BASELINE_NAME.match(ours[0].name):
        raise MigrationError(f"{folder}: PostgreSQL migrations start with a baseline, NNNN_baseline.sql")
    if ours[0].version > len(found):
        raise MigrationError(f"{POSTGRESQL_DIR}/{ours[0].name}: there is no SQLite migration {ours[0].version:04d}")
    for expected, migration in enumerate(ours, start=ours[0].version):
        if migration.version != expected:
            raise MigrationError(f"{POSTGRESQL_DIR}/{migration.name}: expected number {expected:04d} "
                                 "(one PostgreSQL file per number after the baseline, no gaps)")
        if expected > len(found):
            raise MigrationError(f"{POSTGRESQL_DIR}/{migration.name}: there is no SQLite migration {expected:04d}")
    for sqlite_migration in found[ours[-1].version:]:
        raise MigrationError(f"{sqlite_migration.name} has no PostgreSQL twin: add {POSTGRESQL_DIR}/"
                             f"{sqlite_migration.version:04d}_<what it does>.sql (README \"How to add a migration\")")
    return ours


def head(directory=MIGRATIONS_DIR):
    """The version this code needs: the highest migration number (the same on both databases)."""
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
    """The driver's connection (sqlite3's, psycopg's) for a pooled SQLAlchemy one; a driver connection as it is."""
    return conn.connection.dbapi_connection if hasattr(conn, "exec_driver_sql") else conn


def is_postgresql(conn):
    """True for a pooled connection to PostgreSQL; a bare sqlite3 connection is SQLite."""
    return getattr(getattr(conn, "dialect", None), "name", "sqlite") == "postgresql"


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
    """The database's schema version: PRAGMA user_version, or PostgreSQL's schema_version row (0 without one)."""
    if is_postgresql(conn):
        # pg_tables, read with the statement's snapshot: to_regclass() would answer from this backend's catalog
        # cache, which can still say "no such table" inside a transaction that waited for the upgrade lock
        # while another host created it.
        if conn.execute(text("SELECT 1 FROM pg_catalog.pg_tables WHERE schemaname = current_schema() "
                             "AND tablename = :table"), {"table": VERSION_TABLE}).first() is None:
            return 0
        return conn.execute(text("SELECT COALESCE(MAX(version), 0) FROM schema_version")).scalar()
    return driver_connection(conn).execute("PRAGMA user_version").fetchone()[0]


def has_tables(conn):
    if is_postgresql(conn):
        return conn.execute(text("SELECT 1 FROM pg_catalog.pg_tables WHERE schemaname = current_schema() "
                                 "AND tablename <> :table LIMIT 1"), {"table": VERSION_TABLE}).first() is not None
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
    return _read_new_database(version, directory, shape)


def _read_new_database(version, directory, read):
    """`read` of a new in-memory SQLite database that migrations 1..version made."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    try:
        for migration in migrations(directory)[:version]:
            _apply(conn, migration)
        return read(conn)
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
    if is_postgresql(conn):
        return differences(neutral_shape(conn), expected_neutral_shape(version, directory))
    return differences(shape(conn), expected_shape(version, directory))


# --- a shape both databases can be compared in ------------------------------------------------------------------
# Tables -> (column, kind, not null, position in the primary key, default) in column order; unique column sets
# and other indexes with their columns; foreign keys with ON DELETE; triggers by name. Kinds are "integer",
# "text", "bytes"; a case-insensitive column in an index (SQLite COLLATE NOCASE, PostgreSQL lower(col)) reads
# "lower(col)". Constraint names SQLite makes up (sqlite_autoindex_*) are left out: unique sets are compared
# by their columns. CHECK constraints are not compared here (the SQL differs, GLOB against ~):
# tests/test_check_constraints.py holds every CHECKed column to the same bad and good values on both databases.
_SQLITE_KINDS = {"INTEGER": "integer", "TEXT": "text", "BLOB": "bytes"}
_PG_KINDS = {"bigint": "integer", "integer": "integer", "smallint": "integer", "text": "text", "bytea": "bytes"}


def _neutral_default(value):
    if value is None:
        return None
    value = str(value).strip()
    value = re.sub(r"::[a-z ]+$", "", value)  # PostgreSQL's cast: '{}'::text
    return value[1:-1] if value.startswith("(") and value.endswith(")") else value


def neutral_shape(conn):
    """The dialect-neutral shape of the database behind `conn` (SQLite or PostgreSQL)."""
    return _pg_neutral_shape(conn) if is_postgresql(conn) else _sqlite_neutral_shape(driver_connection(conn))


def _sqlite_neutral_shape(conn):
    objects = {}

    def quoted(name):
        return '"' + name.replace('"', '""') + '"'

    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_schema WHERE type = 'table' "
                                         "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name")]
    for table in tables:
        columns = conn.execute(f"PRAGMA table_info({quoted(table)})").fetchall()
        objects[("table", table)] = tuple(
            (name, _SQLITE_KINDS.get(kind.upper(), kind.lower()), bool(notnull or pk), pk, _neutral_default(default))
            for _, name, kind, notnull, default, pk in columns)
        for _seq, index, unique, origin, _partial in conn.execute(f"PRAGMA index_list({quoted(table)})").fetchall():
            if origin == "pk":
                continue
            parts = tuple(f"lower({r[2]})" if (r[4] or "").upper() == "NOCASE" else r[2]
                          for r in conn.execute(f"PRAGMA index_xinfo({quoted(index)})").fetchall() if r[5])
            if unique:
                objects[("unique", f"{table}({', '.join(parts)})")] = (table, *parts)
            else:
                objects[("index", index)] = (table, *parts)
        for fk in _group_foreign_keys(conn.execute(f"PRAGMA foreign_key_list({quoted(table)})").fetchall()):
            objects[("foreign key", f"{table}({', '.join(fk[0])})")] = (table, *fk)
    for name, table in conn.execute("SELECT name, tbl_name FROM sqlite_schema WHERE type = 'trigger'"):
        objects[("trigger", name)] = (table,)
    return objects


def _group_foreign_keys(rows):
    """PRAGMA foreign_key_list rows -> (from columns, table, to columns, on delete) per foreign key."""
    keys = {}
    for key_id, _seq, table, source, target, _on_update, on_delete, _match in rows:
        keys.setdefault(key_id, (table, [], [], on_delete.upper()))
        keys[key_id][1].append(source)
        keys[key_id][2].append(target)
    return [(tuple(sources), table, tuple(targets), on_delete) for table, sources, targets, on_delete in keys.values()]


def _unquoted(part):
    """A column pg_get_indexdef quoted because its name is a keyword ("position"), as its plain name."""
    return part[1:-1].replace('""', '"') if len(part) > 1 and part[0] == part[-1] == '"' else part


_PG_ON_DELETE = {"a": "NO ACTION", "r": "RESTRICT", "c": "CASCADE", "n": "SET NULL", "d": "SET DEFAULT"}


def _pg_neutral_shape(conn):
    objects = {}
    columns = conn.execute(text("""
        SELECT c.relname AS table_name, a.attname AS column_name, format_type(a.atttypid, NULL) AS kind,
               a.attnotnull AS not_null, pg_get_expr(d.adbin, d.adrelid) AS column_default,
               COALESCE(array_position(pk.conkey, a.attnum), 0) AS pk
          FROM pg_catalog.pg_class c
          JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace AND n.nspname = current_schema()
          JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
          LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
          LEFT JOIN pg_catalog.pg_constraint pk ON pk.conrelid = c.oid AND pk.contype = 'p'
         WHERE c.relkind = 'r' AND c.relname <> :version_table
         ORDER BY c.relname, a.attnum"""), {"version_table": VERSION_TABLE}).mappings().all()
    tables = {}
    for row in columns:
        tables.setdefault(row["table_name"], []).append((
            row["column_name"], _PG_KINDS.get(row["kind"], row["kind"]), bool(row["not_null"]), int(row["pk"]),
            _neutral_default(row["column_default"])))
    for table, found in tables.items():
        objects[("table", table)] = tuple(found)
    indexes = conn.execute(text("""
        SELECT t.relname AS table_name, i.relname AS index_name, x.indisunique AS is_unique,
               ARRAY(SELECT pg_get_indexdef(x.indexrelid, k, true) FROM generate_series(1, x.indnkeyatts) AS k
                     ORDER BY k) AS parts
          FROM pg_catalog.pg_index x
          JOIN pg_catalog.pg_class i ON i.oid = x.indexrelid
          JOIN pg_catalog.pg_class t ON t.oid = x.indrelid
          JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace AND n.nspname = current_schema()
         WHERE NOT x.indisprimary AND t.relname <> :version_table
         ORDER BY i.relname"""), {"version_table": VERSION_TABLE}).mappings().all()
    for row in indexes:
        parts = tuple(_unquoted(part) for part in row["parts"])
        table = row["table_name"]
        if row["is_unique"]:
            objects[("unique", f"{table}({', '.join(parts)})")] = (table, *parts)
        else:
            objects[("index", row["index_name"])] = (table, *parts)
    keys = conn.execute(text("""
        SELECT t.relname AS table_name, r.relname AS target_table, k.confdeltype AS on_delete,
               ARRAY(SELECT a.attname FROM unnest(k.conkey) WITH ORDINALITY AS u(attnum, pos)
                     JOIN pg_catalog.pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.attnum
                     ORDER BY u.pos) AS sources,
               ARRAY(SELECT a.attname FROM unnest(k.confkey) WITH ORDINALITY AS u(attnum, pos)
                     JOIN pg_catalog.pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = u.attnum
                     ORDER BY u.pos) AS targets
          FROM pg_catalog.pg_constraint k
          JOIN pg_catalog.pg_class t ON t.oid = k.conrelid
          JOIN pg_catalog.pg_class r ON r.oid = k.confrelid
          JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace AND n.nspname = current_schema()
         WHERE k.contype = 'f'""")).mappings().all()
    for row in keys:
        sources = tuple(row["sources"])
        objects[("foreign key", f"{row['table_name']}({', '.join(sources)})")] = (
            row["table_name"], sources, row["target_table"], tuple(row["targets"]), _PG_ON_DELETE[row["on_delete"]])
    triggers = conn.execute(text("""
        SELECT g.tgname AS name, t.relname AS table_name FROM pg_catalog.pg_trigger g
          JOIN pg_catalog.pg_class t ON t.oid = g.tgrelid
          JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace AND n.nspname = current_schema()
         WHERE NOT g.tgisinternal""")).mappings().all()
    for row in triggers:
        objects[("trigger", row["name"])] = (row["table_name"],)
    return objects


@lru_cache(maxsize=8)
def expected_neutral_shape(version, directory=MIGRATIONS_DIR):
    """The neutral shape SQLite migrations 1..version give a new database: what PostgreSQL must match too."""
    return _read_new_database(version, directory, _sqlite_neutral_shape)


# --- changing it ------------------------------------------------------------------------------------------------
def upgrade(path, *, backup_dir=None, directory=MIGRATIONS_DIR, report=lambda line: None, uploads_dir=None):
    """Bring the database at `path` to the head version; returns the versions applied.

    With `backup_dir`, a checked backup is written there first (only when there is data and something to do).
    A database from before versioned migrations is checked against version 1's shape and stamped, data untouched.
    `path` may be a `postgresql://` URL (then `uploads_dir` goes into the pg_dump backup's files folder).
    """
    if dialect_of(path) == "postgresql":
        return _pg_upgrade(path, backup_dir, directory, report, uploads_dir)
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


# --- PostgreSQL ---------------------------------------------------------------------------------------------------
def _pg_upgrade(url, backup_dir, directory, report, uploads_dir):
    from clinic import pg_backup  # pg_dump/pg_restore: only when there is a PostgreSQL database to back up

    pending = migrations(directory, dialect="postgresql")  # refuses a number without its PostgreSQL file first
    conn = pooled_connect(url, busy_timeout_ms=UPGRADE_LOCK_WAIT_MS)
    try:
        state = status(conn, directory)
        if state.ahead:
            raise SchemaMismatch(ahead_message(describe(url), state))
        if state.unversioned:
            raise MigrationError(unversioned_pg_message(describe(url)))
        if not state.behind:
            return []
        if backup_dir is not None and not state.empty:
            private_folder(backup_dir)  # an existing directory gets a dated file
            result = pg_backup.backup(url, backup_dir, uploads_dir=uploads_dir)
            report(f"Backup written to {result.path} ({result.size_bytes} bytes, integrity ok)")
        applied = []
        for migration in pending:
            if _pg_apply_in_transaction(conn, migration, pending[0]):
                report(f"Applied {POSTGRESQL_DIR}/{migration.name}")
                applied.append(migration.version)
        return applied
    finally:
        conn.close()


def unversioned_pg_message(where):
    return (f"The PostgreSQL database {where} has tables but no schema version: `{UPGRADE_COMMAND}` did not make "
            "it, and no migration knows its shape. Use an empty database, or restore a backup `db backup` made.")


def _pg_apply_in_transaction(conn, migration, baseline):
    """One migration and its version in one transaction under the upgrade lock; False if another host did it."""
    try:
        with transaction(conn):
            advisory_lock(conn, UPGRADE_LOCK)  # a second host waits here, then finds the version moved on
            current = user_version(conn)
            if current >= migration.version:
                return False
            if migration is baseline:
                if current != 0 or has_tables(conn):
                    raise MigrationError(unversioned_pg_message(describe(conn.engine.url)))
                conn.execute(text("CREATE TABLE IF NOT EXISTS schema_version ("
                                  "one_row boolean PRIMARY KEY DEFAULT true CHECK (one_row), "
                                  "version integer NOT NULL)"))
            elif current != migration.version - 1:
                raise MigrationError(f"{migration.name} needs version {migration.version - 1}, the database is at {current}")
            try:
                migration.apply(conn)
            except (DatabaseError, sqlite3.Error) as error:
                raise MigrationError(f"{POSTGRESQL_DIR}/{migration.name} failed: {_first_line(error)}") from error
            except Exception as error:
                if type(error).__module__.startswith("psycopg"):
                    raise MigrationError(f"{POSTGRESQL_DIR}/{migration.name} failed: {_first_line(error)}") from error
                raise
            conn.execute(text("INSERT INTO schema_version (one_row, version) VALUES (true, :version) "
                              "ON CONFLICT (one_row) DO UPDATE SET version = excluded.version"),
                         {"version": migration.version})
    except DatabaseError as error:
        raise MigrationError(f"{POSTGRESQL_DIR}/{migration.name} failed: {_first_line(error)}") from error
    return True


def _first_line(error):
    message = str(getattr(error, "orig", None) or error).strip()
    return message.splitlines()[0] if message else type(error).__name__


def _pg_check(url, directory):
    conn = pooled_connect(url)
    try:
        where = describe(url)
        state = status(conn, directory)
        if state.ahead:
            raise SchemaMismatch(ahead_message(where, state))
        if state.unversioned:
            raise MigrationError(unversioned_pg_message(where))
        if state.behind or state.empty:
            raise SchemaMismatch(behind_message(where, state))
        problems = shape_problems(conn, state.head, directory)
    finally:
        conn.close()
    if problems:
        raise MigrationError(f"The database {where} is at schema version {state.head} but its tables differ from what "
                             "the migrations make: " + "; ".join(problems[:10]))


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
    if dialect_of(path) == "postgresql":
        return _pg_check(path, directory)
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
