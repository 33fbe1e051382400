"""Load with a crash: gunicorn on loopback, hundreds of concurrent second-opinion requests, one worker SIGKILLed mid-run.

Then it checks that nothing was lost or doubled: every request that got a confirmation is stored exactly once, and
once the outbox is drained every stored request got exactly one staff notification. Run with `make soak`
(ARGS="--requests 600 --clients 24" to change the load). Exits non-zero when anything was lost or duplicated.

With `--hosts 2` it runs the site as a clinic group would on two machines: a throwaway PostgreSQL cluster and a
redis-server (tests/support/), two gunicorn hosts with the project's gunicorn.conf.py and one secret key, nginx in
front with an `upstream` of both (round-robin), and one whole host (master and workers) SIGKILLed mid-run and
started again.
"""
import argparse
import http.client
import os
import re
import secrets
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from email import message_from_bytes
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from aiosmtpd.controller import Controller
from loopback import LoopbackClient, free_port

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests/support: the throwaway PostgreSQL, redis-server, hosts and nginx
VENV_BIN = Path(sys.executable).parent
REFERENCE = re.compile(r"\bFBS-[A-Z0-9]{4,}\b")
STAFF_ADDRESS = "staff@clinic.test"


# --- The mail sink ---------------------------------------------------------------------------------
class MailSink:
    """A real SMTP server on loopback that keeps every message it accepts."""

    def __init__(self):
        self.messages = []
        self.lock = threading.Lock()
        self.controller = Controller(self, hostname="127.0.0.1", port=free_port())

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.messages.append((time.monotonic(), list(envelope.rcpt_tos), envelope.content))
        return "250 OK"

    def __enter__(self):
        self.controller.start()
        return self

    def __exit__(self, *exc):
        self.controller.stop()

    def staff_notifications(self):
        """Reference -> [(arrival time, Message-ID)] of every staff notification delivered that names it."""
        deliveries = {}
        with self.lock:
            for arrived, recipients, content in self.messages:
                if STAFF_ADDRESS in recipients:
                    message = message_from_bytes(content)
                    text = message.get("Subject", "") + "\n" + body_text(message)
                    for reference in set(REFERENCE.findall(text)):
                        deliveries.setdefault(reference, []).append((arrived, message["Message-ID"]))
        return deliveries


def body_text(message):
    parts = message.walk() if message.is_multipart() else [message]
    return "\n".join(p.get_payload(decode=True).decode("utf-8", "replace") for p in parts
                     if p.get_content_maintype() == "text")


# --- The site under test ---------------------------------------------------------------------------
def site_env(mail_port, workdir, base_url):
    return {
        **os.environ,
        "FLASK_SECRET_KEY": secrets.token_hex(32),
        "FLASK_BASE_URL": base_url,
        # A load generator posts as soon as it has the form, from one address, hundreds of times.
        "FLASK_PRODUCTION": "1",
        "FLASK_REQUEST_MIN_SECONDS": "0",
        "FLASK_REQUEST_RATE_LIMIT": "100000 per minute",
        # Every post is a real request here, each with its own notification: no hourly ceiling's digest.
        "FLASK_REQUEST_HOURLY_CEILING": "1000000",
        "FLASK_SMTP_HOST": "127.0.0.1",
        "FLASK_SMTP_PORT": str(mail_port),
        "FLASK_SMTP_STARTTLS": "false",
        "FLASK_MAIL_FROM": "site@clinic.test",
        "FLASK_STAFF_EMAILS": STAFF_ADDRESS,
        "FLASK_MAIL_DIR": str(Path(workdir) / "mail"),
        # A killed worker's claimed rows come back after their lease: short here, so the run need not wait 5 min.
        "FLASK_SMTP_TIMEOUT": "2",
        "FLASK_OUTBOX_LEASE_SECONDS": "5",
        "FLASK_OUTBOX_POLL_SECONDS": "1",
        "GUNICORN_LOG_LEVEL": "warning",
    }


