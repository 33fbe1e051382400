"""A throwaway PostgreSQL cluster for tests: Debian's server binaries, its own temporary folder, a free loopback
port, trust authentication, stopped and deleted at the end of the session even when tests fail.

`initdb` refuses to run as root, so when the tests run as root (CI, these machines) every server command runs as
the `postgres` user through `runuser`, in a folder that user owns. The cluster is tuned for tests, not for keeping
data (fsync off): it is deleted afterwards anyway.

Use it through the fixtures in tests/conftest.py:
  - `postgres` (session): the PostgresCluster; `postgres.new_database()` gives a fresh empty database's URL,
    `postgres.new_database(template=postgres.template("migrated", build))` a copy of a database that `build(url)`
    filled once per session (CREATE DATABASE ... TEMPLATE: a file copy, far cheaper than migrating again).
  - `postgres_url` (per test): a fresh empty database's URL.
  - `migrated_pg` (per test): a fresh database at the head schema version (`db upgrade` ran once per session into
    a template, `migrated_template(postgres)`; each test gets a copy). `make_app(DATABASE_URL=migrated_pg)` serves
    on it. Both per-test fixtures close the app's pooled connections and drop the database afterwards.
Under pytest-xdist every worker process starts its own cluster (session fixtures are per worker), so workers never
share a database.

Nothing here needs a Python driver: administration goes through Debian's `psql`.
"""
import atexit
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
from pathlib import Path

import pytest

from tests.support.tools import require_tool  # noqa: F401  # re-exported: fixtures and tests call pg.require_tool

SERVER_USER = "postgres"
START_TIMEOUT_SECONDS = 60


