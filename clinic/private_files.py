"""Folders 0700 and files 0600 for patient data, from creation and whatever the umask (issue 11 L6).

The modes are given when a file or folder is made (os.open, mkdir), so there is no moment when another
user of the machine could open it; ones made before this rule are tightened when the site starts.
SQLite creates a database's -wal and -shm files with the database file's own mode, so a private
database file is enough for those.
"""
import logging
import os
import stat
from contextlib import contextmanager
from pathlib import Path

FOLDER_MODE = 0o700
FILE_MODE = 0o600
log = logging.getLogger(__name__)


def private_folder(path, tighten=False):
    """Make `path` (and missing parents) with mode 0700; `tighten` an existing folder of ours to 0700 too.

    Only the site's own folders (instance/) are tightened: a configured database may sit in a shared one.
    """
    path = Path(path)
    path.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)  # the umask can only take bits away from 0700
    if tighten:
        _tighten(path, FOLDER_MODE)
    return path


def private_file(path):
    """Create `path` empty with mode 0600 unless it exists, so SQLite opens (and fills) a private file."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    except FileExistsError:
        pass
    return path


def private_file_for_writing(path):
    """`path` opened for writing text (UTF-8), emptied, with mode 0600 from the first byte: created so, or an
    existing file tightened before anything is written to it. For exports that hold every patient's details."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
    except OSError:
        os.close(fd)
        raise
    return os.fdopen(fd, "w", encoding="utf-8", newline="")


@contextmanager
def private_partial(final):
    """A `.partial` file beside `final` (its folder made 0700), 0600 from its first byte, for the block to fill and
    check: once the block ends it is flushed to disk and renamed onto `final`; when the block raises it is deleted,
    so nothing unchecked is ever left at `final`. For backups and their copies of attached files."""
    final = Path(final)
    private_folder(final.parent)
    partial = final.with_name(final.name + ".partial")
    partial.unlink(missing_ok=True)  # left by a run that was killed
    private_file(partial)
    try:
        yield partial
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    fd = os.open(partial, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(partial, final)


def tighten_database(path):
    """The database file and its -wal and -shm companions, where they exist and are ours, to 0600."""
    for suffix in ("", "-wal", "-shm"):
        companion = Path(f"{path}{suffix}")
        if companion.exists():
            _tighten(companion, FILE_MODE)


def _tighten(path, mode):
    info = path.stat()
    current = stat.S_IMODE(info.st_mode)
    if current & ~mode and info.st_uid == os.geteuid():
        os.chmod(path, current & mode)
        log.warning("%s was open to other users of this machine: now mode %o", path, current & mode)
