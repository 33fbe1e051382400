"""Backups of a PostgreSQL database with Debian's postgresql-client: `pg_dump` (custom format, one consistent
snapshot while the site keeps running) and `pg_restore`, checked like the SQLite copies in clinic/backup.py.

- The file is 0600 from its first byte (pg_dump writes into a file we opened so), written as `.partial` and
  renamed only once it passed its check.
- The check reads the whole archive back (`pg_restore` to SQL text, every table's data decompressed) and counts
  each table's rows in the archive itself: a truncated or damaged file fails it. Restore checks first and refuses a
  damaged backup without touching the database, then restores in one transaction (all or nothing).
- A password in the URL goes to the tools in PGPASSWORD, never on their command line (where `ps` shows it).
No Flask here.
"""
import os
import re
import shutil
import subprocess  # nosec B404 - pg_dump and pg_restore, run without a shell
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from clinic import backup as sqlite_backup
from clinic.backup import BackupError, BackupResult, copy_files
from clinic.private_files import private_partial

DUMP_SUFFIX = ".pgdump"
TOOL_TIMEOUT_SECONDS = 3600
COPY_START = re.compile(r'^COPY (?:"?(\w+)"?\.)?"?([\w]+)"? .*FROM stdin;$')


def is_postgres(database):
    return str(database).startswith(("postgresql://", "postgresql+psycopg://", "postgres://"))


def tool(name):
    """The newest pg_dump/pg_restore: /usr/bin's (Debian's wrapper picks a version), else /usr/lib/postgresql/N/bin."""
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), key=lambda p: int(p.parent.parent.name))
    if versions:
        return str(versions[-1])
    raise BackupError(f"{name} not found: apt-get install postgresql-client")


def libpq_target(url):
    """(a libpq URL without the password, the environment for the tools) for a SQLAlchemy or libpq URL."""
    parts = urlsplit(str(url))
    env = {**os.environ}
    netloc = parts.netloc
    if "@" in netloc:
        credentials, host = netloc.rsplit("@", 1)
        user, _, password = credentials.partition(":")
        if password:
            env["PGPASSWORD"] = unquote(password)
        netloc = f"{user}@{host}"
    return urlunsplit(("postgresql", netloc, parts.path, parts.query, "")), env


def _run(command, env, stdout=subprocess.PIPE):
    try:
        # A list of arguments, no shell: the tools' paths come from tool(), the rest from our settings
        return subprocess.run(command, env=env, stdout=stdout, stderr=subprocess.PIPE,  # noqa: S603  # nosec B603
                              timeout=TOOL_TIMEOUT_SECONDS, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise BackupError(f"{Path(command[0]).name} could not run: {error}") from error


def archive_counts(path):
    """{table: rows} read from the whole archive (every data block decompressed); BackupError if it is damaged."""
    result = _run([tool("pg_restore"), "--data-only", "--file", "-", str(path)], os.environ)
    if result.returncode:
        raise BackupError("The backup failed its check: " + _first_line(result.stderr))
    counts, table = {}, None
    for line in result.stdout.decode("utf-8", "replace").splitlines():
        if table is None:
            found = COPY_START.match(line)
            if found:
                table = found.group(2)
                counts[table] = 0
        elif line == "\\.":
            table = None
        else:
            counts[table] += 1
    if table is not None:
        raise BackupError(f"The backup failed its check: the data of table {table} is cut short")
    listing = _run([tool("pg_restore"), "--list", str(path)], os.environ)
    if listing.returncode:
        raise BackupError("The backup failed its check: " + _first_line(listing.stderr))
    for name in re.findall(rb"^\d+; \d+ \d+ TABLE (?!DATA )\S+ (\S+) ", listing.stdout, re.M):
        counts.setdefault(name.decode(), 0)  # a table without rows has no data block
    return dict(sorted(counts.items()))


def files_folder(backup_path):
    """Copies of the requests' attached files: clinic-<stamp>.files/ beside clinic-<stamp>.pgdump."""
    return sqlite_backup.files_folder(backup_path, DUMP_SUFFIX)


def backup(url, target, *, now=None, uploads_dir=None):
    """pg_dump the database at `url` into `target` (a file, or a folder for a dated file) and check the copy;
    then copy the attached files beside it (after the snapshot, as clinic/backup.py explains)."""
    final = sqlite_backup.target_path(target, now=now, suffix=DUMP_SUFFIX)
    address, env = libpq_target(url)
    with private_partial(final) as partial:  # pg_dump writes into a file that is 0600 from its first byte
        with open(partial, "wb") as out:
            # --no-owner/--no-privileges off: a restore as the owner gives the app's role back exactly its grants.
            result = _run([tool("pg_dump"), "--format=custom", "--dbname", address], env, stdout=out)
        if result.returncode:
            raise BackupError("Backup failed: " + _first_line(result.stderr))
        tables = archive_counts(partial)
    if uploads_dir:
        copy_files(uploads_dir, files_folder(final))
    return BackupResult(path=final, size_bytes=final.stat().st_size, tables=tables)


def restore(backup_path, url, uploads_dir=None):
    """Replace the database's contents with a checked backup, in one transaction. Stop the site first."""
    backup_path = Path(backup_path)
    if not backup_path.is_file():
        raise BackupError(f"No backup file at {backup_path}")
    tables = archive_counts(backup_path)  # a damaged backup is refused before anything is dropped
    address, env = libpq_target(url)
    result = _run([tool("pg_restore"), "--clean", "--if-exists", "--no-owner", "--single-transaction",
                   "--exit-on-error", "--dbname", address, str(backup_path)], env)
    if result.returncode:
        raise BackupError("Restore failed (nothing was changed): " + _first_line(result.stderr))
    if uploads_dir:
        copy_files(files_folder(backup_path), uploads_dir)
    return tables


def prune(directory, keep):
    return sqlite_backup.prune(directory, keep, DUMP_SUFFIX)


def _first_line(stderr):
    text = stderr.decode("utf-8", "replace").strip() if isinstance(stderr, bytes) else str(stderr).strip()
    return text.splitlines()[0] if text else "no message"
