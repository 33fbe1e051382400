#!/usr/bin/env python3
"""A large CSV export through gunicorn while a patient sends requests: how much slower the posts get, how much the worker grows.

Usage: .venv/bin/python scripts/bench_export.py [--requests 30000] [--posts 20]

In one run it fills a temporary database with `--requests` requests at their largest (about 4 KB each, about
120 MB of CSV for 30,000), starts gunicorn (gunicorn.conf.py, production mode, one worker with 4 threads, so
the export and the posts share one process) on a free 127.0.0.1 port, signs a nurse in, then times
  (a) `--posts` patient posts with nothing else going on, and
  (b) patient posts, one after another, while the nurse downloads the whole export as fast as loopback allows,
and prints both (median and slowest), their ratio, the export's size and speed, and how much the worker's peak
resident memory (VmHWM) grew. The figures depend on the machine and its load: compare (b) with (a) of one run.
tests/test_export_load.py proves what does not depend on them (the export never blocks a patient's post, and it
streams); it uses this file's helpers to build the same setting. Nothing is written anywhere.
"""
import argparse
import http.client
import json
import os
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402

from clinic import factors, migrate  # noqa: E402
from clinic import staff as staff_store  # noqa: E402
from clinic.db import connect, transaction  # noqa: E402
from scripts.loopback import LoopbackClient, free_port  # noqa: E402

NURSE = ("nurse@bench.test", "a long enough bench password")
TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"  # the bench nurse's authenticator app (base32)
CHEAP_ARGON2 = {"time_cost": 1, "memory_cost": 8192, "parallelism": 1}  # sign-in is not what is measured here
PATIENT = {"name": "Alex Example", "email": "alex@example.com", "phone": "", "contact_by": "email",
           "description": "My leg pain came back a year after my fusion.", "consent": "y"}


def fill(database, count, staff_email, staff_password, argon2):
    """`count` requests as the form stores them, at their largest (a 2,000-character description and 12 answers),
    a note on every third one, and one staff account."""
    migrate.upgrade(database)
    answers = json.dumps([[f"Question {n} about the operation and the pain since?", "An answer " * 12] for n in range(12)])
    description = ("My leg pain came back a year after the fusion, worse when sitting. " * 30)[:2000]
    now = int(time.time()) - 86400
    conn = connect(database)
    with transaction(conn):
        conn.execute(text(
            "INSERT INTO requests (reference, submission_id, created_at, status, name, email, phone, contact_by, "
            "description, journey_answers) VALUES (:reference, :submission_id, :created_at, 'contacted', :name, :email,"
            " '+1 555 0100', 'email', :description, :answers)"),
            [{"reference": f"FBS-L{n:06d}", "submission_id": secrets.token_hex(8), "created_at": now + n,
              "name": f"Patient {n}", "email": f"patient{n}@example.org", "description": description, "answers": answers}
             for n in range(count)])
        conn.execute(text("INSERT INTO request_notes (request_id, staff_email, body, created_at)"
                          " VALUES (:request_id, :staff_email, :body, :created_at)"),
                     [{"request_id": n, "staff_email": staff_email, "body": "Called back, left a message.",
                       "created_at": now + n} for n in range(1, count + 1, 3)])
    hasher = staff_store.make_hasher(argon2)
    member = staff_store.create_staff(conn, staff_email, staff_password, hasher, time.time(), role="admin")
    factors.enrol_totp(conn, member.id, TOTP_SECRET, time.time(), hasher, last_step=0)  # its phone, set up
    conn.close()


