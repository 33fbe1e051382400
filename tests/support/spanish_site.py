"""The Spanish site for the /es/ tests: the real content, served on a free port (tests/test_spanish_site.py and
tests/test_spanish_browser.py)."""
import sqlite3

from app import create_app
from clinic.journey.warning_signs import NONE_VALUE
from tests.conftest import ROOT, TEST_SECRET, LiveServer, migrated_database

CONTENT = ROOT / "content"
SITE_CONFIG = {"TESTING": True, "SECRET_KEY": TEST_SECRET, "CONTENT_DIR": str(CONTENT), "REQUEST_MIN_SECONDS": 0,
               "JOURNEY_CREATE_RATE_LIMIT": "10000 per minute", "REQUEST_RATE_LIMIT": "1000 per minute",
               "OUTBOX_AUTOSEND": False}


def serve_spanish_site(tmp_path_factory):
    """Yield a LiveServer of the real content with the Spanish served (a module fixture wraps it)."""
    folder = tmp_path_factory.mktemp("spanish")
    database = migrated_database(folder / "clinic.sqlite3")  # create_app never makes the schema
    app = create_app({**SITE_CONFIG, "DATABASE": str(database), "MAIL_DIR": str(folder / "mail"),
                      "PATIENT_RECEIPT": True})
    assert "es" in app.extensions["journeys"], "the Spanish content is not served (make check-content says why)"
    with LiveServer(app) as server:
        app.config["BASE_URL"] = server.url
        yield server


def stored_request(app, reference):
    conn = sqlite3.connect(app.config["DATABASE"])
    conn.row_factory = sqlite3.Row
    try:
        return dict(conn.execute("SELECT * FROM requests WHERE reference = ?", (reference,)).fetchone())
    finally:
        conn.close()


# --- warning signs in Spanish: the same data, routed sign by sign ----------------------------------------------
def screen_forms(journey, sign=None):
    """[(screen, form)] with `sign` ticked on its group and "None of these" elsewhere, until the screens send on."""
    signs = journey.warning_signs
    forms, answers, screen = [], {}, signs.screens()[0]
    while screen in signs.screens():
        form = {group.question_id: [sign.id] if sign is not None and sign.group == group.id else [NONE_VALUE]
                for group in signs.groups_on(screen)}
        forms.append((screen, form))
        answers.update(form)
        screen = journey.next_step(journey.steps[screen], answers)
    return forms, screen