class Site:
    """gunicorn with the project's config file, 2 workers, on a temporary database and the mail sink."""

    def __init__(self, workdir, mail_port):
        self.port = free_port()
        self.database = str(Path(workdir) / "soak.sqlite3")
        self.env = {**site_env(mail_port, workdir, f"http://127.0.0.1:{self.port}"), "FLASK_DATABASE": self.database}
        self.process = None

    def start(self):
        if not Path(self.database).exists():  # the schema first, as `make serve` does: the app never makes it
            subprocess.run([str(VENV_BIN / "flask"), "--app", "app", "db", "upgrade"], cwd=ROOT, env=self.env,
                           check=True, capture_output=True)
        command = [str(VENV_BIN / "gunicorn"), "--config", "gunicorn.conf.py", "--bind", f"127.0.0.1:{self.port}",
                   "--workers", "2", "--no-control-socket"]
        # The server's own log (one line per request) goes to a file, so the counts below stay readable.
        self.log = open(Path(self.database).with_name("gunicorn.log"), "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(command, cwd=ROOT, env=self.env, start_new_session=True,
                                        stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"gunicorn exited with {self.process.returncode} during start-up")
            try:
                status, _, _ = Client(self.port).fetch("GET", "/healthz")
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise SystemExit("gunicorn did not answer /healthz within 30 s")

    def workers(self):
        """PIDs of the master's worker processes (from /proc, no extra tools)."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
        return [int(pid) for pid in children]

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process:
            self.log.close()

    def log_lines(self, pattern):
        text = Path(self.log.name).read_text(encoding="utf-8", errors="replace")
        return [line for line in text.splitlines() if re.search(pattern, line)]

    def drain_outbox(self, timeout=60):
        """Wait for the workers' sender threads to empty the outbox; `flask outbox send` now and then as well,
        as the documented companion would. Rows a killed worker had claimed return when their lease ends."""
        deadline = time.monotonic() + timeout
        next_pass = time.monotonic() + 3
        while time.monotonic() < deadline:
            if self.pending() == 0:
                return True
            if time.monotonic() >= next_pass:
                subprocess.run([str(VENV_BIN / "flask"), "--app", "app", "outbox", "send"], cwd=ROOT, env=self.env,
                               check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                next_pass = time.monotonic() + 3
            time.sleep(0.1)
        return self.pending() == 0

    def query(self, sql):
        conn = sqlite3.connect(self.database, timeout=10)
        try:
            return conn.execute(sql).fetchall()
        finally:
            conn.close()

    def pending(self):
        return self.query("SELECT COUNT(*) FROM outbox WHERE status IN ('pending', 'sending')")[0][0]


# --- A patient's browser, reduced to what the form needs ---------------------------------------------
class Client(LoopbackClient):
    """Follows redirects, as a browser does after a form post."""

    def follow(self, method, path, body=None):
        status, headers, data = self.fetch(method, path, body)
        for _ in range(5):
            if status not in (301, 302, 303, 307, 308):
                break
            status, headers, data = self.fetch("GET", urlsplit(headers["Location"]).path)
        return status, data


class FormReader(HTMLParser):
    """The request form's fields: (name, type, value, checked) for inputs, textareas and selects."""

    def __init__(self):
        super().__init__()
        self.in_form = False
        self.action = None
        self.fields = []
        self._textarea = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and "request" in (attrs.get("action") or "") and attrs.get("method", "").lower() == "post":
            self.in_form, self.action = True, attrs["action"]
        elif self.in_form and tag == "input" and attrs.get("name"):
            self.fields.append((attrs["name"], attrs.get("type", "text"), attrs.get("value", ""), "checked" in attrs))
        elif self.in_form and tag == "textarea":
            self._textarea = attrs.get("name")
        elif self.in_form and tag == "select" and attrs.get("name"):
            self.fields.append((attrs["name"], "select", "", False))

    def handle_endtag(self, tag):
        if tag == "form":
            self.in_form = False
        elif tag == "textarea" and self._textarea:
            self.fields.append((self._textarea, "textarea", "", False))
            self._textarea = None


