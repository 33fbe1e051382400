"""No personal data leaks: canary strings typed by a patient never show up in logs, URLs, headers, cookies, emails or audit."""
import json
import logging
import sqlite3

import pytest
from flask.sessions import SecureCookieSessionInterface

from blueprints.requests import mail_settings
from clinic.outbox import send_pending
from tests.conftest import content_dir, database_locked, route_to_summary, walk_to_summary
from tests.helpers import reference_in, submit_request
from tests.support import factors as factor_support

STAFF_EMAIL = "nurse@clinic.test"
STAFF_PASSWORD = "correct horse battery"
FAST_ARGON2 = {"time_cost": 1, "memory_cost": 8192, "parallelism": 1}
CANARY_FIELDS = {
    "name": "Kanary Qx7name Smith",
    "email": "qx7mailbox@example.com",
    "phone": "+44 7700 900461",
    "contact_by": "phone",
    "voicemail": "no",
    "description": "Burning qx7description pain down my left leg since the fusion.",
}
CANARIES = ["Qx7name", "qx7mailbox", "7700 900461", "7700900461", "qx7description", "qx7note"]


class Recorder:
    """WSGI middleware: every URL the app was asked for and every header it answered with."""

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app
        self.urls = []
        self.headers = []

    def __call__(self, environ, start_response):
        self.urls.append(environ.get("PATH_INFO", "") + "?" + environ.get("QUERY_STRING", ""))

        def recording_start_response(status, headers, exc_info=None):
            self.headers.extend(headers)
            return start_response(status, headers, exc_info)

        return self.wsgi_app(environ, recording_start_response)


@pytest.fixture
def app(make_app, smtp_server):
    app = make_app(CONTENT_DIR=str(content_dir()), WTF_CSRF_ENABLED=False, STAFF_ARGON2=FAST_ARGON2,
                   REQUEST_RATE_LIMIT="1000 per minute", PATIENT_RECEIPT=True, DATABASE_BUSY_TIMEOUT_MS=100,
                   **smtp_server.config())
    app.wsgi_app = Recorder(app.wsgi_app)
    return app


def journey_canaries(journey):
    """Labels of the answers given on the way, long enough to be unmistakable in any text."""
    labels = []
    for step, form in route_to_summary(journey):
        for question_id, values in form.items():
            question = journey.question(question_id)
            labels += [question.label_for(v) for v in values]
    return [label for label in labels if len(label) >= 12]


def session_contents(app, headers):
    """Every Flask session cookie the app set, decoded with its own serializer."""
    serializer = SecureCookieSessionInterface().get_signing_serializer(app)
    decoded = []
    for name, value in headers:
        if name.lower() == "set-cookie" and value.startswith(app.config["SESSION_COOKIE_NAME"] + "="):
            raw = value.split(";", 1)[0].split("=", 1)[1]
            if raw:
                decoded.append(json.dumps(serializer.loads(raw)))
    return decoded


def test_canaries_from_a_journey_and_request_appear_in_no_log_url_cookie_email_or_audit_row(app, smtp_server, caplog, capfd):
    caplog.set_level(logging.DEBUG)
    runner = app.test_cli_runner()
    created = runner.invoke(args=["staff", "create", STAFF_EMAIL, "--password-stdin", "--role", "admin"],
                            input=STAFF_PASSWORD + "\n")
    assert created.exit_code == 0
    journey = app.extensions["journey"]
    canaries = CANARIES + journey_canaries(journey)

    # The patient: a journey, a mistake in the form, a database that is busy, then the request goes through.
    patient = app.test_client()
    summary = walk_to_summary(patient, journey)
    assert patient.get(summary).status_code == 200
    mistake = submit_request(patient, **{**CANARY_FIELDS, "email": "qx7mailbox at example"})
    assert mistake.status_code == 200 and "error-summary" in mistake.get_data(as_text=True)
    with database_locked(app.config["DATABASE"]):
        assert submit_request(patient, **CANARY_FIELDS).status_code == 503
    confirmation = submit_request(patient, **CANARY_FIELDS, follow_redirects=True)
    reference = reference_in(confirmation.get_data(as_text=True))
    assert reference

    # The mail: the staff notification and the patient's receipt.
    with app.app_context():
        settings = mail_settings(app)
    assert send_pending(app.config["DATABASE"], settings)["sent"] == 2

    # The staff: sign in, read it, change it, note it (a note with a canary too), export it, erase it.
    staff = app.test_client()
    # A new account: the password, then it sets up its authenticator app and sees its recovery codes (200).
    assert factor_support.sign_in(staff, STAFF_EMAIL, STAFF_PASSWORD).status_code == 200
    detail = staff.get(f"/staff/requests/{reference}").get_data(as_text=True)
    assert "qx7description" in detail  # staff do see what the patient wrote, of course
    assert staff.post(f"/staff/requests/{reference}/status", data={"status": "contacted"}).status_code == 303
    assert staff.post(f"/staff/requests/{reference}/notes", data={"body": "Called back, qx7note."}).status_code == 303
    assert "qx7description" in staff.post("/staff/export.csv", data={"status": "contacted"}).get_data(as_text=True)
    assert staff.post(f"/staff/requests/{reference}/erase").status_code == 303
    staff.post("/staff/sign-out")

    # Where the canaries must not be.
    recorder = app.wsgi_app
    conn = sqlite3.connect(app.config["DATABASE"])
    audit_rows = [" ".join(str(v) for v in row) for row in conn.execute("SELECT * FROM audit_log")]
    outbox_errors = [str(row) for row in conn.execute("SELECT last_error FROM outbox")]
    conn.close()
    assert any(reference in row for row in audit_rows) and len(audit_rows) >= 6
    staff_mail = [m for m in smtp_server.messages if "staff@clinic.test" in m[1]]
    receipts = [m for m in smtp_server.messages if CANARY_FIELDS["email"] in m[1]]
    assert len(staff_mail) == 1 and len(receipts) == 1
    captured = capfd.readouterr()
    places = {
        # All of the site's loggers; not the test's own SMTP server ("mail.log"), which logs what it receives.
        "log records": "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records
                                 if not r.name.startswith("mail.log")),
        "stdout and stderr": captured.out + captured.err,
        "URLs": "\n".join(recorder.urls),
        "response headers": "\n".join(f"{name}: {value}" for name, value in recorder.headers),
        "session cookies": "\n".join(session_contents(app, recorder.headers)),
        "staff notification": staff_mail[0][2].decode("utf-8", "replace"),
        # The receipt is addressed to the patient, so their address is in To: and nowhere else.
        "patient receipt": "\n".join(line for line in receipts[0][2].decode("utf-8", "replace").splitlines()
                                     if not line.lower().startswith("to:")),
        "audit trail": "\n".join(audit_rows),
        "outbox errors": "\n".join(outbox_errors),
    }
    assert "request id=" in places["log records"], "the request log was not captured"
    leaks = [(canary, where) for canary in canaries for where, text in places.items() if canary.lower() in text.lower()]
    assert not leaks, leaks
