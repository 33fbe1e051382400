"""Small-host production: /healthz, the request log, versioned static files, production settings, gunicorn."""
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request

import pytest

from app import _instance_secret_key, create_app
from clinic import db as clinic_db
from clinic import migrate
from clinic.production import ConfigError, clinic_phone_problem
from tests.conftest import EVENT_TIMEOUT_SECONDS, ROOT, TEST_SECRET, content_dir, database_locked, migrated_database
from tests.support.servers import gunicorn_env

FIXTURE_CONTENT = ROOT / "tests" / "fixtures" / "content"
CONTENT = content_dir()  # the real journey when it is there; the loader's small fixture journey otherwise
HEALTH_KEYS = {"status", "database", "schema_version", "outbox_pending", "outbox_failed", "oldest_pending_age_seconds"}


@pytest.fixture
def app(make_app):
    app = make_app(CONTENT_DIR=str(FIXTURE_CONTENT), WTF_CSRF_ENABLED=False, HEALTHZ_BUSY_TIMEOUT_MS=50)
    app.extensions["health_probe"].clock = ProbeClock()  # the write probe's clock, moved by the tests
    return app


class ProbeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += seconds


def add_request_with_outbox(app, *, age_seconds, statuses=("pending",)):
    now = int(time.time())
    conn = clinic_db.connect(app.config["DATABASE_URL"])
    try:
        with clinic_db.transaction(conn):
            request_id = conn.execute(clinic_db.text(
                "INSERT INTO requests (reference, submission_id, created_at, name, email, phone, contact_by, description) "
                "VALUES (:reference, :submission, :at, 'Alice Example', 'alice@example.org', '+1 555 0199', 'email', "
                "'My leg goes numb') RETURNING id"),
                {"reference": f"FBS-{now % 10000}{len(statuses)}", "submission": f"sub-{now}-{age_seconds}",
                 "at": now - age_seconds}).scalar_one()
            for status in statuses:
                conn.execute(clinic_db.text("INSERT INTO outbox (request_id, kind, status, next_attempt_at, created_at) "
                                            "VALUES (:request, 'staff_notification', :status, :now, :at)"),
                             {"request": request_id, "status": status, "now": now, "at": now - age_seconds})
    finally:
        conn.close()


# /healthz

def app_on(kind, make_app, request):
    """An app on a head-version database: the SQLite file make_app makes, or a PostgreSQL one (`migrated_pg`)."""
    settings = {"DATABASE_URL": request.getfixturevalue("migrated_pg")} if kind == "postgresql" else {}
    return make_app(CONTENT_DIR=str(FIXTURE_CONTENT), WTF_CSRF_ENABLED=False, **settings)


def run_sql(app, sql):
    conn = clinic_db.connect(app.config["DATABASE_URL"])
    try:
        conn.exec_driver_sql(sql)
    finally:
        conn.close()


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_healthz_is_200_with_an_empty_backlog_when_the_database_takes_writes(kind, make_app, request):
    response = app_on(kind, make_app, request).test_client().get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "database": "writable", "schema_version": migrate.head(),
                             "outbox_pending": 0, "outbox_failed": 0, "oldest_pending_age_seconds": 0}


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_healthz_reports_another_schema_version_as_a_mismatch_before_writing_anything(kind, make_app, request):
    app = app_on(kind, make_app, request)
    older = migrate.head() - 1
    run_sql(app, f"PRAGMA user_version = {older}" if kind == "sqlite" else f"UPDATE schema_version SET version = {older}")
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json["database"] == "schema_mismatch" and response.json["schema_version"] == older
    conn = clinic_db.connect(app.config["DATABASE_URL"])
    try:
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM ops_heartbeat").scalar() == 0  # the version came first
    finally:
        conn.close()


@pytest.mark.both_databases
def test_healthz_reports_the_outbox_backlog_and_the_age_of_its_oldest_pending_message(client, app):
    add_request_with_outbox(app, age_seconds=600, statuses=("pending", "failed", "sent"))
    add_request_with_outbox(app, age_seconds=30, statuses=("pending",))
    report = client.get("/healthz").json
    assert (report["outbox_pending"], report["outbox_failed"]) == (2, 1)
    assert 600 <= report["oldest_pending_age_seconds"] < 700


