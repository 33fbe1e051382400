"""Shared fixtures: a fresh app on a temporary SQLite file, a live server, real Chromium on a phone viewport."""
import json
import os
import re
import shutil
import sqlite3
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest
from flask import Flask
from jinja2 import BytecodeCache
from werkzeug.serving import make_server

from app import create_app
from clinic import db as clinic_db
from clinic import migrate
from clinic.journey.version import content_version

# Real PostgreSQL and Redis servers for the tests that ask for them (started once per session, on first use)
from tests.support.databases import MigratedDatabases
from tests.support.postgres import migrated_pg, migrated_template, postgres, postgres_url  # noqa: F401
from tests.support.redis_server import redis_server, redis_url  # noqa: F401
from tests.support.tools import require_tool

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 3, "is_mobile": True, "has_touch": True}
TEST_SECRET = "test-secret-key-0123456789abcdef0123456789abcdef"
# How long a test waits for something to happen (a page, an element, a thread's work, a server answering) before
# it fails. Every wait ends as soon as the thing happens, so this only bounds a failure: it is generous because on
# the shared 2-core CI machine, with Chromium, servers and tests all running, waits were seen to take over 10 s.
EVENT_TIMEOUT_SECONDS = 30
EVENT_TIMEOUT_MS = EVENT_TIMEOUT_SECONDS * 1000


class SharedTemplateCode(BytecodeCache):
    """Compiled templates kept in memory for every app a test process builds. Each test builds its own app, and
    each app's Jinja environment compiled every template it rendered afresh: a third of a short test's time.
    Jinja keys the code by template file and checks it against the source, so an edited template is compiled
    again; every app has the same Jinja options (create_app). Production builds one app a process: not used there."""

    def __init__(self):
        self.code = {}

    def load_bytecode(self, bucket):
        if bucket.key in self.code:
            bucket.bytecode_from_string(self.code[bucket.key])

    def dump_bytecode(self, bucket):
        self.code[bucket.key] = bucket.bytecode_to_string()


Flask.jinja_options = {**Flask.jinja_options, "bytecode_cache": SharedTemplateCode()}


def migrated_database(path):
    """A database file at the head version at `path` (unless one is there): a copy of one that `db upgrade` made
    once per test process. create_app never makes tables, so every test's schema is made here, explicitly."""
    path = Path(path)
    if path.exists():
        return path
    if not _MIGRATED:
        folder = Path(tempfile.mkdtemp(prefix="migrated-"))
        migrate.upgrade(folder / "clinic.sqlite3")
        clinic_db.dispose(folder / "clinic.sqlite3")  # closed: the WAL is folded into the file, which is then whole
        _MIGRATED.append(folder / "clinic.sqlite3")
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_MIGRATED[0], path)
    os.chmod(path, 0o600)
    return path


_MIGRATED = []


# --- Both databases (issue 21) ------------------------------------------------------------------------------------
# A test module marked `pytestmark = pytest.mark.both_databases` (or one test marked so) runs each test twice:
# [sqlite] on a migrated file, [postgresql] on a fresh migrated database of the session's throwaway cluster.
# `make_app` builds on whichever `db_engine` says, `fresh_database` is such a database for tests without an app;
# tests read and write it through tests/support/storage.py (`stored`, `value`, `execute`: an app, a path or a URL)
# and hold its write lock with `database_locked`.
# A test of something only SQLite has (file modes, WAL, PRAGMA, the backup API, a read-only file) is marked
# `@pytest.mark.sqlite_only("why")` and runs once, on SQLite.
DATABASE_ENGINES = ("sqlite", "postgresql")


def pytest_generate_tests(metafunc):
    if "db_engine" not in metafunc.fixturenames or metafunc.definition.get_closest_marker("sqlite_only"):
        return
    if metafunc.definition.get_closest_marker("both_databases"):
        metafunc.parametrize("db_engine", DATABASE_ENGINES)


def pytest_collection_modifyitems(items):
    for item in items:
        marker = item.get_closest_marker("sqlite_only")
        if marker is not None and not (marker.args and str(marker.args[0]).strip()):
            raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.sqlite_only needs the reason, as its first argument")


@pytest.fixture
def db_engine():
    """"sqlite" or "postgresql": the database `make_app` and `fresh_database` build on (SQLite unless the test is
    marked both_databases, which runs it on each)."""
    return "sqlite"


@pytest.fixture(scope="session")
def migrated_databases(postgres):  # noqa: F811 - the fixture imported above
    """Migrated PostgreSQL databases handed out one per test and emptied for the next (tests/support/databases.py)."""
    return MigratedDatabases(postgres, migrated_template(postgres))


