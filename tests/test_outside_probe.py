"""What the outside probe found (issue 22 part C): each finding as the behaviour that must hold, with real parts
(the SQLite file, aiosmtpd, gunicorn) where the finding is about them. Each of these tests failed before its fix."""
import email
import email.policy
import http.client
import logging
import os
import stat
import subprocess
import sys
import time
from contextlib import contextmanager
from urllib.parse import urlencode

import pytest

from blueprints.requests import mail_settings
from clinic.outbox import Sender, send_pending
from scripts.loopback import LoopbackClient, free_port
from tests import test_staff
from tests.conftest import EVENT_TIMEOUT_SECONDS, ROOT, TEST_SECRET, content_dir, database_locked, route_to_summary
from tests.helpers import PATIENT, form_fields, submit_request
from tests.support.servers import wait_until_healthy
from tests.support.staff import FAST_ARGON2, add_request, audit_rows, create_staff, sign_in
from tests.support.storage import stored, value

CROSS_SITE = {"Sec-Fetch-Site": "cross-site"}


# The staff inbox's own fixtures (tests/test_staff.py), so these tests sign in however the inbox asks to.
clock, staff_app, signed_in = test_staff.clock, test_staff.staff_app, test_staff.signed_in


# --- L1: no other site can make a signed-in nurse write audit rows ------------------------------------------
def staff_get_urls(app, reference):
    """Every GET route of the staff area, with `reference` for routes that take one."""
    urls = []
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            if "GET" not in rule.methods or not rule.rule.startswith("/staff") or rule.endpoint == "staff.sign_in":
                continue
            arguments = {name: reference for name in rule.arguments}
            urls.append(app.url_for(rule.endpoint, **arguments))
    return sorted(set(urls))


def test_no_staff_page_opened_by_another_site_writes_an_audit_row(staff_app, signed_in):
    reference = add_request(staff_app)
    urls = staff_get_urls(staff_app, reference)
    assert "/staff/insights" in urls and f"/staff/requests/{reference}" in urls
    before = len(audit_rows(staff_app))
    for url in urls:
        response = signed_in.get(url, headers=CROSS_SITE)
        assert response.status_code in (200, 302, 403, 404), (url, response.status_code)
        assert len(audit_rows(staff_app)) == before, f"{url} opened from another site wrote an audit row"


def test_the_journey_report_opened_from_another_site_offers_our_own_link_instead(staff_app, signed_in):
    response = signed_in.get("/staff/insights?weeks=4", headers=CROSS_SITE)
    page = response.get_data(as_text=True)
    assert response.status_code == 403 and "Opened from another site" in page
    assert 'href="/staff/insights"' in page
    assert signed_in.get("/staff/insights", headers={"Sec-Fetch-Site": "same-origin"}).status_code == 200
    assert len(audit_rows(staff_app, "viewed")) == 1


# --- L2: a fresh sign-in is never undone by the stale cookie's deletion -------------------------------------
def test_signing_in_with_a_stale_staff_cookie_keeps_the_new_session(staff_app):
    create_staff(staff_app)
    client = staff_app.test_client()
    client.set_cookie(staff_app.config["STAFF_COOKIE_NAME"], "a-session-that-ended-long-ago")
    response = sign_in(client)
    assert response.status_code == 303 and response.headers["Location"] == "/staff"
    staff_cookies = [h for h in response.headers.getlist("Set-Cookie")
                     if h.startswith(staff_app.config["STAFF_COOKIE_NAME"] + "=")]
    assert len(staff_cookies) == 1 and "Expires=Thu, 01 Jan 1970" not in staff_cookies[0], staff_cookies
    assert client.get("/staff").status_code == 200


# --- L3: a reference that is not a reference is a 404 before anything is shown ----------------------------
@pytest.mark.parametrize("reference", ["FBS-NOW! call the patient NOW on 555-0100",
                                       "Call 555-0100 now", "FBS-7K3QQ", "fbs-7k3q", "FBS-0O1I"])
