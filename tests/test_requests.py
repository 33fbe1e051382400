"""The request page: storage in one transaction, notification without patient words, spam traps, limits, failures."""
import json
import re
import time
from email import message_from_bytes
from functools import partial
from pathlib import Path

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from blueprints.requests import sign_started
from clinic import db as clinic_db
from tests.conftest import TEST_SECRET, content_dir, database_locked, walk_to_summary
from tests.helpers import PATIENT, deliver, form_fields, reference_in, submit_request, tampered
from tests.support.storage import stored as rows
from tests.support.storage import value

pytestmark = pytest.mark.both_databases

CANARY = "zq7canary"
CANARY_FIELDS = {
    "name": f"Pat {CANARY}name",
    "email": f"{CANARY}mail@example.com",
    "phone": "+44 7700 900123",  # digits only can be a phone: its canary is the number itself
    "contact_by": "phone",
    "voicemail": "no",
    "description": f"Back pain {CANARY}description since my fusion.",
}


@pytest.fixture
def app(make_app):
    return make_app(CONTENT_DIR=str(content_dir()), REQUEST_RATE_LIMIT="1000 per minute")


@pytest.fixture
def client(app):
    return app.test_client()


# --- The page ------------------------------------------------------------------------------------------
def test_request_page_has_every_field_a_fresh_submission_id_and_no_store(client):
    response = client.get("/request")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    for name in ("name", "email", "phone", "contact_by", "description", "consent", "website"):
        assert f'name="{name}"' in html, name
    assert "You can enter up to 2,000 characters" in html
    assert 'href="/privacy"' in html
    assert re.search(r'<input aria-describedby="consent-hint" id="consent" name="consent" required type="checkbox" '
                     r'value="y">', html)  # unticked
    assert 'class="hp-field" aria-hidden="true"' in html and 'tabindex="-1"' in html and 'autocomplete="off"' in html
    assert form_fields(html)["submission_id"] != form_fields(client.get("/request").get_data(as_text=True))["submission_id"]


