"""A heavy CSV export through gunicorn holds no write lock and little memory (issue 11 L3).

30,000 requests of about 4 KB each (about 120 MB of CSV) are exported by a signed-in nurse while patients send
requests. The export reads one snapshot without the write lock, so patients' posts are never blocked by it:
with the download open and part-way through (its read snapshot still held, which SQLite itself shows), each
patient's post is answered and committed, and the export, read to the end afterwards, holds none of them. It
streams, so the worker's peak resident memory (VmHWM of the one gunicorn worker, which serves both the export
and the posts) grows by less than 50 MB. RSS is the figure that matters on a small host, and a peak is what an
out-of-memory kill sees: tracemalloc would miss SQLite's own and the response's buffers.

How much slower a post gets while the export streams is a speed figure, not a pass/fail: `make bench-export`.
"""
import sqlite3

import pytest

from scripts.bench_export import fill, open_export, patient_post, peak_rss, read_export, serve, sign_in, stop, worker_pid
from tests.conftest import EVENT_TIMEOUT_SECONDS, content_dir
from tests.helpers import PATIENT
from tests.support.staff import EMAIL, FAST_ARGON2, PASSWORD

REQUESTS = 30_000
POSTS_DURING_EXPORT = 3
MEMORY_LIMIT_BYTES = 50 * 1024 * 1024


@pytest.fixture
def gunicorn(tmp_path):
    database = tmp_path / "clinic.sqlite3"
    fill(database, REQUESTS, EMAIL, PASSWORD, FAST_ARGON2)
    server, port = serve(tmp_path, database, content_dir(), FAST_ARGON2, wait_seconds=EVENT_TIMEOUT_SECONDS)
    try:
        yield port, server.pid, database
    finally:
        stop(server)


def query(database, sql):
    conn = sqlite3.connect(database)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def an_older_snapshot_is_held(database):
    """True while some connection still reads a snapshot older than the last commit: a checkpoint cannot copy
    the frames committed after it into the database file, so it copies fewer than the -wal file holds."""
    conn = sqlite3.connect(database)
    try:
        _, frames, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    finally:
        conn.close()
    assert frames >= 0, "the database is not in WAL mode"
    return copied < frames


def test_a_30000_request_export_streams_from_one_snapshot_that_never_blocks_patients_posts(gunicorn):
    port, master, database = gunicorn
    worker = worker_pid(master)
    nurse, token = sign_in(port, EMAIL, PASSWORD)
    # Warm up every path once (a small export, a patient's request), so the baseline holds the loaded code.
    response, _ = open_export(port, nurse, token, status="new")
    assert response.status == 200
    read_export(response)
    patient_post(port, PATIENT)
    before = peak_rss(worker)
    (stored, last), = query(database, "SELECT COUNT(*), MAX(id) FROM requests")

    # Open the download and leave it unread: about 120 MB cannot fit in loopback's buffers, so the worker is
    # part-way through the export, its read snapshot open, until the rest is read below.
    response, header = open_export(port, nurse, token)
    assert response.status == 200 and header.startswith("reference,"), (response.status, header)
    for _ in range(POSTS_DURING_EXPORT):
        patient_post(port, PATIENT)  # each answered "sent" (303), as the page says only once it is committed
    posted = [reference for (reference,) in query(database, f"SELECT reference FROM requests WHERE id > {last}")]
    assert len(posted) == POSTS_DURING_EXPORT, posted  # committed and seen by another connection
    assert an_older_snapshot_is_held(database), "the export was no longer reading when the patients posted"

    size, found = read_export(response, posted)
    grown = peak_rss(worker) - before
    assert size > 100 * 1024 * 1024, f"only {size} bytes exported"
    assert not found, f"the export holds requests sent after it began: {found}"  # one snapshot, from before them
    exported = query(database, "SELECT detail FROM audit_log WHERE action = 'exported' ORDER BY id")
    assert exported[-1][0] == f"{stored} requests", exported[-1]
    assert not an_older_snapshot_is_held(database), "the export's snapshot outlived its download"
    assert grown < MEMORY_LIMIT_BYTES, f"the worker's peak memory grew by {grown / 2**20:.0f} MB"