def test_a_link_from_another_site_with_a_made_up_reference_is_a_404_that_repeats_nothing(staff_app, signed_in,
                                                                                        reference):
    response = signed_in.get(f"/staff/requests/{reference}", headers=CROSS_SITE)
    assert response.status_code == 404
    assert "555-0100" not in response.get_data(as_text=True) and reference not in response.get_data(as_text=True)


def test_a_link_from_another_site_with_a_well_formed_reference_still_offers_our_link(staff_app, signed_in):
    response = signed_in.get("/staff/requests/FBS-7K3Q", headers=CROSS_SITE)
    assert response.status_code == 403 and 'href="/staff/requests/FBS-7K3Q"' in response.get_data(as_text=True)


# --- L6: the export command writes a file only the site's user can read -------------------------------------
def test_export_to_a_file_is_private_whatever_the_umask_and_readme_uses_it(staff_app, tmp_path):
    reference = add_request(staff_app, name="Alex Example")
    target = tmp_path / "requests.csv"
    old = os.umask(0o022)
    try:
        result = staff_app.test_cli_runner().invoke(args=["requests", "export", "--output", str(target)])
    finally:
        os.umask(old)
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert reference in target.read_text(encoding="utf-8") and "Alex Example" not in result.output
    # A file left by an earlier, wider export is tightened before it is written to.
    target.chmod(0o644)
    assert staff_app.test_cli_runner().invoke(args=["requests", "export", "--output", str(target)]).exit_code == 0
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "requests export --output" in readme and "requests export >" not in readme


# --- L7: no client address next to an endpoint in the app's log ---------------------------------------------
def test_the_rate_limit_log_line_names_no_client_address(make_app, caplog):
    app = make_app(WTF_CSRF_ENABLED=False, REQUEST_RATE_LIMIT="1 per minute")
    client = app.test_client()
    caplog.set_level(logging.DEBUG)
    from_there = {"REMOTE_ADDR": "127.0.1.2"}
    client.post("/request", data={}, environ_base=from_there)
    assert client.post("/request", data={}, environ_base=from_there).status_code == 429
    limiter_lines = [r.getMessage() for r in caplog.records if r.name == "flask-limiter"]
    assert any("exceeded" in line for line in limiter_lines), limiter_lines
    assert not [r.getMessage() for r in caplog.records if "127.0.1.2" in r.getMessage()]


# --- Informational: an over-long chunked body is a 413 without nginx too --------------------------------------
@contextmanager
def gunicorn(app, *arguments, **environment):
    """gunicorn with the site's gunicorn.conf.py on a free loopback port, on `app`'s database; yields the port."""
    port = free_port()
    env = dict(os.environ, FLASK_SECRET_KEY=TEST_SECRET, FLASK_DATABASE=app.config["DATABASE"],
               FLASK_CONTENT_DIR=app.config["CONTENT_DIR"], FLASK_MAIL_DIR=app.config["MAIL_DIR"],
               FLASK_OUTBOX_AUTOSEND="false", GUNICORN_BIND=f"127.0.0.1:{port}", GUNICORN_WORKERS="1",
               **environment)
    env.pop("FLASK_DEBUG", None)
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py",
                               "--no-control-socket", *arguments], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_until_healthy(server, port)
        yield port
    finally:
        server.terminate()
        server.communicate(timeout=20)


