"""Migrated PostgreSQL databases for the tests that run on both databases, reused instead of made per test.

A test marked both_databases gets, in its [postgresql] run, a database of the session's cluster at the head
version with no rows. Making one per test (CREATE DATABASE ... TEMPLATE, a checkpoint and a file copy) took 0.5 to
1 s on the shared 2-core machine, more than most of those tests themselves; emptying one that a finished test used
takes a few milliseconds. So a finished test's database goes back to a pool:

  - every other connection to it is ended first (the app's pool is disposed; a thread or a gunicorn worker the
    test left behind is terminated), so no lock, transaction or session setting outlives the test;
  - its schema is compared with the template's by a fingerprint of pg_catalog (columns and their types,
    constraints, indexes, triggers and whether they are enabled, functions, grants): a test that dropped a
    column, a trigger or a privilege gets its database dropped, never reused;
  - every table is emptied with triggers and foreign keys off (session_replication_role = replica: the audit
    trail's append-only trigger would refuse the DELETE) and every sequence starts again at 1, as in a new
    database, except schema_version, the migrator's own row, which stays (and is in the fingerprint).
"""
import threading

from clinic import db as clinic_db

VERSION_TABLE = "schema_version"

FINGERPRINT = """
SELECT ARRAY[
  (SELECT string_agg(format('%s.%s %s %s %s %s', c.relname, a.attname, format_type(a.atttypid, a.atttypmod),
                            a.attnotnull, pg_get_expr(d.adbin, d.adrelid), c.relacl), ', ' ORDER BY c.relname, a.attnum)
     FROM pg_class c
     JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
     LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
    WHERE c.relnamespace = current_schema()::regnamespace),
  (SELECT string_agg(format('%s %s', conname, pg_get_constraintdef(oid)), ', ' ORDER BY conname)
     FROM pg_constraint WHERE connamespace = current_schema()::regnamespace),
  (SELECT string_agg(pg_get_indexdef(i.indexrelid), ', ' ORDER BY 1)
     FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relnamespace = current_schema()::regnamespace),
  (SELECT string_agg(format('%s %s %s', t.tgname, t.tgenabled, pg_get_triggerdef(t.oid)), ', ' ORDER BY t.tgname)
     FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
    WHERE c.relnamespace = current_schema()::regnamespace AND NOT t.tgisinternal),
  (SELECT string_agg(format('%s %s %s', p.proname, md5(p.prosrc), p.proacl), ', ' ORDER BY p.proname)
     FROM pg_proc p WHERE p.pronamespace = current_schema()::regnamespace),
  (SELECT string_agg(format('%s %s', c.relname, c.relrowsecurity), ', ' ORDER BY c.relname)
     FROM pg_class c WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r'),
  (SELECT coalesce(datacl::text, '') FROM pg_database WHERE datname = current_database()),
  (SELECT string_agg(version::text, ', ') FROM schema_version)
]
"""

OTHERS = ("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
          "WHERE datname = current_database() AND pid <> pg_backend_pid()")


class MigratedDatabases:
    """Databases of `cluster` copied from the migrated template `template`, handed out one per test and reused."""

    def __init__(self, cluster, template):
        self.cluster = cluster
        self.template = template
        self._free = []
        self._lock = threading.Lock()
        self._fingerprint = None
        self._empty_script = None
        self.made = self.reused = self.dropped = 0
        self.last_change = None  # which parts of the fingerprint a dropped database's test changed

    def acquire(self):
        with self._lock:
            if self._free:
                self.reused += 1
                return self._free.pop()
        self.made += 1
        url = self.cluster.new_database(template=self.template)
        if self._fingerprint is None:
            self._learn(url)
        return url

    def _learn(self, url):
        conn = clinic_db.connect(url)
        try:
            self._fingerprint = list(conn.execute(clinic_db.text(FINGERPRINT)).scalar())
            tables = conn.execute(clinic_db.text(
                "SELECT quote_ident(tablename) FROM pg_catalog.pg_tables WHERE schemaname = current_schema() "
                "AND tablename <> :version_table ORDER BY tablename"), {"version_table": VERSION_TABLE}).scalars().all()
            sequences = conn.execute(clinic_db.text(
                "SELECT quote_ident(sequencename) FROM pg_catalog.pg_sequences WHERE schemaname = current_schema() "
                "ORDER BY sequencename")).scalars().all()
        finally:
            conn.close()
        self._empty_script = "".join([
            "SET session_replication_role = replica;",
            *(f"DELETE FROM {table};" for table in tables),
            *(f"SELECT setval('{sequence}', 1, false);" for sequence in sequences),
            "RESET session_replication_role;",
        ])

    def release(self, url):
        """Empty the database and keep it for the next test, or drop it if the test changed its schema."""
        clinic_db.dispose(url)
        admin = clinic_db.connect(url)
        try:
            admin.exec_driver_sql(OTHERS)
            found = list(admin.execute(clinic_db.text(FINGERPRINT)).scalar())
            same = found == self._fingerprint
            if not same:
                self.last_change = [(i, a, b) for i, (a, b) in enumerate(zip(self._fingerprint, found)) if a != b]
            if same:
                admin.exec_driver_sql(self._empty_script)
        finally:
            admin.close()
            clinic_db.dispose(url)
        if same:
            with self._lock:
                self._free.append(url)
            return
        self.dropped += 1
        name = url.rsplit("/", 1)[1]
        self.cluster.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