@pytest.mark.both_databases
def test_healthz_is_503_while_another_writer_holds_the_database(client, app):
    with database_locked(app):
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json["status"] == "error" and response.json["database"] == "locked"
    assert response.headers["Cache-Control"] == "no-store"
    probe_clock(app).advance(10)
    assert client.get("/healthz").status_code == 200  # and healthy again at the next probe once the lock is gone


def probe_clock(app):
    return app.extensions["health_probe"].clock


@pytest.mark.both_databases
def test_healthz_write_probe_runs_at_most_every_10_seconds_however_often_it_is_called(client, app):
    clock = probe_clock(app)
    assert client.get("/healthz").status_code == 200  # probes: the database takes a write
    with database_locked(app):
        # Another writer holds the lock now: a probe would see it. None runs for the next 10 seconds.
        for _ in range(50):
            clock.advance(0.19)
            response = client.get("/healthz")
            assert response.status_code == 200 and response.json["database"] == "writable"
        clock.advance(0.5)  # 10 s after the first probe
        response = client.get("/healthz")
        assert response.status_code == 503 and response.json["database"] == "locked"


PUBLIC = {"REMOTE_ADDR": "203.0.113.9"}


@pytest.mark.both_databases
def test_healthz_tells_the_public_only_its_status(client, app):
    add_request_with_outbox(app, age_seconds=600, statuses=("pending", "failed"))
    response = client.get("/healthz", environ_base=PUBLIC)
    assert response.status_code == 200 and response.json == {"status": "ok"}
    assert response.headers["Cache-Control"] == "no-store"
    with database_locked(app):
        probe_clock(app).advance(10)
        response = client.get("/healthz", environ_base=PUBLIC)
    assert response.status_code == 503 and response.json == {"status": "error"}


def test_healthz_figures_go_to_loopback_callers_and_to_callers_with_the_configured_token(make_app):
    app = make_app(CONTENT_DIR=str(FIXTURE_CONTENT), HEALTHZ_TOKEN="monitor-token-0123456789abcdef")
    client = app.test_client()
    assert set(client.get("/healthz").json) == HEALTH_KEYS  # the test client calls from 127.0.0.1
    assert set(client.get("/healthz", environ_base={"REMOTE_ADDR": "::1"}).json) == HEALTH_KEYS
    with_token = client.get("/healthz", environ_base=PUBLIC, headers={"Authorization": "Bearer monitor-token-0123456789abcdef"})
    assert set(with_token.json) == HEALTH_KEYS
    for wrong in ("Bearer monitor-token-0123456789abcdeX", "Bearer ", "monitor-token-0123456789abcdef", "Basic xyz"):
        assert client.get("/healthz", environ_base=PUBLIC, headers={"Authorization": wrong}).json == {"status": "ok"}


def test_healthz_behind_the_proxy_judges_the_real_client_not_nginx(make_app):
    app = make_app(CONTENT_DIR=str(FIXTURE_CONTENT), PROXY_FIX=True)
    client = app.test_client()  # nginx on 127.0.0.1 passes the caller's address on
    assert client.get("/healthz", headers={"X-Forwarded-For": "203.0.113.9"}).json == {"status": "ok"}
    assert set(client.get("/healthz", headers={"X-Forwarded-For": "127.0.0.1"}).json) == HEALTH_KEYS


def test_healthz_is_503_when_the_database_file_cannot_be_opened(client, app, tmp_path):
    app.config["DATABASE_URL"] = str(tmp_path / "no-such-directory" / "clinic.sqlite3")
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json["database"] == "unavailable"


def make_read_only(path):
    """Make the file unwritable even for root (file modes do not stop root; the immutable flag does).

    Returns an undo function, or None when neither works here (a filesystem without the flag).
    """
    if os.geteuid() != 0:
        os.chmod(path, 0o444)
        return lambda: os.chmod(path, 0o644)
    if subprocess.run(["chattr", "+i", path], capture_output=True).returncode == 0:
        return lambda: subprocess.run(["chattr", "-i", path], check=True)
    return None


def test_healthz_is_503_when_the_database_file_is_read_only(client, app, tmp_path):
    undo = make_read_only(app.config["DATABASE"])
    if undo is None:
        # Same outcome by another road: the file sits where nothing can be created or written.
        blocker = tmp_path / "a-file"
        blocker.write_text("not a directory")
        app.config["DATABASE_URL"] = str(blocker / "clinic.sqlite3")
        undo = lambda: None  # noqa: E731
    clinic_db.dispose(app.config["DATABASE_URL"])  # as in a new process: no pooled connection opened it writable
    try:
        response = client.get("/healthz")
    finally:
        undo()
    assert response.status_code == 503
    assert response.json["status"] == "error" and response.json["database"] != "writable"