def serve(workdir, database, content, argon2, wait_seconds=30):
    """gunicorn as in production, one worker with 4 threads, on a free loopback port; returns (process, port)
    once /healthz answers. Stop it with `stop`."""
    port = free_port()
    env = dict(os.environ, FLASK_PRODUCTION="1", FLASK_SECRET_KEY=secrets.token_hex(32), FLASK_DATABASE=str(database),
               FLASK_MAIL_DIR=str(Path(workdir) / "mail"), FLASK_CONTENT_DIR=str(content), FLASK_OUTBOX_AUTOSEND="false",
               FLASK_REQUEST_MIN_SECONDS="0", FLASK_REQUEST_RATE_LIMIT="1000 per minute",
               FLASK_REQUEST_HOURLY_CEILING="1000000",  # each post stored as usual, with its outbox row
               FLASK_STAFF_ARGON2=json.dumps(argon2),
               GUNICORN_BIND=f"127.0.0.1:{port}", GUNICORN_WORKERS="1", GUNICORN_THREADS="4")
    env.pop("FLASK_DEBUG", None)
    # The app logs a line per request: into a file, as a pipe nobody reads would stop the worker once full.
    log = Path(workdir) / "gunicorn.log"
    with log.open("wb") as stderr:
        server = subprocess.Popen([sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py"], cwd=ROOT, env=env,
                                  stdout=subprocess.DEVNULL, stderr=stderr)
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            if LoopbackClient(port, timeout=5).fetch("GET", "/healthz")[0] == 200:
                return server, port
        except OSError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            stop(server)
            raise RuntimeError(f"gunicorn did not answer within {wait_seconds} s:\n" + log.read_text()[-2000:])
        time.sleep(0.1)


def stop(server):
    server.terminate()
    server.wait(30)


def worker_pid(master):
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    assert len(children) == 1, children
    return int(children[0])


def peak_rss(pid):
    """The process's peak resident memory so far, in bytes (VmHWM): what an out-of-memory kill sees."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc")


def csrf_token(html):
    found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)


def sign_in(port, email, password):
    """A signed-in nurse's client and the inbox's CSRF token (what the export form posts)."""
    nurse = LoopbackClient(port, timeout=30)
    _, _, page = nurse.fetch("GET", "/staff/sign-in")
    status, _, _ = nurse.fetch("POST", "/staff/sign-in", {"csrf_token": csrf_token(page), "email": email, "password": password})
    assert status == 303, f"sign-in answered {status}"
    _, _, page = nurse.fetch("GET", "/staff/sign-in/code")  # then the code from the phone
    code = factors.code_at(TOTP_SECRET, factors.time_step(time.time()))
    status, _, _ = nurse.fetch("POST", "/staff/sign-in/code", {"csrf_token": csrf_token(page), "code": code})
    assert status == 303, f"the code answered {status}"
    status, _, inbox = nurse.fetch("GET", "/staff?status=new")
    assert status == 200, status
    return nurse, csrf_token(inbox)


def open_export(port, nurse, token, status=None):
    """POST the export form as a browser would and read only the first line; returns (response, that line).

    The rest waits in the worker until `read_export`: the download is open, the export part-way through."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    body = f"csrf_token={token}" + (f"&status={status}" if status else "")
    conn.request("POST", "/staff/export.csv", body=body, headers={
        "Content-Type": "application/x-www-form-urlencoded", "Origin": f"http://127.0.0.1:{port}",
        "Cookie": nurse.cookie_header(), "Connection": "close"})  # the response then owns the socket and closes it
    response = conn.getresponse()
    return response, response.readline().decode("utf-8-sig").strip()


def read_export(response, looking_for=()):
    """Read the rest of the download; returns (bytes read after the first line, which of `looking_for` it held)."""
    wanted = [text.encode() for text in looking_for]
    overlap = max((len(text) for text in wanted), default=1) - 1
    size, found, tail = 0, set(), b""
    while chunk := response.read(256 * 1024):
        size += len(chunk)
        window = tail + chunk  # a reference cut in two by the chunks is still found
        found.update(text.decode() for text in wanted if text in window)
        tail = window[-overlap:] if overlap else b""
    response.close()
    return size, found


def patient_post(port, fields):
    """A patient fetches the request form (untimed) and sends it; returns the seconds the POST took."""
    patient = LoopbackClient(port, timeout=30)
    status, _, page = patient.fetch("GET", "/request")
    assert status == 200, status
    hidden = {name: re.search(rf'<input[^>]*name="{name}"[^>]*value="([^"]*)"', page).group(1)
              for name in ("csrf_token", "submission_id", "started")}
    started = time.perf_counter()
    status, headers, _ = patient.fetch("POST", "/request", {**hidden, **fields})
    took = time.perf_counter() - started
    assert status == 303 and headers["Location"].endswith("/request/sent"), status
    return took


def milliseconds(times):
    return f"median {statistics.median(times) * 1000:.0f} ms, slowest {max(times) * 1000:.0f} ms ({len(times)} posts)"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=30_000, help="requests in the export (default 30000)")
    parser.add_argument("--posts", type=int, default=20, help="patient posts timed without the export (default 20)")
    args = parser.parse_args()

    load_before = " / ".join(f"{value:.2f}" for value in os.getloadavg())
    with tempfile.TemporaryDirectory(prefix="fbss-bench-export-") as tmp:
        database = Path(tmp) / "clinic.sqlite3"
        fill(database, args.requests, *NURSE, CHEAP_ARGON2)
        server, port = serve(tmp, database, ROOT / "content", CHEAP_ARGON2)
        try:
            worker = worker_pid(server.pid)
            nurse, token = sign_in(port, *NURSE)
            read_export(open_export(port, nurse, token, status="new")[0])  # warm up every path once
            patient_post(port, PATIENT)
            before = peak_rss(worker)
            alone = [patient_post(port, PATIENT) for _ in range(args.posts)]

            result = {}

            def download():
                started = time.perf_counter()
                response, _ = open_export(port, nurse, token)
                result["size"] = read_export(response)[0]
                result["seconds"] = time.perf_counter() - started

            exporter = threading.Thread(target=download)
            exporter.start()
            during = []
            while exporter.is_alive():
                during.append(patient_post(port, PATIENT))
            exporter.join()
            grown = peak_rss(worker) - before
        finally:
            stop(server)
    megabytes = result["size"] / 2**20
    print(f"- load average before the run (1/5/15 min): {load_before}; cores: {os.cpu_count()}")
    print(f"- export of {args.requests:,} requests: {megabytes:.0f} MB in {result['seconds']:.1f} s "
          f"({megabytes / result['seconds']:.0f} MB/s); the worker's peak memory grew {grown / 2**20:.1f} MB")
    print(f"- (a) patient posts alone: {milliseconds(alone)}")
    if during:
        print(f"- (b) patient posts during the export: {milliseconds(during)}; "
              f"median ratio (b)/(a) {statistics.median(during) / statistics.median(alone):.1f}")
    else:
        print("- (b) the export ended before a patient could post")


if __name__ == "__main__":
    main()