def find_bindir():
    """The folder with initdb/pg_ctl/postgres: $PG_BINDIR, else the newest /usr/lib/postgresql/N/bin, else PATH."""
    wanted = os.environ.get("PG_BINDIR")
    if wanted:
        return Path(wanted) if (Path(wanted) / "initdb").exists() else None
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parent.parent.name))
    if versions:
        return Path(versions[-1]).parent
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def missing_reason():
    """Why a cluster cannot be started here, or None."""
    bindir = find_bindir()
    if bindir is None:
        return "PostgreSQL server binaries (initdb, pg_ctl) not found: apt-get install postgresql (.ci/run does)"
    if not shutil.which("psql") and not (bindir / "psql").exists():
        return "psql not found: apt-get install postgresql-client"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SERVER_USER)
        except KeyError:
            return f"running as root and there is no '{SERVER_USER}' user for initdb (apt-get install postgresql)"
        if not shutil.which("runuser"):
            return "running as root and runuser (util-linux) is missing"
    return None


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PostgresCluster:
    """One initdb'd cluster, started with `start()`, removed with `stop()`. `durable=True` (the benchmark and the
    soak, whose figures should be a real server's) keeps PostgreSQL's own fsync and synchronous commit."""

    def __init__(self, durable=False):
        self.durable = durable
        self.bindir = find_bindir()
        self.psql_binary = str(self.bindir / "psql") if (self.bindir / "psql").exists() else shutil.which("psql")
        self.root = Path(tempfile.mkdtemp(prefix="pg-test-"))
        self.data = self.root / "data"
        self.socket_dir = self.root / "socket"
        self.log = self.root / "server.log"
        self.port = None
        self.user = SERVER_USER
        self._as_user = []
        self._count = 0
        self._lock = threading.Lock()
        self._templates = {}
        if os.geteuid() == 0:
            account = pwd.getpwnam(SERVER_USER)
            os.chown(self.root, account.pw_uid, account.pw_gid)
            self._as_user = ["runuser", "-u", SERVER_USER, "--"]
        else:
            self.user = pwd.getpwuid(os.geteuid()).pw_name  # initdb names the superuser after who ran it
        self.socket_dir.mkdir()
        if self._as_user:
            os.chown(self.socket_dir, account.pw_uid, account.pw_gid)

    def _run(self, *command, **options):
        return subprocess.run([*self._as_user, *command], check=True, capture_output=True, text=True,
                              timeout=START_TIMEOUT_SECONDS, **options)

    def start(self):
        self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-A", "trust", "-U", self.user, "-E", "UTF8",
                  "--locale=C.UTF-8", "--no-sync", "--no-instructions")
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{self.socket_dir}'",
            "max_connections": "200", "shared_buffers": "32MB",
            "log_min_messages": "warning", "logging_collector": "off",
        }
        if not self.durable:
            settings.update(fsync="off", synchronous_commit="off", full_page_writes="off")
        with open(self.data / "postgresql.auto.conf", "a") as conf:
            conf.writelines(f"{name} = {value}\n" for name, value in settings.items())
        for attempt in range(5):  # another process may take the free port between probing and binding it
            self.port = free_port()
            try:
                self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w",
                          "-t", str(START_TIMEOUT_SECONDS), "-o", f"-p {self.port}", "start")
                break
            except subprocess.CalledProcessError:
                if attempt == 4:
                    raise RuntimeError(f"PostgreSQL did not start:\n{self.server_log()}") from None
        atexit.register(self.stop)
        return self

    def server_log(self):
        try:
            return self.log.read_text()[-4000:]
        except OSError:
            return ""

    def stop(self):
        """Stop the server at once and delete the cluster; safe to call twice."""
        if self.data.exists() and (self.data / "postmaster.pid").exists():
            try:
                self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
                pass
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database="postgres", user=None):
        """A libpq/SQLAlchemy-style URL over TCP on loopback (what FLASK_DATABASE_URL takes)."""
        return f"postgresql://{user or self.user}@127.0.0.1:{self.port}/{database}"

    def psql(self, sql, database="postgres"):
        """Run `sql` as the superuser; returns psql's unaligned, tuples-only output."""
        result = subprocess.run(
            [self.psql_binary, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", str(self.port),
             "-U", self.user, "-d", database, "-c", sql],
            capture_output=True, text=True, timeout=START_TIMEOUT_SECONDS,
        )
        if result.returncode:
            raise RuntimeError(f"psql failed: {result.stderr.strip()}")
        return result.stdout.strip()

    def _next_name(self, prefix):
        with self._lock:
            self._count += 1
            return f"{prefix}_{os.getpid()}_{self._count}"

    def drop_database(self, url):
        """Close this process's pooled connections to the database at `url`, then drop it (others are cut off)."""
        from clinic import db as clinic_db

        clinic_db.dispose(url)
        name = url.rsplit("/", 1)[1]
        self.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def new_database(self, template=None):
        """Create a fresh database (a copy of `template`'s name when given) and return its URL."""
        name = self._next_name("test")
        # FILE_COPY: for a small template, copying the folder is quicker than WAL-logging every block (PG 15's default)
        source = f' TEMPLATE "{template}" STRATEGY FILE_COPY' if template else " TEMPLATE template0"
        self.psql(f'CREATE DATABASE "{name}"{source}')
        return self.url(name)

    def template(self, key, build):
        """The name of a template database that `build(url)` filled, built once per session for `key`."""
        with self._lock:
            if key in self._templates:
                return self._templates[key]
        name = f"template_{key}"
        self.psql(f'CREATE DATABASE "{name}" TEMPLATE template0')
        build(self.url(name))
        # No one may stay connected to a template, or CREATE DATABASE ... TEMPLATE refuses to copy it.
        self.psql(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' "
                  "AND pid <> pg_backend_pid()")
        self.psql(f"ALTER DATABASE \"{name}\" WITH IS_TEMPLATE true")
        with self._lock:
            self._templates[key] = name
        return name


def start_cluster():
    """A started cluster, or a skip/fail (CI) naming what is missing."""
    reason = missing_reason()
    if reason:
        require_tool(reason)
    cluster = PostgresCluster()
    try:
        return cluster.start()
    except Exception:
        cluster.stop()
        raise


@pytest.fixture(scope="session")
def postgres():
    """The session's PostgreSQL cluster (started on first use; one per xdist worker)."""
    cluster = start_cluster()
    try:
        yield cluster
    finally:
        cluster.stop()


def migrated_template(cluster):
    """The session's template database at the head schema version, made by clinic.migrate.upgrade (`db upgrade`)."""
    from clinic import db as clinic_db
    from clinic import migrate

    def build(url):
        migrate.upgrade(url)
        clinic_db.dispose(url)  # no pooled connection may stay open on a template

    return cluster.template("migrated", build)


@pytest.fixture
def postgres_url(postgres):
    """A fresh, empty PostgreSQL database for one test."""
    url = postgres.new_database()
    yield url
    postgres.drop_database(url)


@pytest.fixture
def migrated_pg(postgres):
    """A fresh PostgreSQL database at the head schema version for one test (a copy of the session's template)."""
    url = postgres.new_database(template=migrated_template(postgres))
    yield url
    postgres.drop_database(url)