@pytest.mark.both_databases
def test_healthz_is_not_cached_and_holds_only_counts_never_personal_data_or_versions(client, app):
    add_request_with_outbox(app, age_seconds=5)
    response = client.get("/healthz")
    assert response.headers["Cache-Control"] == "no-store"
    assert set(response.json) == HEALTH_KEYS
    body = response.get_data(as_text=True).lower()
    for secret in ("alice", "example.org", "555", "numb", "fbs-", "flask", "python", "werkzeug", "gunicorn", "sqlite"):
        assert secret not in body


# The request log

def request_lines(caplog):
    return [r.getMessage() for r in caplog.records if r.name == "blueprints.request_log"]


def test_each_request_logs_one_line_with_id_method_route_status_and_duration(client, caplog):
    caplog.set_level(logging.INFO, logger="blueprints.request_log")
    response = client.get("/journey/surgery?email=alice@example.org&q=leg+numb")
    lines = request_lines(caplog)
    assert len(lines) == 1
    request_id = response.headers["X-Request-Id"]
    assert re.fullmatch(r"[0-9a-f]{16}", request_id)
    assert re.fullmatch(
        rf"request id={request_id} method=GET route=/journey/<step_id> status=302 ms=\d+\.\d", lines[0]
    ), lines[0]


def test_the_log_never_holds_query_strings_form_values_or_cookies(client, caplog):
    caplog.set_level(logging.DEBUG)
    client.post("/journey/start", data={})  # starts a journey: the session cookie is set
    client.post("/journey/safety?note=private-query-text", data={"bladder": "no", "extra": "private-form-text"})
    client.get("/no-such-page/alice@example.org")
    cookie = client.get_cookie("session").value
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "route=/journey/<step_id> status=303" in logged
    assert "route=- status=404" in logged  # an unmatched path is not written out
    for private in ("private-query-text", "private-form-text", "alice@example.org", "bladder", cookie):
        assert private not in logged


def test_request_ids_differ_between_requests(client):
    assert client.get("/healthz").headers["X-Request-Id"] != client.get("/healthz").headers["X-Request-Id"]


# Static files

def test_static_urls_carry_the_files_content_hash(client):
    html = client.get("/").get_data(as_text=True)
    urls = re.findall(r'(?:href|src)="(/static/[^"]+)"', html)
    assert len(urls) >= 2  # stylesheet and htmx (the icon is a data: URL in the page)
    for url in urls:
        path, _, version = url.partition("?v=")
        content = (ROOT / path.lstrip("/")).read_bytes()
        assert version == hashlib.sha256(content).hexdigest()[:10], url


def test_versioned_static_files_are_cached_for_a_year_and_immutable(client):
    html = client.get("/").get_data(as_text=True)
    stylesheet = re.search(r'href="(/static/site\.css\?v=[0-9a-f]{10})"', html).group(1)
    response = client.get(stylesheet)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"


def test_unversioned_or_stale_static_urls_are_cached_only_briefly(client):
    for url in ("/static/site.css", "/static/site.css?v=0000000000"):
        assert client.get(url).headers["Cache-Control"] == "public, max-age=3600"