def fill_request_form(html, number):
    """The form as a patient would send it: a name, an email, contact by email, a description, consent ticked."""
    reader = FormReader()
    reader.feed(html)
    if not reader.action:
        raise RuntimeError("no request form on the page")
    typed = {
        "name": f"Soak Patient {number}", "full_name": f"Soak Patient {number}",
        "email": f"soak{number}@example.com", "description": f"Soak test request number {number}.",
        "contact_by": "email",
    }
    pairs = []
    for name, kind, value, checked in reader.fields:
        if kind in ("hidden", "submit"):
            if kind == "hidden":
                pairs.append((name, value))
        elif kind == "radio":
            if value == typed.get(name) or (name not in typed and checked):
                pairs.append((name, value))
        elif kind == "checkbox":
            if checked or "consent" in name:
                pairs.append((name, value or "y"))
        elif name in typed:
            pairs.append((name, typed[name]))
        # Anything else (the honeypot, phone) stays empty, as a person leaves it.
    return reader.action, urlencode(pairs)


# --- The run --------------------------------------------------------------------------------------
def patient(port, number, results):
    """GET the form, POST it; on a dropped connection send the same form again (as a browser's retry would)."""
    client = Client(port)
    for attempt in range(4):
        try:
            status, html = client.follow("GET", "/request")
            action, body = fill_request_form(html, number)
            break
        except (OSError, http.client.HTTPException, RuntimeError) as error:
            if attempt == 3:
                results.append((number, None, f"form: {type(error).__name__}"))
                return
            time.sleep(0.2)  # the patient reloads the page
    for attempt in range(4):
        try:
            status, page = client.follow("POST", urlsplit(action).path or "/request", body)
        except (OSError, http.client.HTTPException) as error:
            outcome = f"post: {type(error).__name__}"
            time.sleep(0.2)
            continue
        found = REFERENCE.search(page) if status == 200 else None
        if found:
            results.append((number, found.group(0), "confirmed" if attempt == 0 else "confirmed after resending"))
            return
        outcome = f"post: HTTP {status}"
        if status < 500:
            break
        time.sleep(0.2)
    results.append((number, None, outcome))


def run(total, clients, kill_after):
    with tempfile.TemporaryDirectory(prefix="soak-") as workdir, MailSink() as sink:
        site = Site(workdir, sink.controller.port)
        site.start()
        try:
            results = []
            numbers = iter(range(total))
            numbers_lock = threading.Lock()
            killed = []

            def worker():
                while True:
                    with numbers_lock:
                        number = next(numbers, None)
                    if number is None:
                        return
                    patient(site.port, number, results)

            def killer():
                while len(results) < kill_after:
                    time.sleep(0.01)
                victim = site.workers()[0]
                os.kill(victim, signal.SIGKILL)
                killed.append((victim, time.monotonic()))

            started = time.monotonic()
            threads = [threading.Thread(target=worker) for _ in range(clients)]
            threads.append(threading.Thread(target=killer, daemon=True))
            for thread in threads:
                thread.start()
            for thread in threads[:-1]:
                thread.join()
            elapsed = time.monotonic() - started
            workers_after = site.workers()
            drained = site.drain_outbox()
            killed_text = (f"worker killed (SIGKILL):      pid {killed[0][0] if killed else 'none'}; "
                           f"workers after: {len(workers_after)}")
            return report(site, sink, results, killed, len(workers_after) == 2, killed_text, elapsed, drained)
        finally:
            site.stop()