def test_request_page_as_htmx_partial_has_no_layout(client):
    html = client.get("/request", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in html and 'action="/request"' in html


def test_include_answers_box_is_ticked_and_shows_exactly_the_pairs_that_will_be_sent(make_app):
    app = make_app(CONTENT_DIR=str(content_dir()), WTF_CSRF_ENABLED=False)
    client = app.test_client()
    walk_to_summary(client, app.extensions["journey"])
    html = client.get("/request").get_data(as_text=True)
    assert re.search(r'<input aria-describedby="include_answers-hint" checked id="include_answers" '
                     r'name="include_answers" type="checkbox" value="y">', html)
    from blueprints.journey import current_journey

    with app.test_request_context():
        from flask import session

        session["journey_id"] = _journey_id(client)
        _, answers, seen = current_journey()
    journey = app.extensions["journey"]
    walked = [w for w in journey.relevant_answers(answers, seen) if w[1].type != "text"]  # typed: free_text
    assert walked
    for _step, question, answer in walked:
        shown = "; ".join(question.label_for(v) for v in (answer if isinstance(answer, list) else [answer]))
        assert f"<dt>{_escape(question.label)}</dt><dd>{_escape(shown)}</dd>" in html

    assert submit_request(client).status_code == 303
    stored = rows(app, "SELECT answer_values FROM requests")[0]["answer_values"]
    assert list(json.loads(stored)) == [question.id for _step, question, _answer in walked]  # those, in path order


def test_a_new_request_stores_answer_ids_the_content_version_and_the_language_never_the_wording(make_app):
    """Issue 20 A: what was chosen, not how it was worded; the words come from content/ when staff read it."""
    app = make_app(CONTENT_DIR=str(content_dir()), WTF_CSRF_ENABLED=False)
    client = app.test_client()
    journey = app.extensions["journey"]
    walk_to_summary(client, journey)
    with app.test_request_context():
        from flask import session

        from blueprints.journey import current_journey

        session["journey_id"] = _journey_id(client)
        _, answers, seen = current_journey()
    assert submit_request(client).status_code == 303
    [stored] = rows(app, "SELECT * FROM requests")
    expected = {question.id: answer if isinstance(answer, list) else [answer]
                for _step, question, answer in journey.relevant_answers(answers, seen) if question.type != "text"}
    assert expected and json.loads(stored["answer_values"]) == expected
    assert stored["content_version"] == journey.version and re.fullmatch(r"[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}",
                                                                         stored["content_version"])
    assert stored["answers_language"] == "en"
    assert stored["free_text"] is None  # the one typed box ("In your own words") was left empty
    assert stored["warning_sign_ids"] is None and stored["flagged"] == 0  # a journey without warning signs
    # No wording anywhere: not the old text pairs, not the signs' labels, not a single option label.
    assert stored["journey_answers"] is None and stored["warning_signs"] is None
    labels = {question.label for _s, question, _a in journey.relevant_answers(answers, seen)}
    labels |= {o.label for _s, question, _a in journey.relevant_answers(answers, seen) for o in question.options}
    for label in labels:
        if len(label) > 3:
            assert label not in stored["answer_values"], label


def test_a_request_without_answers_still_stores_the_content_version_and_the_language(make_app):
    app = make_app(CONTENT_DIR=str(content_dir()), WTF_CSRF_ENABLED=False)
    client = app.test_client()
    walk_to_summary(client, app.extensions["journey"])
    assert submit_request(client, include_answers=None).status_code == 303
    [stored] = rows(app, "SELECT answer_values, content_version, answers_language FROM requests")
    assert stored == {"answer_values": None, "content_version": app.extensions["journey"].version,
                      "answers_language": "en"}


def test_unticking_include_answers_sends_no_journey_answers(make_app):
    app = make_app(CONTENT_DIR=str(content_dir()), WTF_CSRF_ENABLED=False)
    client = app.test_client()
    walk_to_summary(client, app.extensions["journey"])
    assert submit_request(client, include_answers=None).status_code == 303
    assert rows(app, "SELECT answer_values, journey_answers FROM requests")[0] == {"answer_values": None,
                                                                                 "journey_answers": None}


def _journey_id(client):
    from flask.sessions import SecureCookieSessionInterface

    serializer = SecureCookieSessionInterface().get_signing_serializer(client.application)
    return serializer.loads(client.get_cookie("session").value)["journey_id"]


def _escape(text):
    from markupsafe import escape

    return str(escape(text))


# --- A valid request -----------------------------------------------------------------------------------
def test_valid_request_is_stored_and_its_notification_carries_the_reference_but_none_of_the_patients_words(
        make_app, smtp_server):
    app = make_app(CONTENT_DIR=str(content_dir()), WTF_CSRF_ENABLED=False, **smtp_server.config())
    client = app.test_client()
    walk_to_summary(client, app.extensions["journey"])  # answers included too: none of them may leak either
    response = submit_request(client, **CANARY_FIELDS)
    assert response.status_code == 303 and response.headers["Location"] == "/request/sent"

    confirmation = client.get("/request/sent")
    reference = reference_in(confirmation.get_data(as_text=True))
    assert reference and "usually within 2 working days" in confirmation.get_data(as_text=True)
    assert confirmation.headers["Cache-Control"] == "no-store"

    [stored] = rows(app, "SELECT * FROM requests")
    assert stored["reference"] == reference and stored["status"] == "new"
    assert stored["name"] == CANARY_FIELDS["name"] and stored["phone"] == "+447700900123"
    assert stored["contact_by"] == "phone" and stored["answer_values"]
    assert [r["kind"] for r in rows(app, "SELECT kind FROM outbox")] == ["staff_notification"]

    assert deliver(app) == {"sent": 1, "retry": 0, "failed": 0}
    [(sender, recipients, raw)] = smtp_server.messages
    assert sender == "site@clinic.test" and recipients == ["staff@clinic.test", "lead@clinic.test"]
    text = raw.decode("utf-8", "replace")
    assert reference in text
    assert f"http://clinic.test/staff/requests/{reference}" in text
    assert message_from_bytes(raw)["Subject"] == "New second-opinion request"
    words = [CANARY, "7700", "900123", "Pat ", "fusion", "Back pain"]
    journey = app.extensions["journey"]
    for question_id, values in json.loads(stored["answer_values"]).items():
        question = journey.question(question_id)
        words += [question.label] + [question.label_for(v) for v in values if len(question.label_for(v)) > 3]
    for word in words:
        assert word not in text, f"{word!r} leaked into the notification"
    assert rows(app, "SELECT status, attempts FROM outbox") == [{"status": "sent", "attempts": 1}]


def test_with_the_smtp_server_down_the_request_succeeds_and_a_later_pass_delivers_it_exactly_once(
        make_app, smtp_server):
    app = make_app(CONTENT_DIR=str(content_dir()), **smtp_server.config())
    smtp_server.stop()
    client = app.test_client()
    assert submit_request(client).status_code == 303
    reference = reference_in(client.get("/request/sent").get_data(as_text=True))
    assert deliver(app) == {"sent": 0, "retry": 1, "failed": 0}

    smtp_server.start()
    later = lambda: time.time() + 61  # noqa: E731 - past the first back-off
    assert deliver(app, clock=later) == {"sent": 1, "retry": 0, "failed": 0}
    assert deliver(app, clock=lambda: time.time() + 7200) == {"sent": 0, "retry": 0, "failed": 0}
    assert len(smtp_server.messages) == 1 and reference in smtp_server.messages[0][2].decode()


def test_confirmation_is_only_shown_to_the_browser_that_sent_the_request(app, client):
    submit_request(client)
    assert reference_in(client.get("/request/sent").get_data(as_text=True))
    stranger = app.test_client()
    response = stranger.get("/request/sent")
    assert response.status_code == 302 and response.headers["Location"] == "/request"


def test_double_submission_creates_one_request_and_shows_the_same_reference(app, client):
    page = client.get("/request").get_data(as_text=True)
    data = {**PATIENT, **form_fields(page), "started": sign_started(time.time() - 60, TEST_SECRET)}
    references = []
    for _ in range(3):  # a double click, then Back and resend
        response = client.post("/request", data=data, follow_redirects=True)
        references.append(reference_in(response.get_data(as_text=True)))
    assert references[0] and references == [references[0]] * 3
    assert len(rows(app, "SELECT id FROM requests")) == 1
    assert len(rows(app, "SELECT id FROM outbox")) == 1


def test_patient_receipt_when_switched_on_holds_only_the_reference_and_clinic_contact(make_app, smtp_server):
    app = make_app(CONTENT_DIR=str(content_dir()), REQUEST_RATE_LIMIT="1000 per minute", PATIENT_RECEIPT=True,
                   **smtp_server.config())
    client = app.test_client()
    submit_request(client, **CANARY_FIELDS)
    assert deliver(app) == {"sent": 2, "retry": 0, "failed": 0}
    receipt = [m for m in smtp_server.messages if m[1] == [CANARY_FIELDS["email"]]]
    assert len(receipt) == 1
    text = receipt[0][2].decode()
    reference = rows(app, "SELECT reference FROM requests")[0]["reference"]
    assert reference in text and app.extensions["journey"].clinic_phone in text
    body = message_from_bytes(receipt[0][2]).get_payload(decode=True).decode()
    for word in (CANARY, "7700", "Pat ", "fusion"):
        assert word not in body


# --- Spam traps: stored, marked, never notified, and the sender sees the usual confirmation --------------
@pytest.mark.parametrize(("reason", "change"), [
    ("honeypot", {"website": "http://spam.example"}),
    ("too_fast", {"age_seconds": 1}),
    ("too_old", {"age_seconds": 86400 + 60}),
])
def test_trapped_posts_are_kept_as_spam_with_no_notification(app, client, reason, change):
    response = submit_request(client, follow_redirects=True, **change)
    assert response.status_code == 200 and reference_in(response.get_data(as_text=True))
    [stored] = rows(app, "SELECT status, spam_reason FROM requests")
    assert stored == {"status": "spam", "spam_reason": reason}
    assert rows(app, "SELECT id FROM outbox") == []
    assert deliver(app)["sent"] == 0 and not list(Path(app.config["MAIL_DIR"]).glob("*.eml"))


def test_a_tampered_timestamp_is_kept_as_spam(app, client):
    page = client.get("/request").get_data(as_text=True)
    hidden = form_fields(page)
    forged = sign_started(time.time() - 60, "another-secret-key-0123456789abcdef")
    for started in (forged, tampered(hidden["started"]), ""):
        hidden = form_fields(client.get("/request").get_data(as_text=True))
        client.post("/request", data={**PATIENT, **hidden, "started": started})
    assert [r["spam_reason"] for r in rows(app, "SELECT spam_reason FROM requests")] == ["bad_timestamp"] * 3
    assert rows(app, "SELECT id FROM outbox") == []


def test_too_fast_uses_the_injected_clock(make_app):
    clock = {"now": 1_800_000_000.0}
    app = make_app(CONTENT_DIR=str(content_dir()), REQUEST_CLOCK=lambda: clock["now"])
    client = app.test_client()
    hidden = form_fields(client.get("/request").get_data(as_text=True))
    clock["now"] += 2
    client.post("/request", data={**PATIENT, **hidden})
    client.get("/request")  # a new form: a new submission
    hidden = form_fields(client.get("/request").get_data(as_text=True))
    clock["now"] += 3
    client.post("/request", data={**PATIENT, **hidden})
    assert [r["status"] for r in rows(app, "SELECT status FROM requests ORDER BY id")] == ["spam", "new"]


# --- Rate limit ----------------------------------------------------------------------------------------
def test_too_many_posts_from_one_address_get_the_friendly_429_page_with_the_clinic_phone(make_app):
    app = make_app(CONTENT_DIR=str(content_dir()), REQUEST_RATE_LIMIT="2 per minute")
    client = app.test_client()
    assert submit_request(client).status_code == 303
    assert submit_request(client).status_code == 303
    response = submit_request(client)
    html = response.get_data(as_text=True)
    assert response.status_code == 429
    assert "Please wait a moment" in html and app.extensions["journey"].clinic_phone in html
    assert response.headers["Cache-Control"] == "no-store"
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert client.get("/request").status_code == 200  # reading the form is never limited
    assert len(rows(app, "SELECT id FROM requests")) == 2


def test_the_rate_limiter_runs_only_on_the_routes_that_have_limits(make_app):
    """Only the request form's posts have limits (no default or application-wide ones): Flask-Limiter's hooks run
    for that blueprint's routes alone, not on every journey step, asset and /healthz (issue 21, per-request cost)."""
    app = make_app(CONTENT_DIR=str(content_dir()), REQUEST_RATE_LIMIT="1 per minute")
    limiter = app.extensions["request_limiter"]

    def limiter_hooks(hooks):
        return [f for f in hooks if getattr(f, "__self__", None) is limiter
                or (isinstance(f, partial) and f.args[:1] == (limiter,))]

    for registry in (app.before_request_funcs, app.after_request_funcs, app.teardown_request_funcs):
        assert limiter_hooks(registry.get(None, [])) == []
        assert len(limiter_hooks(registry.get("requests", []))) == 1
    client = app.test_client()
    for _ in range(3):
        assert client.get("/").status_code == 200
    assert submit_request(client).status_code == 303
    assert submit_request(client).status_code == 429  # the limit still counts where it is
    assert client.get("/es/request").status_code == 200


# --- The database cannot be written --------------------------------------------------------------------
def test_a_locked_database_gives_the_not_sent_page_with_what_was_typed_and_no_partial_rows(make_app):
    app = make_app(CONTENT_DIR=str(content_dir()), DATABASE_BUSY_TIMEOUT_MS=50)
    client = app.test_client()
    with database_locked(app, exclusive=True):
        response = submit_request(client, **CANARY_FIELDS)
    html = response.get_data(as_text=True)
    assert response.status_code == 503
    assert "Your request has not been sent yet" in html and app.extensions["journey"].clinic_phone in html
    assert response.headers["Cache-Control"] == "no-store"
    assert f'value="{CANARY_FIELDS["name"]}"' in html and f'value="{CANARY_FIELDS["email"]}"' in html
    assert CANARY_FIELDS["description"] in html and re.search(r'<input checked id="contact_by-1"', html)
    assert rows(app, "SELECT id FROM requests") == [] and rows(app, "SELECT id FROM outbox") == []

    # Sending again once the database is free stores it once, under the same submission.
    retry = client.post("/request", data={**CANARY_FIELDS, "consent": "y", **form_fields(html)})
    assert retry.status_code == 303
    assert len(rows(app, "SELECT id FROM requests")) == 1 and len(rows(app, "SELECT id FROM outbox")) == 1


@pytest.mark.sqlite_only("a damaged database file; PostgreSQL has no file the site opens")
def test_a_damaged_database_file_is_a_logged_500_and_healthz_503_not_a_busy_page(app, client, caplog):
    # Damage is not "busy for a moment": retrying never helps, so it is the deployer's fault to see (issue 10).
    page = client.get("/request").get_data(as_text=True)
    clinic_db.dispose(app.config["DATABASE_URL"])  # the last connection closed: the WAL is folded into the file
    with open(app.config["DATABASE"], "r+b") as handle:  # a damaged file: SQLite refuses it
        handle.write(b"this is not a database" * 10)
    data = {**PATIENT, **form_fields(page), "started": sign_started(time.time() - 60, TEST_SECRET)}
    response = client.post("/request", data=data)
    assert response.status_code == 500 and "not been sent yet" not in response.get_data(as_text=True)
    assert any("Unhandled error on POST" in record.getMessage() for record in caplog.records)
    assert client.get("/healthz").status_code == 503


# --- CSRF and validation -------------------------------------------------------------------------------
def test_an_expired_csrf_token_shows_the_form_again_with_what_was_typed_and_a_fresh_token(client):
    page = client.get("/request").get_data(as_text=True)
    with client.session_transaction() as session:
        raw = session["csrf_token"]

    class TwoHoursAgo(TimestampSigner):
        def get_timestamp(self):
            return int(time.time()) - 7200

    expired = URLSafeTimedSerializer(TEST_SECRET, salt="wtf-csrf-token", signer=TwoHoursAgo).dumps(raw)
    hidden = {**form_fields(page), "csrf_token": expired}
    response = client.post("/request", data={**PATIENT, **CANARY_FIELDS, **hidden})
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "this form expires after an hour" in html and "<form" in html
    assert f'value="{CANARY_FIELDS["name"]}"' in html and CANARY_FIELDS["description"] in html
    fresh = form_fields(html)
    assert fresh["csrf_token"] != expired and fresh["submission_id"] == hidden["submission_id"]
    assert rows_count(client) == 0

    # The fresh token works (the page was served an hour ago, so it is not taken for a bot).
    assert client.post("/request", data={**PATIENT, **fresh}).status_code == 303


def test_a_missing_csrf_token_also_shows_the_form_not_a_bare_400(client):
    response = client.post("/request", data={**PATIENT})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert f'value="{PATIENT["name"]}"' in html and form_fields(html)["csrf_token"]


def rows_count(client):
    return len(rows(client.application, "SELECT id FROM requests"))


def test_every_error_is_next_to_its_field_and_in_the_summary_and_typed_values_are_kept(client):
    response = submit_request(client, name="  ", email="not-an-email", contact_by=None, description="",
                              consent=None, phone="12ab")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert re.search(r"<title>Error: Ask for a second opinion", html)
    expected = {
        "name": "Enter your full name",
        "email": "Enter an email address in the correct format, like name@example.com",
        "phone": "Enter a phone number, like (555) 010-0199, +1 555 010 0199 or 555 010 0199 ext 12",
        "contact_by-0": "Choose how you would like us to contact you",
        "description": "Tell us about your back problem",
        "consent": "Tick the box to agree that we may contact you about your request",
    }
    summary = html[html.index('class="error-summary"'):html.index("</ul>")]
    for target, message in expected.items():
        assert f'<a href="#{target}">{message}</a>' in summary, target
        field_id = target.split("-")[0]
        assert f'id="{field_id}-error"><span class="visually-hidden">Error:</span> {message}</p>' in html, target
    assert 'value="not-an-email"' in html and 'value="12ab"' in html
    assert rows_count(client) == 0


BCC_ATTACK = "real%40victim.example.com?bcc=spy@evil.example.com"


@pytest.mark.parametrize("address", [BCC_ATTACK, "a?cc=b@example.com", "100%@example.com", "a#b@example.com",
                                     "bang!path@example.com", "a&b@example.com"])
def test_an_address_no_mail_program_can_reply_to_is_refused_next_to_the_field(client, address):
    """Issue 11 L4: a patient email must not be able to add a hidden Bcc (or any header) to staff replies."""
    response = submit_request(client, email=address)
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and rows_count(client) == 0
    message = "Enter an email address we can reply to: only letters, numbers and . _ - + &#39; = before the @"
    assert f'<a href="#email">{message}</a>' in html
    assert f'id="email-error"><span class="visually-hidden">Error:</span> {message}</p>' in html


@pytest.mark.parametrize("address", ["o'brien@example.com", "first.last+clinic@example.co.uk", "a=b_c-d@example.com",
                                     "José@example.com"])
def test_ordinary_addresses_are_still_accepted(app, client, address):
    assert submit_request(client, email=address).status_code == 303
    assert rows(app, "SELECT email FROM requests") == [{"email": address}]


def test_phone_is_required_only_when_chosen_as_the_way_to_contact(app, client):
    html = submit_request(client, contact_by="phone", phone="").get_data(as_text=True)
    assert "Enter a phone number, or choose to be contacted by email" in html
    assert submit_request(client, contact_by="phone", phone="0044 (0)20 7946-0018", voicemail="yes").status_code == 303
    assert rows(app, "SELECT phone FROM requests") == [{"phone": "+442079460018"}]


def test_description_is_limited_to_2000_characters_counting_a_line_break_as_one(app, client):
    too_long = submit_request(client, description="x" * 2001).get_data(as_text=True)
    assert "Your description must be 2,000 characters or fewer" in too_long
    assert "x" * 2001 in too_long  # kept as typed, to be shortened
    fits = ("a\r\n" * 1000)[:-2]  # 999 line breaks: 2,997 bytes as sent, 1,999 characters as seen
    assert submit_request(client, description=fits).status_code == 303
    assert rows(app, "SELECT description FROM requests")[0]["description"] == fits.replace("\r\n", "\n")


def test_notification_wakes_no_thread_while_testing(app, client):
    submit_request(client)
    sender = app.extensions["outbox_sender"]
    assert sender._thread is None  # tests drive the outbox by hand


def test_outbox_send_command_delivers_what_is_due(make_app, smtp_server):
    app = make_app(CONTENT_DIR=str(content_dir()), **smtp_server.config())
    submit_request(app.test_client())
    result = app.test_cli_runner().invoke(args=["outbox", "send"])
    assert result.exit_code == 0, result.output
    assert "1 sent, 0 to retry later, 0 failed" in result.output
    assert len(smtp_server.messages) == 1
    assert "0 sent" in app.test_cli_runner().invoke(args=["outbox", "send"]).output
    assert "0 failed message(s) queued again" in app.test_cli_runner().invoke(args=["outbox", "retry-failed"]).output


def test_nothing_the_patient_typed_reaches_the_logs(make_app, smtp_server, caplog):
    import logging

    caplog.set_level(logging.DEBUG)
    app = make_app(CONTENT_DIR=str(content_dir()), DATABASE_BUSY_TIMEOUT_MS=50, **smtp_server.config())
    client = app.test_client()
    submit_request(client, **{**CANARY_FIELDS, "email": "not an email"})  # a validation error
    with database_locked(app, exclusive=True):
        assert submit_request(client, **CANARY_FIELDS).status_code == 503  # a database failure
    assert submit_request(client, **CANARY_FIELDS).status_code == 303
    smtp_server.reply = "550 5.1.1 <zq7canarymail@example.com> unknown"
    deliver(app)
    # aiosmtpd's own "mail.log" is the test mail server talking, not the site.
    logged = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("mail."))
    assert "request not stored: DatabaseBusy" in logged  # the failures were logged (locked; on PostgreSQL lock_timeout)...
    assert CANARY not in logged and "7700" not in logged  # ...without the patient's words