def test_favicon_ico_answers_with_the_svg_icon_instead_of_a_404(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response.mimetype == "image/svg+xml"
    assert response.data == (ROOT / "static" / "favicon.svg").read_bytes()


def test_robots_txt_keeps_crawlers_out_of_staff_pages_only(client):
    response = client.get("/robots.txt")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    assert "Disallow: /staff/" in response.get_data(as_text=True)
    assert "Disallow: /journey" not in response.get_data(as_text=True)


# Production settings

@pytest.fixture
def production_env(monkeypatch, tmp_path, signed_content):
    """Settings the way a host gives them: environment variables read by create_app()."""
    monkeypatch.setenv("FLASK_PRODUCTION", "1")
    monkeypatch.setenv("FLASK_DATABASE", str(migrated_database(tmp_path / "clinic.sqlite3")))
    monkeypatch.setenv("FLASK_CONTENT_DIR", str(signed_content))
    monkeypatch.setenv("FLASK_SECRET_KEY", TEST_SECRET)
    monkeypatch.delenv("FLASK_DEBUG", raising=False)
    return monkeypatch


@pytest.mark.parametrize("key", ["short-key", "change-me", "changeme-changeme-changeme-changeme-1234", "0123456789" * 3])
def test_production_refuses_a_short_or_placeholder_secret_key_with_a_clear_message(production_env, key):
    production_env.setenv("FLASK_SECRET_KEY", key)
    with pytest.raises(ConfigError, match="FLASK_SECRET_KEY") as refused:
        create_app()
    assert key not in str(refused.value)  # the message never repeats the key
    assert "secrets.token_hex" in str(refused.value)


def test_production_starts_with_a_long_random_secret_key(production_env):
    app = create_app()
    assert app.config["PRODUCTION"] and not app.debug
    assert app.test_client().get("/healthz").status_code == 200


def test_production_on_a_shared_database_refuses_to_start_without_an_explicit_secret_key(production_env):
    """Two hosts on one PostgreSQL must sign cookies with one key: a generated instance/secret_key differs per host."""
    production_env.delenv("FLASK_SECRET_KEY")
    shared = {"DATABASE_URL": "postgresql://clinic@127.0.0.1:1/clinic"}
    with pytest.raises(ConfigError, match="FLASK_SECRET_KEY is not") as refused:
        create_app(shared)
    assert "same FLASK_SECRET_KEY on every host" in str(refused.value)
    assert create_app().config["SECRET_KEY"]  # SQLite alone (one host): a generated key is still fine


def test_production_refuses_the_debugger(production_env):
    production_env.setenv("FLASK_DEBUG", "1")
    with pytest.raises(ConfigError, match="FLASK_DEBUG"):
        create_app()


def with_clinic_phone(content, phone):
    meta = content / "journey.yaml"
    meta.write_text(re.sub(r"(?m)^clinic_phone: .*$", f"clinic_phone: {json.dumps(phone)}", meta.read_text()))
    return content


@pytest.mark.parametrize("phone", ["+1 (000) 000-0000", "000-000-0000", "0", "(555) 010-0199", "+1 555 0100",
                                   "(239) 555-0123", " ", "-", "phone"])
def test_a_placeholder_clinic_phone_is_recognised(phone):
    assert clinic_phone_problem(phone)


@pytest.mark.parametrize("phone", ["(239) 308-4701", "+1 239 308 4701", "(212) 555-0200", "(239) 555-1234", "911"])
def test_a_real_looking_clinic_phone_is_accepted(phone):
    assert clinic_phone_problem(phone) is None


@pytest.mark.parametrize("phone", ["+1 (000) 000-0000", "(555) 010-0142", " "])
def test_production_refuses_content_whose_clinic_phone_is_a_placeholder_naming_clinic_phone(production_env,
                                                                                            signed_content, phone):
    with_clinic_phone(signed_content, phone)
    with pytest.raises(ConfigError, match=r"clinic_phone in .*journey\.yaml") as refused:
        create_app()
    assert "Refusing to start in production" in str(refused.value)
    production_env.delenv("FLASK_PRODUCTION")
    assert create_app().extensions["journey"].clinic_phone == phone  # outside production it starts


def test_the_shipped_content_has_the_articles_clinic_and_passes_the_production_check():
    from clinic.journey import load_journey
    content = load_journey(ROOT / "content")
    assert clinic_phone_problem(content.clinic_phone) is None
    assert (content.clinic_name, content.clinic_phone) == ("Caring Medical Florida", "(239) 308-4701")
    assert content.clinic_address == "9738 Commerce Center Ct., Fort Myers, FL 33908"
    assert "out of network" in content.clinic_insurance


def test_without_a_key_one_is_generated_once_into_the_instance_folder_with_mode_0600(tmp_path):
    key = _instance_secret_key(tmp_path)
    assert len(key) == 64
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600
    assert _instance_secret_key(tmp_path) == key  # and reused on the next start


def test_the_benchmark_route_exists_only_when_asked_for_and_never_in_production(make_app, production_env):
    production_env.delenv("FLASK_PRODUCTION")
    assert make_app(CONTENT_DIR=str(FIXTURE_CONTENT)).test_client().get("/bench/ping").status_code == 404
    assert make_app(CONTENT_DIR=str(FIXTURE_CONTENT), BENCH_ROUTE=True).test_client().get("/bench/ping").data == b"ok"
    production_env.setenv("FLASK_PRODUCTION", "1")
    assert create_app({"BENCH_ROUTE": True}).test_client().get("/bench/ping").status_code == 404


def test_a_host_header_outside_trusted_hosts_gets_400(production_env):
    production_env.setenv("FLASK_TRUSTED_HOSTS", "clinic.example, www.clinic.example")
    client = create_app().test_client()
    assert client.get("/", base_url="https://clinic.example").status_code == 200
    assert client.get("/", base_url="https://www.clinic.example").status_code == 200
    refused = client.get("/", base_url="https://attacker.example")
    assert refused.status_code == 400
    assert refused.headers["X-Request-Id"]


def test_proxy_headers_are_trusted_only_when_proxy_fix_is_configured(make_app):
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "clinic.example", "X-Forwarded-For": "203.0.113.9"}
    plain = make_app(CONTENT_DIR=str(FIXTURE_CONTENT)).test_client().get("/healthz", headers=forwarded)
    assert "Strict-Transport-Security" not in plain.headers  # the request is not taken as HTTPS
    proxied = make_app(CONTENT_DIR=str(FIXTURE_CONTENT), PROXY_FIX=True).test_client().get("/healthz", headers=forwarded)
    assert "Strict-Transport-Security" in proxied.headers


