"""A heavy CSV export through gunicorn holds no write lock and little memory (issue 11 L3).

30,000 requests of about 4 KB each (about 120 MB of CSV) are exported by a signed-in nurse while a patient
sends requests. The export reads one snapshot without the write lock, so each patient's post returns in under
500 ms; it streams, so the worker's peak resident memory (VmHWM of the one gunicorn worker, which serves both
the export and the posts) grows by less than 50 MB. RSS is the figure that matters on a small host, and a
peak is what an out-of-memory kill sees: tracemalloc would miss SQLite's own and the response's buffers.
"""
import http.client
import json
import os
import re
import secrets
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from clinic import migrate
from clinic import staff as staff_store
from clinic.db import connect, transaction
from scripts.loopback import LoopbackClient, free_port
from tests.conftest import EVENT_TIMEOUT_SECONDS, ROOT, TEST_SECRET, content_dir
from tests.helpers import PATIENT, form_fields
from tests.test_staff import EMAIL, FAST_ARGON2, PASSWORD

REQUESTS = 30_000
POST_LIMIT_SECONDS = 0.5
MEMORY_LIMIT_BYTES = 50 * 1024 * 1024


def fill(database, count):
    """`count` requests as the form stores them, at their largest: a 2,000-character description and answers."""
    migrate.upgrade(database)
    answers = json.dumps([[f"Question {n} about the operation and the pain since?", "An answer " * 12] for n in range(12)])
    description = ("My leg pain came back a year after the fusion, worse when sitting. " * 30)[:2000]
    now = int(time.time()) - 86400
    conn = connect(database)
    with transaction(conn):
        conn.executemany(
            "INSERT INTO requests (reference, submission_id, created_at, status, name, email, phone, contact_by, "
            "description, journey_answers) VALUES (?, ?, ?, 'contacted', ?, ?, '+1 555 0100', 'email', ?, ?)",
            ((f"FBS-L{n:06d}", secrets.token_hex(8), now + n, f"Patient {n}", f"patient{n}@example.org", description, answers)
             for n in range(count)))
        conn.executemany("INSERT INTO request_notes (request_id, staff_email, body, created_at) VALUES (?, ?, ?, ?)",
                         ((n, EMAIL, "Called back, left a message.", now + n) for n in range(1, count + 1, 3)))
    staff_store.create_staff(conn, EMAIL, PASSWORD, staff_store.make_hasher(FAST_ARGON2), time.time())
    conn.close()


def peak_rss(pid):
    """The process's peak resident memory so far, in bytes (VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc")


def worker_pid(master):
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    assert len(children) == 1, children
    return int(children[0])


@pytest.fixture
def gunicorn(tmp_path):
    database = tmp_path / "clinic.sqlite3"
    fill(database, REQUESTS)
    port = free_port()
    env = dict(os.environ, FLASK_PRODUCTION="1", FLASK_SECRET_KEY=TEST_SECRET, FLASK_DATABASE=str(database),
               FLASK_MAIL_DIR=str(tmp_path / "mail"), FLASK_CONTENT_DIR=str(content_dir()), FLASK_OUTBOX_AUTOSEND="false",
               FLASK_REQUEST_MIN_SECONDS="0", FLASK_REQUEST_RATE_LIMIT="1000 per minute",
               FLASK_STAFF_ARGON2=json.dumps(FAST_ARGON2),
               GUNICORN_BIND=f"127.0.0.1:{port}", GUNICORN_WORKERS="1", GUNICORN_THREADS="4")
    env.pop("FLASK_DEBUG", None)
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + EVENT_TIMEOUT_SECONDS
        while True:
            try:
                if LoopbackClient(port, timeout=5).fetch("GET", "/healthz")[0] == 200:
                    break
            except OSError:
                pass
            assert server.poll() is None, server.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, f"gunicorn did not answer within {EVENT_TIMEOUT_SECONDS} s"
            time.sleep(0.1)
        yield port, server.pid, database
    finally:
        server.terminate()
        server.communicate(timeout=30)


def csrf_token(html):
    found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)


def export(port, cookies, token, status=None):
    """POST the export form and read the whole CSV as a browser would; returns (status, bytes read, first line)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    body = f"csrf_token={token}" + (f"&status={status}" if status else "")
    conn.request("POST", "/staff/export.csv", body=body, headers={
        "Content-Type": "application/x-www-form-urlencoded", "Origin": f"http://127.0.0.1:{port}", "Cookie": cookies})
    response = conn.getresponse()
    first = response.readline()
    size = len(first)
    while chunk := response.read(256 * 1024):
        size += len(chunk)
    conn.close()
    return response.status, size, first.decode("utf-8-sig").strip()


def patient_posts(port):
    """A patient fetches the form (untimed) and sends it; returns the seconds the POST took."""
    patient = LoopbackClient(port, timeout=30)
    status, _, page = patient.fetch("GET", "/request")
    assert status == 200
    started = time.perf_counter()
    status, headers, _ = patient.fetch("POST", "/request", {**form_fields(page), **PATIENT})
    took = time.perf_counter() - started
    assert status == 303 and headers["Location"].endswith("/request/sent"), status
    return took


def test_a_30000_request_export_streams_without_blocking_patients_or_growing_the_worker(gunicorn):
    port, master, database = gunicorn
    worker = worker_pid(master)
    nurse = LoopbackClient(port, timeout=30)
    status, _, _ = nurse.fetch("GET", "/staff/sign-in")
    status, _, page = nurse.fetch("GET", "/staff/sign-in")
    status, _, _ = nurse.fetch("POST", "/staff/sign-in", {"csrf_token": csrf_token(page), "email": EMAIL, "password": PASSWORD})
    assert status == 303
    status, _, inbox = nurse.fetch("GET", "/staff?status=new")
    assert status == 200
    token = csrf_token(inbox)
    # Warm up every path once (a small export, a patient's request), so the baseline holds the loaded code.
    assert export(port, nurse.cookie_header(), token, status="new")[0] == 200
    patient_posts(port)
    before = peak_rss(worker)

    result = {}
    exporter = threading.Thread(target=lambda: result.update(answer=export(port, nurse.cookie_header(), token)))
    exporter.start()
    post_times = []
    while exporter.is_alive() and len(post_times) < 20:
        post_times.append(patient_posts(port))
    exporter.join(120)
    assert not exporter.is_alive()
    grown = peak_rss(worker) - before

    status, size, header = result["answer"]
    assert status == 200 and header.startswith("reference,")
    assert size > 100 * 1024 * 1024, f"only {size} bytes exported"
    assert post_times, "the export ended before a patient could post"
    assert max(post_times) < POST_LIMIT_SECONDS, f"patient posts took {[round(t, 3) for t in post_times]} s"
    assert grown < MEMORY_LIMIT_BYTES, f"the worker's peak memory grew by {grown / 2**20:.0f} MB"
    conn = sqlite3.connect(database)
    exported = conn.execute("SELECT detail FROM audit_log WHERE action = 'exported' ORDER BY id").fetchall()
    conn.close()
    counted = int(exported[-1][0].split()[0])  # the snapshot: every request stored before the export began
    assert REQUESTS + 1 <= counted <= REQUESTS + 1 + len(post_times), exported[-1]
    print(f"\nexport: {size / 2**20:.0f} MB; worker peak grew {grown / 2**20:.1f} MB; "
          f"{len(post_times)} patient posts, slowest {max(post_times) * 1000:.0f} ms")