@pytest.fixture
def fresh_database(db_engine, tmp_path, request):
    """The test's own database at the head version with no rows, as clinic.db.connect takes it: the SQLite file's
    path, or, with db_engine "postgresql", a PostgreSQL database's URL (emptied and pooled again afterwards)."""
    if db_engine != "postgresql":
        yield str(migrated_database(tmp_path / "clinic.sqlite3"))
        return
    databases = request.getfixturevalue("migrated_databases")
    url = databases.acquire()
    yield url
    databases.release(url)


@pytest.fixture
def make_app(tmp_path, db_engine, request):
    """Build an app on its own database file, migrated to the head version (a file the test made itself is left as
    it is: a released database, say); keyword arguments override configuration. With DATABASE_URL (a PostgreSQL
    URL, e.g. the `migrated_pg` fixture's) the app uses that database as it is, and DATABASE only names the
    instance folder. With db_engine "postgresql" (tests marked both_databases) the app's DATABASE_URL is the
    test's `fresh_database` (the same one for each app a test builds)."""

    def build(**config):
        settings = {
            "TESTING": True,
            "SECRET_KEY": TEST_SECRET,
            "DATABASE": str(tmp_path / "clinic.sqlite3"),
            "MAIL_DIR": str(tmp_path / "mail"),
            "BASE_URL": "http://clinic.test",
        }
        if db_engine == "postgresql":
            if "DATABASE" in config or "DATABASE_URL" in config:
                pytest.fail("this test picks its own database: mark it sqlite_only, or let make_app choose")
            settings["DATABASE_URL"] = request.getfixturevalue("fresh_database")
        settings.update(config)
        if not settings.get("DATABASE_URL"):
            migrated_database(settings["DATABASE"])
        return create_app(settings)

    return build


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def fixture_content(tmp_path):
    """A writable copy of the small test journey, for tests that break it on purpose."""
    target = tmp_path / "content"
    shutil.copytree(ROOT / "tests" / "fixtures" / "content", target)
    return target


def sign_off(content, version=None, day="2026-11-20"):
    """Record a clinical sign-off of `version` (by default the version the content has now) in journey.yaml."""
    meta = content / "journey.yaml"
    meta.write_text(meta.read_text() + f"reviewed: {day}\nreviewed_version: {version or content_version(content)}\n")
    return content


@pytest.fixture
def signed_content(fixture_content):
    """The small test journey with a sign-off of exactly this content: what a production site should serve."""
    return sign_off(fixture_content)


def database_of(target):
    """What clinic.db.connect takes for an app (its DATABASE_URL), a SQLite path or a URL."""
    config = getattr(target, "config", None)
    return config["DATABASE_URL"] if config is not None else str(target)


@contextmanager
def database_locked(target, exclusive=False):
    """Another connection holds the write lock until the block ends (`exclusive`: BEGIN EXCLUSIVE, which in WAL
    mode is the same; reads go on either way).

    SQLite: BEGIN IMMEDIATE. PostgreSQL has no database-wide lock: every table of the schema is locked IN
    EXCLUSIVE MODE, which lets plain reads go on while writes and SELECT ... FOR UPDATE wait, then meet
    lock_timeout: what another writer holding SQLite's lock does."""
    database = database_of(target)
    if clinic_db.dialect_of(database) == "sqlite":
        blocker = sqlite3.connect(clinic_db.sqlite_path(database), isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE" if exclusive else "BEGIN IMMEDIATE")
        try:
            yield
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        return
    blocker = clinic_db.connect(database)
    try:
        tables = blocker.execute(clinic_db.text("SELECT string_agg(quote_ident(tablename), ', ') FROM pg_catalog.pg_tables "
                                                "WHERE schemaname = current_schema()")).scalar()
        blocker.exec_driver_sql("BEGIN")
        blocker.exec_driver_sql(f"LOCK TABLE {tables} IN EXCLUSIVE MODE")
        yield
    finally:
        blocker.exec_driver_sql("ROLLBACK")
        blocker.close()


def journey_rows(app):
    """How many journeys the app's database holds."""
    conn = clinic_db.connect(database_of(app))
    try:
        return conn.execute(clinic_db.text("SELECT COUNT(*) FROM journeys")).scalar()
    finally:
        conn.close()


class LiveServer:
    """A WSGI app served on a free port in a thread, while the `with` block runs.

    `host` is both where it listens and how its URL names it: "127.0.0.2" or "localhost" (which listens on
    127.0.0.1) is another site to the browser than the default 127.0.0.1.
    """

    def __init__(self, app, host="127.0.0.1"):
        self.app = app
        self.server = make_server(host, 0, app, threaded=True)
        self.url = f"http://{host}:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.thread.join(5)


def pages_site(pages):
    """A WSGI app serving fixed HTML pages ({path: html}; any other path is a 404): another site in browser tests,
    run with `LiveServer(pages_site(...), host=...)`."""

    def site(environ, start_response):
        body = pages.get(environ.get("PATH_INFO") or "/", "").encode()
        start_response("200 OK" if body else "404 Not Found", [("Content-Type", "text/html; charset=utf-8")])
        return [body]

    return site


@pytest.fixture
def live_server(app):
    app.config["BASE_URL"] = "set-below"
    with LiveServer(app) as server:
        app.config["BASE_URL"] = server.url
        yield server


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        require_tool(f"Chromium not found at {CHROMIUM} (.ci/run installs it)")
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=EVENT_TIMEOUT_MS)  # expect(...) assertions retry until then (5 s by default)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )
        yield browser
        browser.close()