def post_chunked(port, path, body, cookies=""):
    """POST `body` with Transfer-Encoding: chunked and no Content-Length, as some clients send it; (status, text)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=EVENT_TIMEOUT_SECONDS)
    try:
        pieces = (body[i:i + 8192] for i in range(0, len(body), 8192))
        conn.request("POST", path, body=pieces, encode_chunked=True, headers={
            "Content-Type": "application/x-www-form-urlencoded", "Transfer-Encoding": "chunked", "Cookie": cookies})
        response = conn.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    finally:
        conn.close()


def test_an_over_long_chunked_body_gets_the_friendly_413_from_gunicorn_alone(make_app):
    app = make_app(CONTENT_DIR=str(content_dir()))
    with gunicorn(app) as port:
        status, page = post_chunked(port, "/request", b"description=" + b"a" * 100_000)
        assert status == 413 and "too much text" in page
        # A chunked body within the limit is read as usual.
        patient = LoopbackClient(port)
        fields = form_fields(patient.fetch("GET", "/request")[2])
        body = urlencode({**fields, **PATIENT}).encode()
        status, _ = post_chunked(port, "/request", body, cookies=patient.cookie_header())
    assert status == 303
    assert value(app, "SELECT COUNT(*) FROM requests") == 1


# --- Informational: a short lock in the outbox sender is one WARNING line -----------------------------------
def test_a_short_database_lock_in_the_outbox_sender_is_one_warning_line_and_the_next_pass_sends(make_app, caplog):
    app = make_app(CONTENT_DIR=str(content_dir()))
    add_request(app)
    settings = mail_settings(app)
    caplog.set_level(logging.INFO)
    passes = []

    def run_pass():
        passes.append(send_pending(app.config["DATABASE"], settings, busy_timeout_ms=50))

    sender = Sender(run_pass, interval=EVENT_TIMEOUT_SECONDS)
    with database_locked(app.config["DATABASE"]):
        sender.ensure_started()
        deadline = time.monotonic() + EVENT_TIMEOUT_SECONDS
        while not [r for r in caplog.records if r.name == "clinic.outbox" and r.levelno >= logging.WARNING]:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    sender.wake()
    deadline = time.monotonic() + EVENT_TIMEOUT_SECONDS
    while not passes:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    sender.stop()
    assert passes[0]["sent"] == 1
    complaints = [r for r in caplog.records if r.name == "clinic.outbox" and r.levelno >= logging.WARNING]
    assert len(complaints) == 1 and complaints[0].levelno == logging.WARNING and complaints[0].exc_info is None
    assert "\n" not in complaints[0].getMessage() and "locked" in complaints[0].getMessage()


# --- M1: a ceiling on requests from everyone together, and limits per /64 -----------------------------------
def stored_requests(app):
    return stored(app, "SELECT reference, status, past_ceiling FROM requests ORDER BY id")


def test_past_the_hourly_ceiling_requests_are_kept_for_review_and_staff_get_one_digest(make_app, smtp_server):
    """The probe: from 8 loopback addresses, 8 posts each in 17 s, 58 stored and 58 staff emails queued."""
    now = {"t": 1_800_000_000.0}
    app = make_app(CONTENT_DIR=str(content_dir()), REQUEST_HOURLY_CEILING=3, REQUEST_CLOCK=lambda: now["t"],
                   PATIENT_RECEIPT=True, STAFF_ARGON2=FAST_ARGON2, **smtp_server.config())
    client = app.test_client()
    for number in range(8):
        client.environ_base["REMOTE_ADDR"] = f"127.0.{number}.2"
        assert submit_request(client, email=f"person{number}@example.com").status_code == 303
        now["t"] += 2
    def deliver():
        return send_pending(app.config["DATABASE"], mail_settings(app), clock=lambda: now["t"])

    stored = stored_requests(app)
    assert len(stored) == 8 and {r["status"] for r in stored} == {"new"}  # never lost, never spam
    assert [r["past_ceiling"] for r in stored] == [0, 0, 0, 1, 1, 1, 1, 1]
    assert deliver() == {"sent": 6, "retry": 0, "failed": 0}  # 3 notifications, 3 receipts; the digest waits
    now["t"] += 600  # ... 10 minutes, so it covers the whole burst
    assert deliver() == {"sent": 1, "retry": 0, "failed": 0}
    to_staff = [email.message_from_bytes(raw, policy=email.policy.default) for _, recipients, raw in smtp_server.messages
                if "staff@clinic.test" in recipients]
    to_patients = [recipients for _, recipients, _ in smtp_server.messages if "staff@clinic.test" not in recipients]
    assert len(to_staff) == 4 and len(to_patients) == 3  # no receipts to addresses a flood typed in either
    [digest] = [m for m in to_staff if not m["Subject"].startswith("New second-opinion request")]
    text = digest.get_content()
    assert "5 requests" in text and "http://clinic.test/staff" in text
    assert not any(r["reference"] in text for r in stored) and "example.com" not in text

    # More in the same hour: still kept, still no email each, and the next digest waits for the hour to pass.
    client.environ_base["REMOTE_ADDR"] = "127.0.9.2"
    assert submit_request(client).status_code == 303
    now["t"] += 1200
    assert deliver()["sent"] == 0
    # An hour later the site is quiet again: a request gets its own email (and its receipt), and the second
    # digest tells of the one request held since the first.
    now["t"] += 3601
    assert submit_request(client).status_code == 303
    assert stored_requests(app)[-1]["past_ceiling"] == 0
    assert deliver()["sent"] == 3
    latest = [email.message_from_bytes(raw, policy=email.policy.default) for _, _, raw in smtp_server.messages[-3:]]
    assert sum("1 request came in past the hourly limit" in m.get_content() for m in latest) == 1

    create_staff(app)
    staff = app.test_client()
    assert sign_in(staff, csrf_token=csrf_of(staff, "/staff/sign-in")).status_code == 303
    inbox = staff.get("/staff").get_data(as_text=True)
    assert inbox.count("For review") == 6
    held = stored[-1]["reference"]
    assert "For review" in staff.get(f"/staff/requests/{held}").get_data(as_text=True)
    assert "For review" not in staff.get(f"/staff/requests/{stored[0]['reference']}").get_data(as_text=True)


def csrf_of(client, path):
    return form_fields(client.get(path).get_data(as_text=True))["csrf_token"]


def test_the_ceiling_is_a_setting_with_its_row_in_readme(make_app):
    assert make_app().config["REQUEST_HOURLY_CEILING"] == 30
    assert "| `FLASK_REQUEST_HOURLY_CEILING` | `30` |" in (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("first, same_home, elsewhere", [
    ("2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:fffe", "2001:db8:1:3::1"),
    ("127.0.1.2", "::ffff:127.0.1.2", "127.0.1.3"),
])
def test_request_limits_count_an_ipv6_home_by_its_64(make_app, first, same_home, elsewhere):
    app = make_app(CONTENT_DIR=str(content_dir()), REQUEST_RATE_LIMIT="2 per minute")
    client = app.test_client()
    for address, expected in ((first, 303), (same_home, 303), (same_home, 429), (elsewhere, 303)):
        client.environ_base["REMOTE_ADDR"] = address
        assert submit_request(client).status_code == expected, address


def test_new_journeys_are_limited_per_64_too(make_app):
    app = make_app(CONTENT_DIR=str(content_dir()), WTF_CSRF_ENABLED=False, JOURNEY_CREATE_RATE_LIMIT="1 per minute")
    route = route_to_summary(app.extensions["journey"])
    to_first_answer = route[:next(i for i, (_, form) in enumerate(route) if form) + 1]
    statuses = []
    for address in ("2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:3::1"):
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = address
        for step, form in to_first_answer:  # the first answer makes the journey's row
            status = client.post(f"/journey/{step.id}", data=form).status_code
        statuses.append(status)
    assert statuses == [303, 429, 303]


def test_sign_in_failures_count_an_ipv6_home_by_its_64(make_app):
    app = make_app(CONTENT_DIR=str(content_dir()), WTF_CSRF_ENABLED=False, STAFF_ARGON2=FAST_ARGON2,
                   STAFF_SIGNIN_IP_MAX_FAILURES=3)
    client = app.test_client()
    for number in range(3):
        client.environ_base["REMOTE_ADDR"] = f"2001:db8:1:2::{number + 1}"
        assert sign_in(client, email=f"guess{number}@clinic.test", password="wrong guess").status_code == 200
    client.environ_base["REMOTE_ADDR"] = "2001:db8:1:2:abcd::9"
    assert sign_in(client, email="another@clinic.test", password="wrong guess").status_code == 429
    client.environ_base["REMOTE_ADDR"] = "2001:db8:1:3::1"
    assert sign_in(client, email="another@clinic.test", password="wrong guess").status_code == 200


# --- L4: behind a proxy without ProxyFix every client is 127.0.0.1: say so -----------------------------------
def production_app(make_app, **config):
    return make_app(CONTENT_DIR=str(content_dir()), PRODUCTION=True, BASE_URL="https://clinic.example.org",
                    TRUSTED_HOSTS="localhost", **config)


def proxy_warnings(caplog):
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "FLASK_PROXY_FIX" in r.getMessage()]


def test_production_without_proxy_fix_warns_at_start_and_once_when_a_proxy_forwards_requests(make_app, caplog):
    caplog.set_level(logging.INFO)
    app = production_app(make_app)
    assert len(proxy_warnings(caplog)) == 1, "start-up warns that FLASK_PROXY_FIX is off"
    client = app.test_client()
    client.get("/", headers={"X-Forwarded-For": "192.0.2.7"}, environ_base={"REMOTE_ADDR": "127.0.0.1"})
    client.get("/", headers={"X-Forwarded-For": "192.0.2.8"}, environ_base={"REMOTE_ADDR": "127.0.0.1"})
    [start, seen] = proxy_warnings(caplog)
    assert "X-Forwarded-For" in seen and "127.0.0.1" in seen and "192.0.2" not in seen


def test_with_proxy_fix_on_a_forwarded_request_is_not_warned_about(make_app, caplog):
    caplog.set_level(logging.INFO)
    app = production_app(make_app, PROXY_FIX=True)
    app.test_client().get("/", headers={"X-Forwarded-For": "192.0.2.7"}, environ_base={"REMOTE_ADDR": "127.0.0.1"})
    assert not proxy_warnings(caplog)


# --- L5: gunicorn is never reachable from outside by mistake ------------------------------------------------
def gunicorn_start(app, bind, **environment):
    """Start production gunicorn on `bind` (port from free_port): (None, stderr) once it answers /healthz on
    loopback (then it is stopped), or (its exit status, stderr) when it refuses to start."""
    env = dict(os.environ, FLASK_SECRET_KEY=TEST_SECRET, FLASK_DATABASE=app.config["DATABASE"],
               FLASK_CONTENT_DIR=app.config["CONTENT_DIR"], FLASK_MAIL_DIR=app.config["MAIL_DIR"],
               FLASK_PRODUCTION="1", FLASK_PROXY_FIX="1", FLASK_BASE_URL="https://clinic.example.org",
               FLASK_TRUSTED_HOSTS="localhost", FLASK_OUTBOX_AUTOSEND="false", GUNICORN_BIND=bind,
               GUNICORN_WORKERS="1", **environment)
    env.pop("FLASK_DEBUG", None)
    port = int(bind.rpartition(":")[2])
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", "--no-control-socket"],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + EVENT_TIMEOUT_SECONDS
    try:
        while server.poll() is None:
            try:
                if LoopbackClient(port, timeout=2).fetch("GET", "/healthz", headers={"Host": "localhost"})[0] == 200:
                    return None, ""
            except OSError:
                pass
            assert time.monotonic() < deadline, "gunicorn neither answered nor stopped"
            time.sleep(0.1)
        return server.returncode, server.stderr.read()
    finally:
        if server.poll() is None:
            server.terminate()
            server.communicate(timeout=20)


@pytest.mark.parametrize("bind", ["0.0.0.0:{port}", "[::]:{port}", ":{port}"])
def test_production_gunicorn_refuses_a_public_bind(make_app, bind):
    app = make_app(CONTENT_DIR=str(content_dir()))
    status, errors = gunicorn_start(app, bind.format(port=free_port()))
    assert status not in (None, 0), errors
    assert "GUNICORN_BIND" in errors and "FLASK_ALLOW_PUBLIC_BIND=1" in errors and "nginx" in errors


def test_production_gunicorn_binds_publicly_only_when_allowed(make_app):
    app = make_app(CONTENT_DIR=str(content_dir()))
    port = free_port()
    status, errors = gunicorn_start(app, f"0.0.0.0:{port}", FLASK_ALLOW_PUBLIC_BIND="1")
    assert status is None, errors  # still running when stopped
    status, errors = gunicorn_start(app, f"127.0.0.1:{port}")
    assert status is None, errors


def test_readme_says_gunicorn_must_sit_behind_nginx():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "gunicorn must sit behind nginx" in readme and "FLASK_ALLOW_PUBLIC_BIND" in readme
