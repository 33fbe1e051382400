"""Load with a crash: gunicorn on loopback, hundreds of concurrent second-opinion requests, one worker SIGKILLed mid-run.

Then it checks that nothing was lost or doubled: every request that got a confirmation is stored exactly once, and
once the outbox is drained every stored request got exactly one staff notification. Run with `make soak`
(ARGS="--requests 600 --clients 24" to change the load). Exits non-zero when anything was lost or duplicated.

With `--hosts 2` it runs the site as a clinic group would on two machines: a throwaway PostgreSQL cluster and a
redis-server (tests/support/), two gunicorn hosts with the project's gunicorn.conf.py and one secret key, nginx in
front with an `upstream` of both (round-robin), and one whole host (master and workers) SIGKILLed mid-run and
started again. The database is a parameter: `--database postgresql|sqlite` (default: SQLite for one host,
PostgreSQL for several; `--hosts 1 --database postgresql` is one host on PostgreSQL).
"""
import argparse
import http.client
import os
import re
import secrets
import signal
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

from sqlalchemy import text  # noqa: E402

from clinic import db  # noqa: E402
from tests.support.hosts import AppHost, Balancer, flask_command  # noqa: E402
from tests.support.postgres import PostgresCluster, missing_reason  # noqa: E402
from tests.support.redis_server import RedisServer  # noqa: E402

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
        "FLASK_SECRET_KEY": secrets.token_hex(32),  # one key for every host: a cookie signed on one opens on the other
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
        "FLASK_UPLOADS_DIR": str(Path(workdir) / "uploads"),  # beside the database by default: no file on PostgreSQL
        # A killed worker's claimed rows come back after their lease: short here, so the run need not wait 5 min.
        "FLASK_SMTP_TIMEOUT": "2",
        "FLASK_OUTBOX_LEASE_SECONDS": "5",
        "FLASK_OUTBOX_POLL_SECONDS": "1",
        "GUNICORN_LOG_LEVEL": "warning",
    }


class Store:
    """The database every host shares: a SQLite file (one machine) or a throwaway PostgreSQL cluster started the
    way the tests start theirs (tests/support/postgres.py). The counts at the end read it through clinic/db.py,
    the same seam the site uses, so one query serves both engines."""

    def __init__(self, engine, workdir):
        self.engine = engine
        self.cluster = None
        if engine == "postgresql":
            reason = missing_reason()
            if reason:
                raise SystemExit(reason)
            self.cluster = PostgresCluster(durable=True)  # a real server's commits, not the tests' fsync off
            try:
                self.cluster.start()
                self.location = self.cluster.new_database()
            except Exception:
                self.cluster.stop()
                raise
            self.env = {"FLASK_DATABASE_URL": self.location}
        else:
            self.location = str(Path(workdir) / "soak.sqlite3")
            self.env = {"FLASK_DATABASE": self.location}

    def query(self, sql):
        conn = db.connect(self.location)
        try:
            return [tuple(row) for row in conn.execute(text(sql))]
        finally:
            conn.close()

    def close(self):
        db.dispose(self.location)
        if self.cluster:
            self.cluster.stop()