def new_context(browser, **options):
    """A browser context whose waits (clicks, navigations, wait_for_*) last up to EVENT_TIMEOUT_MS."""
    context = browser.new_context(**options)
    context.set_default_timeout(EVENT_TIMEOUT_MS)
    return context


@pytest.fixture
def phone(browser):
    """A phone-sized browser context with JavaScript on; `phone(js=False)` for one without."""
    contexts = []

    def open_context(js=True, **extra):
        context = new_context(browser, java_script_enabled=js, **PHONE, **extra)
        contexts.append(context)
        return context

    yield open_context
    for context in contexts:
        context.close()


# What a colour scheme changes: the DOM is the same in light and dark, so the other scheme is checked with these.
AXE_COLOUR_RULES = ["color-contrast", "link-in-text-block"]


def axe_violations(page, rules=None):
    """Run axe-core in the page (the context must bypass CSP for the injection): the tags' rules, or `rules`."""
    if not page.evaluate("typeof axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    only = {"type": "rule", "values": rules} if rules else {"type": "tag", "values": AXE_TAGS}
    result = page.evaluate("async (only) => await axe.run(document, {runOnly: only, resultTypes: ['violations']})", only)
    return [
        {"id": v["id"], "help": v["help"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in result["violations"]
    ]


def assert_no_axe_violations(page):
    """axe finds nothing in the page as it is, and its colours pass in the other colour scheme too (issue 19: every
    page light and dark; `prefers-color-scheme` is emulated in the same page, then put back)."""
    violations = axe_violations(page)
    assert not violations, f"axe-core on {page.url}:\n{json.dumps(violations, indent=1)}"
    dark = page.evaluate("matchMedia('(prefers-color-scheme: dark)').matches")
    page.emulate_media(color_scheme="light" if dark else "dark")
    try:
        violations = axe_violations(page, AXE_COLOUR_RULES)
    finally:
        page.emulate_media(color_scheme="dark" if dark else "light")
    assert not violations, f"axe-core on {page.url} in {'light' if dark else 'dark'} mode:\n{json.dumps(violations, indent=1)}"


# Every check is in both colour schemes now; the name stays for the tests that say so.
assert_no_axe_violations_light_and_dark = assert_no_axe_violations


def assert_no_axe_violations_without_javascript(page, checker):
    """assert_no_axe_violations for a page Chromium shows with JavaScript off, where axe-core cannot run (a script
    tag does not execute, and axe.run's promise never settles): the page's DOM as shown, its scripts taken out so
    that nothing changes it, is served at the same address to `checker` (a page with JavaScript on, in a context
    that bypasses CSP, with the same viewport) and checked there, with the site's own style sheet."""
    html = re.sub(r"<script\b[^>]*>.*?</script>", "", page.content(), flags=re.S | re.I)
    url = page.url

    def serve(route):
        route.fulfill(status=200, content_type="text/html; charset=utf-8", body=html)

    def this_page(address):
        return address == url

    checker.route(this_page, serve)
    try:
        checker.goto(url)
        assert checker.evaluate("document.scripts.length") == 0
        assert_no_axe_violations(checker)
    finally:
        checker.unroute(this_page, serve)


# --- Security and reliability (issue 5): shared by the header, property, fault and canary tests ---------
def content_dir():
    """The real journey once content/ has one; the small fixture journey until then."""
    real = ROOT / "content"
    return real if (real / "journey.yaml").exists() else ROOT / "tests" / "fixtures" / "content"


def likely_answers(question):
    """The answers a route search tries for one question, each a list of values: every option of a single choice;
    for a warning-sign group "None of these" first, then one sign alone; otherwise the first two options alone."""
    values = [o.value for o in question.options]
    if question.type == "text":
        return [[""]]  # a typed answer left empty
    if question.exclusive:
        return [[question.exclusive]] + [[v] for v in values[:1]]
    return [[v] for v in values] if question.type == "single" else [[v] for v in values[:2]] + [values[:1]]


def every_option_alone(question):
    return [[o.value] for o in question.options]


def find_route(journey, arrived, answers_to_try=likely_answers):
    """(route, answers) for the first walk from the first step to a step id that `arrived` accepts, or None.

    The route is [(step, form)], ending with the step arrived at (none when that is the request page); `answers`
    is what the walk answered. A walk that meets a stop page, the summary, the request page or a loop before
    arriving ends there. Works for any content: it asks the journey engine which answers lead where instead of
    hard-coding them, trying `answers_to_try(question)` for each question.
    """
    import itertools

    from clinic.journey import REQUEST_TARGET

    def candidates(step):
        choices = [answers_to_try(question) for question in step.questions]
        for combo in itertools.islice(itertools.product(*choices), 500):
            yield {q.id: chosen for q, chosen in zip(step.questions, combo, strict=True)}

    def walk(step_id, answers, trail):
        if arrived(step_id):
            return (trail + [(journey.steps[step_id], {})] if step_id in journey.steps else trail), answers
        if step_id == REQUEST_TARGET or any(s.id == step_id for s, _ in trail):
            return None
        step = journey.steps[step_id]
        if step.kind in ("stop", "summary"):
            return None
        for form in (candidates(step) if step.kind == "question" else [{}]):
            given = {k: (v if journey.question(k).type == "multiple" else v[0]) for k, v in form.items()}
            following = journey.next_step(step, {**answers, **given})
            found = walk(following, {**answers, **given}, trail + [(step, form)]) if following else None
            if found:
                return found
        return None

    return walk(journey.first_step, {}, [])


def route_to_summary(journey):
    """[(step, form)] for a walk from the first step to the summary (see `find_route`)."""
    from clinic.journey import REQUEST_TARGET

    found = find_route(journey, lambda step_id: step_id == REQUEST_TARGET or journey.steps[step_id].kind == "summary")
    assert found, "no way from the first step to the summary"
    return found[0]


def route_to_stop(journey, target=None):
    """(route, answers) for a walk from the first step to a stop page (or the stop page `target`), trying every
    option of each question alone."""
    found = find_route(journey, lambda step_id: step_id in journey.steps and journey.steps[step_id].kind == "stop"
                       and target in (None, step_id), answers_to_try=every_option_alone)
    assert found, "no way from the first step to a stop page"
    return found


def walk_to_summary(client, journey, headers=None):
    """Post every step of `route_to_summary` (CSRF must be off); returns the summary's URL."""
    route = route_to_summary(journey)
    for step, form in route[:-1]:
        response = client.post(f"/journey/{step.id}", data=form, headers=headers or {})
        assert response.status_code == 303, (step.id, response.status_code)
    return f"/journey/{route[-1][0].id}"


# --- Second-opinion requests (issue 3): a real SMTP server on loopback -----------------------------------
class SmtpServer:
    """aiosmtpd on 127.0.0.1: `messages` holds (envelope sender, recipients, raw bytes) of each accepted mail.

    Set `reply` to an SMTP answer ("451 4.3.0 Try again later", "550 5.1.1 No such user") to refuse
    messages; `stop()` and `start()` take the server down and up again on the same port.
    """

    def __init__(self):
        import socket

        with socket.socket() as probe:  # aiosmtpd cannot listen on port 0 itself: find a free port first
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.host = "127.0.0.1"
        self.messages = []
        self.reply = None
        self.controller = None

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        if self.reply:
            return self.reply
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content or envelope.content))
        return "250 OK"

    def start(self):
        from aiosmtpd.controller import Controller

        self.controller = Controller(self, hostname=self.host, port=self.port)
        self.controller.start()
        return self

    def stop(self):
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def config(self):
        """Settings that point an app at this server."""
        return {"SMTP_HOST": self.host, "SMTP_PORT": self.port, "SMTP_STARTTLS": False, "SMTP_TIMEOUT": 5,
                "MAIL_FROM": "site@clinic.test", "STAFF_EMAILS": "staff@clinic.test, lead@clinic.test"}


@pytest.fixture
def smtp_server():
    server = SmtpServer().start()
    yield server
    server.stop()