class TwoHostSite:
    """`hosts` gunicorn hosts on one PostgreSQL and one Redis, behind nginx (tests/support/hosts.py)."""

    def __init__(self, workdir, mail_port, hosts, database):
        from tests.support.hosts import AppHost, Balancer
        from tests.support.postgres import PostgresCluster, missing_reason
        from tests.support.redis_server import RedisServer

        self.workdir = workdir
        self.pg = None
        if database == "postgresql":
            from clinic.settings import Settings

            if "DATABASE_URL" not in Settings.model_fields:
                raise SystemExit("this code has no FLASK_DATABASE_URL setting yet; use --database sqlite")
            reason = missing_reason()
            if reason:
                raise SystemExit(reason)
            self.pg = PostgresCluster().start()
            location = {"FLASK_DATABASE_URL": self.pg.new_database()}
        else:  # both "hosts" on one SQLite file: only for trying the script where PostgreSQL is not installed
            self.database = str(Path(workdir) / "soak.sqlite3")
            location = {"FLASK_DATABASE": self.database}
        self.redis = RedisServer().start()
        port = free_port()
        self.env = {**site_env(mail_port, workdir, f"http://127.0.0.1:{port}"), **location,
                    "FLASK_RATELIMIT_STORAGE_URI": self.redis.url, "FLASK_PROXY_FIX": "1"}
        upgrade = subprocess.run([str(VENV_BIN / "flask"), "--app", "app", "db", "upgrade"], cwd=ROOT, env=self.env,
                                 capture_output=True, text=True, check=False)  # once, before any host serves
        if upgrade.returncode:
            raise SystemExit(f"db upgrade failed:\n{upgrade.stdout}{upgrade.stderr}")
        self.hosts = [AppHost(f"host{n + 1}", self.env, workdir) for n in range(hosts)]
        self.balancer = Balancer(self.hosts, workdir)
        self.balancer.port = port

    def start(self):
        for host in self.hosts:
            host.start()
        self.balancer.start()
        self.port = self.balancer.port

    def stop(self):
        self.balancer.stop()
        for host in self.hosts:
            host.stop()
        self.redis.close()
        if self.pg:
            self.pg.stop()

    def query(self, sql):
        if self.pg is None:
            return Site.query(self, sql)
        output = self.pg.psql(sql, database=self.env["FLASK_DATABASE_URL"].rsplit("/", 1)[1])
        return [tuple(int(v) if v.isdigit() else v for v in line.split("|")) for line in output.splitlines() if line]

    def pending(self):
        return self.query("SELECT COUNT(*) FROM outbox WHERE status IN ('pending', 'sending')")[0][0]

    def log_lines(self, pattern):
        return [line for host in self.hosts for line in host.log().splitlines() if re.search(pattern, line)]

    drain_outbox = Site.drain_outbox


def run_hosts(total, clients, kill_after, hosts, database):
    with tempfile.TemporaryDirectory(prefix="soak-") as workdir, MailSink() as sink:
        site = TwoHostSite(workdir, sink.controller.port, hosts, database)
        try:
            site.start()
            results = []
            numbers = iter(range(total))
            numbers_lock = threading.Lock()
            killed = []
            restarted = []

            def worker():
                while True:
                    with numbers_lock:
                        number = next(numbers, None)
                    if number is None:
                        return
                    patient(site.port, number, results)

            def killer():
                while len(results) < kill_after:
                    time.sleep(0.01)
                victim = site.hosts[-1]
                pid = victim.process.pid
                victim.kill()  # the whole host at once: master and workers, mid-request
                killed.append((pid, time.monotonic()))
                time.sleep(2)  # down for a while: nginx sends everyone to the other host meanwhile
                victim.start()
                restarted.append(time.monotonic())

            started = time.monotonic()
            threads = [threading.Thread(target=worker) for _ in range(clients)]
            kill_thread = threading.Thread(target=killer, daemon=True)
            for thread in [*threads, kill_thread]:
                thread.start()
            for thread in threads:
                thread.join()
            elapsed = time.monotonic() - started
            kill_thread.join(90)
            drained = site.drain_outbox()
            served = {host.name: sum(1 for _, route, _ in host.routes() if route == "/request") for host in site.hosts}
            up = all(host.process.poll() is None for host in site.hosts)
            victim_pid = killed[0][0] if killed else "none"
            killed_text = (f"host killed (SIGKILL):        {site.hosts[-1].name} (master pid {victim_pid}), "
                           f"started again {'yes' if restarted else 'NO'}; hosts up after: "
                           f"{sum(host.process.poll() is None for host in site.hosts)}/{len(site.hosts)}; "
                           f"database: {database}, limits: Redis")
            print("posts and forms served:       " + ", ".join(f"{name} {count}" for name, count in served.items()))
            return report(site, sink, results, killed, up and bool(restarted) and all(served.values()), killed_text,
                          elapsed, drained, processes_killed=int(site.env.get("GUNICORN_WORKERS", "2")))
        finally:
            site.stop()