class Deployment:
    """What the patients reach: one gunicorn host (2 workers), or `hosts` of them behind nginx with Redis for the
    rate limits (tests/support/hosts.py), all on the shared store, with the project's gunicorn.conf.py."""

    def __init__(self, workdir, mail_port, hosts, store):
        self.store = store
        self.redis = RedisServer().start() if hosts > 1 else None
        port = free_port()  # nginx's, or the one host's: the address in the site's links
        self.env = {**site_env(mail_port, workdir, f"http://127.0.0.1:{port}"), **store.env}
        if self.redis:
            self.env.update(FLASK_RATELIMIT_STORAGE_URI=self.redis.url, FLASK_PROXY_FIX="1")
        upgrade = flask_command(self.env, "db", "upgrade")  # once, before any host serves, as `make serve` does
        if upgrade.returncode:
            if self.redis:
                self.redis.close()
            raise SystemExit(f"db upgrade failed:\n{upgrade.stdout}{upgrade.stderr}")
        self.hosts = [AppHost(f"host{n + 1}", self.env, workdir, port=None if hosts > 1 else port)
                      for n in range(hosts)]
        self.balancer = Balancer(self.hosts, workdir, port=port) if hosts > 1 else None
        self.port = port

    def start(self):
        for host in self.hosts:
            host.launch()
        for host in self.hosts:
            host.wait_healthy()
        if self.balancer:
            self.balancer.start()

    def stop(self):
        if self.balancer:
            self.balancer.stop()
        for host in self.hosts:
            host.stop()
        if self.redis:
            self.redis.close()

    def query(self, sql):
        return self.store.query(sql)

    def pending(self):
        return self.query("SELECT COUNT(*) FROM outbox WHERE status IN ('pending', 'sending')")[0][0]

    def log_lines(self, pattern):
        return [line for host in self.hosts for line in host.log().splitlines() if re.search(pattern, line)]

    def drain_outbox(self, timeout=60):
        """Wait for the workers' sender threads to empty the outbox; `flask outbox send` now and then as well,
        as the documented companion would. Rows a killed worker had claimed return when their lease ends."""
        deadline = time.monotonic() + timeout
        next_pass = time.monotonic() + 3
        while time.monotonic() < deadline:
            if self.pending() == 0:
                return True
            if time.monotonic() >= next_pass:
                flask_command(self.env, "outbox", "send")
                next_pass = time.monotonic() + 3
            time.sleep(0.1)
        return self.pending() == 0

    # The crash: with one host, one of its workers (the master starts another); with several, a whole host
    # (master and workers, as when a machine loses power), started again after a while.
    def kill(self):
        """SIGKILL mid-run; returns (what was killed, when, how many processes died, how to tell it recovered)."""
        if self.balancer is None:
            host = self.hosts[0]
            victim = host.workers()[0]
            os.kill(victim, signal.SIGKILL)
            return (f"worker killed (SIGKILL):      pid {victim}", time.monotonic(), 1,
                    lambda: f"workers after: {len(host.workers())}", lambda: len(host.workers()) == 2)
        host = self.hosts[-1]
        pid, workers = host.process.pid, len(host.workers())
        host.kill()
        killed_at = time.monotonic()
        time.sleep(2)  # down for a while: nginx sends everyone to the other host meanwhile
        host.start()
        back = len(host.log())

        def after():
            up = sum(h.process.poll() is None for h in self.hosts)
            since = sum(route == "/request" for _, route, _ in host.routes(host.log()[back:]))
            return (f"started again ({host.starts - 1} time), then served {since} pages and posts; hosts up after: "
                    f"{up}/{len(self.hosts)}; database: {self.store.engine}, limits: Redis")

        def recovered():
            served = [sum(route == "/request" for _, route, _ in h.routes()) for h in self.hosts]
            return host.starts == 2 and all(h.process.poll() is None for h in self.hosts) and all(served)

        return (f"host killed (SIGKILL):        {host.name} (master pid {pid} and {workers} workers)", killed_at,
                workers, after, recovered)

    def served(self):
        """Pages and posts of /request each host answered (the app's own log line per request)."""
        return {host.name: sum(route == "/request" for _, route, _ in host.routes()) for host in self.hosts}


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


def load(port, total, clients, kill_after, kill):
    """`clients` patients at a time until `total` have sent the form; `kill()` once `kill_after` have an answer.
    Returns each patient's (number, reference or None, outcome), what kill() returned, and the seconds taken."""
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
            patient(port, number, results)

    def killer():
        while len(results) < kill_after:
            time.sleep(0.01)
        killed.append(kill())

    started = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(clients)]
    kill_thread = threading.Thread(target=killer, daemon=True)
    for thread in [*threads, kill_thread]:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    kill_thread.join(90)  # a host being started again
    return results, (killed[0] if killed else None), elapsed


def run(total, clients, kill_after, hosts, engine):
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="soak-") as workdir, MailSink() as sink:
        store = Store(engine, workdir)
        try:
            site = Deployment(workdir, sink.controller.port, hosts, store)
            try:
                site.start()
                results, killed, elapsed = load(site.port, total, clients, kill_after, site.kill)
                drain_started = time.monotonic()
                drained = site.drain_outbox()
                drain_time = time.monotonic() - drain_started
                if hosts > 1:
                    print("posts and forms served:       "
                          + ", ".join(f"{name} {count}" for name, count in site.served().items()))
                status = report(site, sink, results, killed, elapsed, drained)
                print(f"time:                         load {elapsed:.1f} s, outbox drained in {drain_time:.1f} s, "
                      f"whole run {time.monotonic() - began:.1f} s (database: {engine}, hosts: {hosts})")
                return status
            finally:
                site.stop()
        finally:
            store.close()


def report(site, sink, results, killed, elapsed, drained):
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
    killed_text, kill_time, processes_killed, after, recovered = killed or ("nothing killed", None, 0, str, bool)
    crash_redeliveries = [ref for ref in redelivered if kill_time and min(t for t, _ in deliveries[ref]) <= kill_time]
    failures = Counter(outcome for _, reference, outcome in results if not reference)
    outbox = dict(site.query("SELECT status, COUNT(*) FROM outbox GROUP BY status"))
    server_errors = site.log_lines(r"status=5\d\d|Traceback")

    print(f"requests sent:                {len(results)} in {elapsed:.1f} s ({len(results) / elapsed:.0f}/s)")
    print(f"{killed_text}; {after()}")
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
    ok = (killed and recovered() and lost == 0 and duplicates == 0 and drained and spam == 0
          and set(per_request) == {1} and len(confirmed) > 0 and not server_errors
          and len(redelivered) <= processes_killed and redelivered == crash_redeliveries
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
                        help="1: one gunicorn; 2 or more: hosts behind nginx with Redis for the limits")
    parser.add_argument("--database", choices=["postgresql", "sqlite"], default=None,
                        help="the shared database (default: sqlite with one host, postgresql with several)")
    args = parser.parse_args()
    engine = args.database or ("postgresql" if args.hosts > 1 else "sqlite")
    return run(args.requests, args.clients, args.kill_after or args.requests // 3, args.hosts, engine)


if __name__ == "__main__":
    sys.exit(main())
