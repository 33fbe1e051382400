"""Shared fixtures: a fresh app on a temporary SQLite file, a live server, real Chromium on a phone viewport."""
import json
import os
import shutil
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from app import create_app

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 3, "is_mobile": True, "has_touch": True}
TEST_SECRET = "test-secret-key-0123456789abcdef0123456789abcdef"


@pytest.fixture
def make_app(tmp_path):
    """Build an app on its own database file; keyword arguments override configuration."""

    def build(**config):
        settings = {
            "TESTING": True,
            "SECRET_KEY": TEST_SECRET,
            "DATABASE": str(tmp_path / "clinic.sqlite3"),
            "MAIL_DIR": str(tmp_path / "mail"),
            "BASE_URL": "http://clinic.test",
        }
        settings.update(config)
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


class LiveServer:
    def __init__(self, app):
        self.app = app
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.thread.join(5)


@pytest.fixture
def live_server(app):
    app.config["BASE_URL"] = "set-below"
    with LiveServer(app) as server:
        app.config["BASE_URL"] = server.url
        yield server


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"Chromium not found at {CHROMIUM}; .ci/run installs it")
        pytest.skip(f"Chromium not found at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )
        yield browser
        browser.close()


@pytest.fixture
def phone(browser):
    """A phone-sized browser context with JavaScript on; `phone(js=False)` for one without."""
    contexts = []

    def open_context(js=True, **extra):
        context = browser.new_context(java_script_enabled=js, **PHONE, **extra)
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context

    yield open_context
    for context in contexts:
        context.close()


def axe_violations(page):
    """Run axe-core in the page (the context must bypass CSP for the injection)."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "async (tags) => await axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})",
        AXE_TAGS,
    )
    return [
        {"id": v["id"], "help": v["help"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in result["violations"]
    ]


def assert_no_axe_violations(page):
    violations = axe_violations(page)
    assert not violations, f"axe-core on {page.url}:\n{json.dumps(violations, indent=1)}"