# gunicorn with the checked-in configuration (what `make serve` runs)

def test_gunicorn_with_the_checked_in_config_serves_the_site_in_production_mode(tmp_path):
    env = gunicorn_env(tmp_path, TEST_SECRET)
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://{env['GUNICORN_BIND']}/healthz"
    try:
        deadline = time.monotonic() + EVENT_TIMEOUT_SECONDS
        while True:
            try:
                with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310
                    assert response.status == 200
                    assert json.load(response)["status"] == "ok"
                    break
            except OSError:
                assert server.poll() is None, server.stderr.read().decode()
                assert time.monotonic() < deadline, f"gunicorn did not answer within {EVENT_TIMEOUT_SECONDS} s"
                time.sleep(0.1)
    finally:
        server.terminate()
        _, errors = server.communicate(timeout=15)
    log = errors.decode()
    assert "route=/healthz status=200" in log  # the app's own line reaches stderr (the journal)
    assert "GET /healthz HTTP" not in log  # and gunicorn's access log stays off


def test_gunicorn_refuses_to_start_with_a_weak_key_and_says_why(tmp_path):
    env = gunicorn_env(tmp_path, "dev")
    result = subprocess.run([sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py"], cwd=ROOT, env=env,
                            capture_output=True, timeout=30)
    assert result.returncode != 0
    assert "FLASK_SECRET_KEY is a placeholder value" in result.stderr.decode()


def test_gunicorn_refuses_to_start_with_a_placeholder_clinic_phone_and_names_clinic_phone(tmp_path):
    content = tmp_path / "content"
    shutil.copytree(CONTENT, content)
    with_clinic_phone(content, "+1 (000) 000-0000")
    env = dict(gunicorn_env(tmp_path, TEST_SECRET), FLASK_CONTENT_DIR=str(content))
    result = subprocess.run([sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py"], cwd=ROOT, env=env,
                            capture_output=True, timeout=60)
    assert result.returncode != 0
    assert re.search(r"Refusing to start in production: clinic_phone in \S*journey\.yaml", result.stderr.decode())


def test_production_warns_about_a_plain_http_base_url_and_missing_trusted_hosts(production_env, caplog):
    caplog.set_level(logging.WARNING, logger="app")
    create_app()
    warnings = " ".join(r.getMessage() for r in caplog.records if r.name == "app")
    assert "FLASK_BASE_URL" in warnings and "FLASK_TRUSTED_HOSTS" in warnings
    caplog.clear()
    production_env.setenv("FLASK_BASE_URL", "https://clinic.example")
    production_env.setenv("FLASK_TRUSTED_HOSTS", "clinic.example")
    production_env.setenv("FLASK_PROXY_FIX", "1")  # off is warned about too (issue 22 L4)
    create_app()
    assert not [r for r in caplog.records if r.name == "app" and r.levelno >= logging.WARNING]