def report(site, sink, results, killed, recovered, killed_text, elapsed, drained, processes_killed=None):
    confirmed = {reference for _, reference, _ in results if reference}
    stored = Counter(ref for (ref,) in site.query("SELECT reference FROM requests"))
    by_name = Counter(name for (name,) in site.query("SELECT name FROM requests"))
    spam = site.query("SELECT COUNT(*) FROM requests WHERE status = 'spam'")[0][0]
    duplicates = sum(n - 1 for n in stored.values() if n > 1) + sum(n - 1 for n in by_name.values() if n > 1)
    lost = len(confirmed - set(stored))
    deliveries = sink.staff_notifications()
    # A notification is one message (one Message-ID, the same for every attempt at a row). SMTP cannot be part of
    # the database transaction: a worker killed after the mail server accepted a message but before the row was
    # marked sent delivers that same message again once the row's lease runs out. Mail clients show it once.
    per_request = Counter(len({mid for _, mid in deliveries.get(ref, [])}) for ref in stored)
    delivered = Counter(len(deliveries.get(ref, [])) for ref in stored)
    redelivered = [ref for ref in stored if len(deliveries.get(ref, [])) > 1]
    kill_time = killed[0][1] if killed else None
    crash_redeliveries = [ref for ref in redelivered if kill_time and min(t for t, _ in deliveries[ref]) <= kill_time]
    failures = Counter(outcome for _, reference, outcome in results if not reference)
    outbox = dict(site.query("SELECT status, COUNT(*) FROM outbox GROUP BY status"))
    server_errors = site.log_lines(r"status=5\d\d|Traceback")

    print(f"requests sent:                {len(results)} in {elapsed:.1f} s ({len(results) / elapsed:.0f}/s)")
    print(killed_text)
    resent = sum(1 for _, _, outcome in results if outcome == "confirmed after resending")
    print(f"confirmations received:       {len(confirmed)} ({resent} after resending the same form on a dropped connection)")
    print(f"requests stored:              {len(stored)} (suspected spam: {spam})")
    print(f"stored without confirmation:  {len(set(stored) - confirmed)}")
    print(f"duplicates:                   {duplicates}")
    print(f"lost:                         {lost}")
    print(f"outbox drained:               {'yes' if drained else 'NO'} ({', '.join(f'{k} {v}' for k, v in outbox.items())})")
    print("notifications per request:    " + ", ".join(f"{n} -> {count} requests" for n, count in sorted(per_request.items())))
    print("SMTP deliveries per request:  " + ", ".join(f"{n} -> {count} requests" for n, count in sorted(delivered.items()))
          + (f" (re-delivered with the same Message-ID after the crash: {', '.join(crash_redeliveries)})"
             if crash_redeliveries else ""))
    print(f"server errors (5xx) logged:   {len(server_errors)}")
    if failures:
        print("no confirmation:              " + ", ".join(f"{k}: {v}" for k, v in failures.most_common()))
    # At most the one message in flight in each killed process (a whole host: each of its workers) may arrive
    # twice, and only as the same message.
    ok = (killed and recovered and lost == 0 and duplicates == 0 and drained and spam == 0
          and set(per_request) == {1} and len(confirmed) > 0 and not server_errors
          and len(redelivered) <= (processes_killed or len(killed)) and redelivered == crash_redeliveries
          and max(delivered, default=0) <= 2)
    notified = sum(1 for ref in stored if deliveries.get(ref))
    print(f"summary: sent {len(results)} / confirmed {len(confirmed)} / stored {len(stored)} / lost {lost} / "
          f"duplicated {duplicates} / notified {notified}")
    print("RESULT:", "OK" if ok else "FAILED")
    return 0 if ok else 1


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--clients", type=int, default=16, help="concurrent patients")
    parser.add_argument("--kill-after", type=int, default=None,
                        help="SIGKILL a worker (with --hosts 2: a whole host) after this many answers")
    parser.add_argument("--hosts", type=int, default=1,
                        help="1: one gunicorn on SQLite; 2 or more: hosts behind nginx on PostgreSQL and Redis")
    parser.add_argument("--database", choices=["postgresql", "sqlite"], default="postgresql",
                        help="with --hosts 2: the shared database (sqlite: one file for both, to try the script only)")
    args = parser.parse_args()
    kill_after = args.kill_after or args.requests // 3
    if args.hosts > 1:
        return run_hosts(args.requests, args.clients, kill_after, args.hosts, args.database)
    return run(args.requests, args.clients, kill_after)


if __name__ == "__main__":
    sys.exit(main())