def test_control_characters_are_dropped_and_files_or_json_are_not_taken_as_answers(app, client):
    response = submit_request(client, name="Alex\x00 Example\r\n", description="Line one\r\nline\x07 two\x00")
    assert response.status_code == 303
    assert rows(app, "SELECT name, description FROM requests") == [
        {"name": "Alex Example", "description": "Line one\nline two"}]
    as_json = client.post("/request", json={**PATIENT, "name": 12, "description": ["x"]})
    assert as_json.status_code == 400  # no token: the form is shown again, nothing stored
    assert len(rows(app, "SELECT id FROM requests")) == 1


def test_sending_a_request_deletes_the_journey_so_erasing_the_request_erases_the_answers(make_app):
    from tests.helpers import submit_request

    app = make_app(WTF_CSRF_ENABLED=False, OUTBOX_AUTOSEND=False)
    client = app.test_client()
    client.post("/journey/start")
    client.post("/journey/safety", data={"signs_nerves": "none", "signs_chest": "none"})
    assert value(app, "SELECT count(*) FROM journeys") == 1
    submit_request(client)
    assert value(app, "SELECT count(*) FROM journeys") == 0
    assert value(app, "SELECT answer_values FROM requests")  # the copy went with the request
    assert client.get("/journey/safety").headers["Location"] == "/"
