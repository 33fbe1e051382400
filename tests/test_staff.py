"""Staff inbox: sign-in, sessions, lock-out, the request list and detail, status, notes, export, erasure, audit, CLI."""
import csv
import io
import json
import re
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest

from clinic import db as clinic_db
from clinic import inbox
from clinic.db import DatabaseError
from tests.conftest import content_dir
from tests.support import factors as factor_support
from tests.support.staff import (
    EMAIL,
    FAST_ARGON2,
    PASSWORD,
    Clock,
    add_request,
    audit_rows,
    create_staff,
    db,
    sign_in,
)
from tests.support.storage import run, scalar, stored, value

pytestmark = pytest.mark.both_databases

CANARY = "CANARY-7f3e9a"


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def staff_app(make_app, clock):
    return make_app(CONTENT_DIR=str(content_dir()), WTF_CSRF_ENABLED=False, STAFF_ARGON2=FAST_ARGON2, STAFF_CLOCK=clock)


@pytest.fixture
def signed_in(staff_app):
    create_staff(staff_app)
    client = staff_app.test_client()
    assert sign_in(client).status_code == 303
    return client


# --- signing in ---------------------------------------------------------------------------------------------
@pytest.mark.sqlite_only("redirects only: no query that differs between the databases")
@pytest.mark.parametrize("path", ["/staff", "/staff/", "/staff/audit", "/staff/requests/FBS-T001"])
def test_staff_pages_without_sign_in_redirect_to_sign_in(staff_app, path):
    response = staff_app.test_client().get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/staff/sign-in?next=")
    assert response.headers["Cache-Control"] == "no-store"


def test_posts_without_sign_in_redirect_to_sign_in_and_change_nothing(staff_app):
    reference = add_request(staff_app)
    response = staff_app.test_client().post(f"/staff/requests/{reference}/status", data={"status": "closed"})
    assert response.status_code == 303
    assert response.headers["Location"] == f"/staff/sign-in?next=/staff/requests/{reference}"
    assert inbox.get_request(db(staff_app), reference)["status"] == "new"
    response = staff_app.test_client().post("/staff/export.csv")
    assert response.status_code == 303 and response.headers["Location"] == "/staff/sign-in"
    assert not audit_rows(staff_app, "exported")


@pytest.mark.sqlite_only("redirects only: no query that differs between the databases")
def test_htmx_request_without_sign_in_sends_the_whole_page_to_sign_in(staff_app):
    response = staff_app.test_client().get("/staff?status=closed", headers={"HX-Request": "true"})
    assert response.headers["HX-Redirect"].startswith("/staff/sign-in?next=")


def test_sign_in_returns_to_the_staff_page_asked_for(staff_app):
    create_staff(staff_app)
    client = staff_app.test_client()
    response = sign_in(client, next="/staff/audit")
    assert response.status_code == 303 and response.headers["Location"] == "/staff/audit"


@pytest.mark.sqlite_only("redirects only: no query that differs between the databases")
@pytest.mark.parametrize("target", ["//evil.example/staff", "https://evil.example/staff", "/journey/x", "/staffing",
                                    "/\\evil.example", "javascript:alert(1)", "/staff/sign-in"])
def test_next_outside_staff_pages_is_ignored(staff_app, target):
    create_staff(staff_app)
    response = sign_in(staff_app.test_client(), next=target)
    assert response.headers["Location"] == "/staff"


@pytest.mark.sqlite_only("redirects only: no query that differs between the databases")
def test_sign_in_page_never_offers_a_foreign_next(staff_app):
    page = staff_app.test_client().get("/staff/sign-in?next=https://evil.example/").get_data(as_text=True)
    assert "evil" not in page


def _comparable(body, email):
    body = body.replace(email, "EMAIL")
    return re.sub(r'name="csrf_token" value="[^"]*"', "", body)


def test_wrong_password_and_unknown_email_give_the_same_response(staff_app):
    create_staff(staff_app)
    wrong = sign_in(staff_app.test_client(), password="not the password at all")
    unknown = sign_in(staff_app.test_client(), email="nobody@clinic.test")
    assert wrong.status_code == unknown.status_code == 200
    assert "Email or password is not right" in wrong.get_data(as_text=True)
    assert _comparable(wrong.get_data(as_text=True), EMAIL) == _comparable(unknown.get_data(as_text=True), "nobody@clinic.test")
    assert not any(c.startswith("staff=") for c in wrong.headers.getlist("Set-Cookie"))


def test_an_email_with_a_nul_or_another_control_character_is_a_wrong_password_not_a_500(staff_app):
    # PostgreSQL refuses text holding a NUL even in a comparison: the lookup was a 500 there (SQLite found nobody).
    create_staff(staff_app)
    for email in (EMAIL + "\x00", "nurse\x00@clinic.test", "\x07" + EMAIL):
        response = sign_in(staff_app.test_client(), email=email)
        assert response.status_code == 200 and "Email or password is not right" in response.get_data(as_text=True)
    assert value(staff_app, "SELECT COUNT(*) FROM staff_sessions") == 0


def test_empty_fields_are_shown_next_to_each_field_and_in_the_summary(staff_app):
    response = staff_app.test_client().post("/staff/sign-in", data={"email": "typed@x.test", "password": ""})
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "There is a problem" in page and 'href="#password"' in page
    assert 'id="password-error"' in page and 'value="typed@x.test"' in page
    assert "<title>Error: " in page


def test_account_is_locked_after_five_failures_even_with_the_right_password(staff_app, clock):
    create_staff(staff_app)
    client = staff_app.test_client()
    for _ in range(5):
        assert sign_in(client, password="wrong password here").status_code == 200
    locked = sign_in(client)
    assert locked.status_code == 429
    assert "Too many attempts" in locked.get_data(as_text=True)
    clock.advance(15 * 60 + 1)
    assert sign_in(client).status_code == 303


def from_address(client, address, email=EMAIL, password=PASSWORD):
    """Sign in from `address`: the password, then (when it was right) the code, both from there."""
    return factor_support.sign_in(client, email, password, environ_base={"REMOTE_ADDR": address})


def test_five_failures_from_one_address_hold_back_only_that_address_for_that_account(staff_app, clock):
    """Issue 11 L1: the lock is per (account, address), so guesses from elsewhere cannot lock the real person out."""
    create_staff(staff_app)
    client = staff_app.test_client()
    for _ in range(5):
        assert from_address(client, "198.51.100.9", password="wrong password here").status_code == 200
    assert from_address(client, "198.51.100.9").status_code == 429
    assert from_address(staff_app.test_client(), "10.0.0.7").status_code == 303  # the nurse, from the clinic


def test_guesses_from_many_addresses_do_not_lock_the_real_person_out(staff_app, clock):
    """Issue 11 L1: 5 wrong passwords from each of 12 addresses (60 in all) today lock the account for everyone."""
    create_staff(staff_app)
    assert from_address(staff_app.test_client(), "10.0.0.7").status_code == 303  # the nurse's usual address
    clock.advance(3600)
    for number in range(12):
        for _ in range(5):
            from_address(staff_app.test_client(), f"198.51.100.{number}", password="wrong password here")
    assert from_address(staff_app.test_client(), "198.51.100.0").status_code == 429
    assert from_address(staff_app.test_client(), "10.0.0.7").status_code == 303


def test_past_many_failures_an_account_slows_down_with_a_growing_delay_for_new_addresses(make_app, clock):
    """Account-wide: from the 10th failure (50 by default) each try from an address that never signed in to
    the account waits twice as long as the last; the right password still gets in once the delay has passed."""
    app = make_app(CONTENT_DIR=str(content_dir()), WTF_CSRF_ENABLED=False, STAFF_ARGON2=FAST_ARGON2, STAFF_CLOCK=clock,
                   STAFF_SIGNIN_ACCOUNT_SLOWDOWN_FAILURES=10)
    create_staff(app)
    for number in range(10):
        assert from_address(app.test_client(), f"198.51.100.{number}", password="wrong").status_code == 200
    waits = []
    for number in range(4):
        address = f"203.0.113.{number}"
        waited = 0
        while from_address(app.test_client(), address, password="wrong").status_code == 429:
            clock.advance(1)
            waited += 1
        waits.append(waited)
    assert waits == [1, 2, 4, 8]
    response = from_address(app.test_client(), "203.0.113.99")
    assert response.status_code == 429 and "Too many attempts" in response.get_data(as_text=True)
    clock.advance(16)
    assert from_address(app.test_client(), "203.0.113.99").status_code == 303


def test_lock_out_looks_the_same_for_known_and_unknown_accounts(staff_app):
    create_staff(staff_app)
    bodies = []
    for email in (EMAIL, "ghost@clinic.test"):
        client = staff_app.test_client()
        for _ in range(5):
            sign_in(client, email=email, password="wrong password here")
        response = sign_in(client, email=email)
        assert response.status_code == 429
        bodies.append(_comparable(response.get_data(as_text=True), email))
    assert bodies[0] == bodies[1]


def test_one_address_is_locked_after_too_many_failures_across_accounts(make_app, clock):
    app = make_app(CONTENT_DIR=str(content_dir()), WTF_CSRF_ENABLED=False, STAFF_ARGON2=FAST_ARGON2, STAFF_CLOCK=clock,
                   STAFF_SIGNIN_IP_MAX_FAILURES=4)
    create_staff(app)
    client = app.test_client()
    for number in range(4):  # a different account each time: only the address ties them together
        sign_in(client, email=f"guess{number}@clinic.test", password="wrong password here")
    assert sign_in(client).status_code == 429
    other_address = app.test_client()
    assert sign_in(other_address, environ_base={}).status_code == 429  # same 127.0.0.1 in the test client
    response = app.test_client().post("/staff/sign-in", data={"email": EMAIL, "password": PASSWORD},
                                      environ_base={"REMOTE_ADDR": "10.0.0.7"})
    assert response.status_code == 303


def test_session_cookie_holds_only_a_random_token_stored_hashed(staff_app, signed_in):
    token = signed_in.get_cookie("staff").value
    assert signed_in.get_cookie("staff").http_only and signed_in.get_cookie("staff").same_site == "Lax"
    session_cookie = signed_in.get_cookie("session")
    serializer = staff_app.session_interface.get_signing_serializer(staff_app)
    contents = serializer.loads(session_cookie.value) if session_cookie else {}
    assert set(contents) <= {"csrf_token", "_flashes"}  # the patient side's cookie holds nothing of the staff session
    hashes = [r["token_hash"] for r in stored(staff_app, "SELECT token_hash FROM staff_sessions")]
    assert token not in hashes and len(hashes) == 1 and len(hashes[0]) == 64


def test_copied_session_cookie_is_useless_after_sign_out(staff_app, signed_in):
    stolen = staff_app.test_client()
    stolen.set_cookie("staff", signed_in.get_cookie("staff").value)
    assert stolen.get("/staff").status_code == 200
    response = signed_in.post("/staff/sign-out")
    assert response.status_code == 303 and response.headers["Location"] == "/staff/sign-in"
    assert signed_in.get_cookie("staff") is None
    assert stolen.get("/staff").status_code == 302
    assert signed_in.get("/staff").status_code == 302
    assert value(staff_app, "SELECT COUNT(*) FROM staff_sessions") == 0
    assert "You have signed out" in signed_in.get("/staff/sign-in").get_data(as_text=True)


def test_session_ends_after_30_idle_minutes_but_not_while_in_use(staff_app, signed_in, clock):
    for _ in range(3):
        clock.advance(25 * 60)
        assert signed_in.get("/staff").status_code == 200
    clock.advance(30 * 60 + 1)
    response = signed_in.get("/staff")
    assert response.status_code == 302 and "/staff/sign-in" in response.headers["Location"]


def test_session_ends_after_12_hours_even_while_in_use(staff_app, signed_in, clock):
    for _ in range(47):  # a click every 15 minutes for 11 h 45 min
        clock.advance(15 * 60)
        assert signed_in.get("/staff").status_code == 200
    clock.advance(15 * 60 + 1)
    response = signed_in.get("/staff")
    assert response.status_code == 302 and "/staff/sign-in" in response.headers["Location"]
    assert not value(staff_app, "SELECT COUNT(*) FROM staff_sessions")  # ended, not only refused


def test_the_absolute_session_lifetime_is_a_setting(make_app, clock):
    app = make_app(CONTENT_DIR=str(content_dir()), WTF_CSRF_ENABLED=False, STAFF_ARGON2=FAST_ARGON2, STAFF_CLOCK=clock,
                   STAFF_SESSION_MAX_SECONDS=3600)
    create_staff(app)
    client = app.test_client()
    assert sign_in(client).status_code == 303
    for _ in range(2):
        clock.advance(1700)
        assert client.get("/staff").status_code == 200
    clock.advance(201)
    assert client.get("/staff").status_code == 302


def test_sign_in_issues_a_new_session_and_ends_the_old_one(staff_app, signed_in):
    first_cookie = signed_in.get_cookie("staff").value
    first = {r["token_hash"] for r in stored(staff_app, "SELECT token_hash FROM staff_sessions")}
    assert sign_in(signed_in).status_code == 303
    second = {r["token_hash"] for r in stored(staff_app, "SELECT token_hash FROM staff_sessions")}
    assert len(second) == 1 and not first & second
    assert signed_in.get_cookie("staff").value != first_cookie
    replay = staff_app.test_client()
    replay.set_cookie("staff", first_cookie)
    response = replay.get("/staff")
    assert response.status_code == 302 and replay.get_cookie("staff") is None  # the dead token's cookie is dropped


def test_disabled_account_cannot_sign_in_and_its_sessions_end(staff_app, signed_in):
    runner = staff_app.test_cli_runner()
    assert runner.invoke(args=["staff", "disable", EMAIL]).exit_code == 0
    assert signed_in.get("/staff").status_code == 302
    assert "Email or password is not right" in sign_in(staff_app.test_client()).get_data(as_text=True)


def test_sign_in_needs_a_csrf_token(make_app):
    app = make_app(CONTENT_DIR=str(content_dir()), STAFF_ARGON2=FAST_ARGON2)
    create_staff(app)
    response = sign_in(app.test_client())
    assert response.status_code == 400
    assert not any(c.startswith("staff=") for c in response.headers.getlist("Set-Cookie"))


# --- the list and a request -----------------------------------------------------------------------------------
def test_list_shows_new_requests_newest_first_with_the_count_of_new(staff_app, signed_in):
    older = add_request(staff_app, created_at=time.time() - 3600, name="Older Patient")
    newer = add_request(staff_app, name="Newer Patient")
    add_request(staff_app, status="contacted", name="Contacted Patient")
    spam = add_request(staff_app, status="spam", spam_reason="honeypot", name="Spam Bot")
    page = signed_in.get("/staff").get_data(as_text=True)
    assert page.index(newer) < page.index(older)
    assert "Contacted Patient" not in page and spam not in page
    assert re.search(r"<strong>2</strong> new requests", page)
    spam_page = signed_in.get("/staff?status=spam").get_data(as_text=True)
    assert "Suspected spam" in spam_page and spam in spam_page and newer not in spam_page


def test_filter_asked_for_by_htmx_gets_only_the_partial(staff_app, signed_in):
    add_request(staff_app, status="closed", name="Closed Patient")
    response = signed_in.get("/staff?status=closed", headers={"HX-Request": "true"})
    page = response.get_data(as_text=True)
    assert "Closed Patient" in page and "<html" not in page and "<title>Requests: Closed" in page
    assert "HX-Request" in response.headers["Vary"]


def test_unknown_filter_and_unknown_reference_do_not_break(staff_app, signed_in):
    assert signed_in.get("/staff?status=%00weird").status_code == 200
    assert signed_in.get("/staff/requests/FBS-NOPE").status_code == 404
    assert signed_in.post("/staff/requests/FBS-NOPE/status", data={"status": "closed"}).status_code == 404
    assert signed_in.post("/staff/requests/FBS-NOPE/notes", data={"body": "x"}).status_code == 404
    assert signed_in.get("/staff/requests/FBS-NOPE/erase").status_code == 404
    assert signed_in.get("/staff/audit?before=abc").status_code == 200


STRANGE = ["", "%00", "%F0%9F%92%A5", "x" * 5000, "-1", "99999999999999999999999", "%ED%A0%80", "'; DROP TABLE requests;--"]


@pytest.mark.parametrize("value", STRANGE)
def test_strange_values_anywhere_in_the_staff_area_never_give_a_500(staff_app, signed_in, value):
    reference = add_request(staff_app)
    paths = [f"/staff?status={value}", f"/staff/audit?before={value}", f"/staff/export.csv?status={value}",
             f"/staff/requests/{value or 'x'}", f"/staff/requests/{value or 'x'}/erase", f"/staff/sign-in?next={value}"]
    for path in paths:
        for method in ("GET", "POST", "PUT", "DELETE"):
            assert signed_in.open(path, method=method, data={"status": value}).status_code < 500, (method, path)
    for form in ({"status": value}, {"body": value}, {"status": [value, "new"]}, {}):
        for action in ("status", "notes"):
            assert signed_in.post(f"/staff/requests/{reference}/{action}", data=form).status_code < 500
    anonymous = staff_app.test_client()
    for form in ({"email": value, "password": value}, {"email": [value, value]}, {"next": value}, {}):
        assert anonymous.post("/staff/sign-in", data=form).status_code < 500


def test_detail_shows_everything_sent_with_journey_answers_as_pairs_and_records_the_view(staff_app, signed_in):
    reference = add_request(staff_app)
    page = signed_in.get(f"/staff/requests/{reference}").get_data(as_text=True)
    assert "Alex Example" in page and "alex@example.org" in page and "Still have leg pain" in page
    assert re.search(r"<dt>Which operation did you have\?</dt><dd>Spinal fusion</dd>", page)
    assert [r["reference"] for r in audit_rows(staff_app, "viewed")] == [reference]


@pytest.mark.parametrize("address", ["real%40victim.example.com?bcc=spy@evil.example.com",
                                     "a&b=c@example.com", "x#y@example.com", "alex@example.org"])
def test_reply_link_is_percent_encoded_so_an_address_cannot_add_recipients(staff_app, signed_in, address):
    """Issue 11 L4: a stored address (from before the form refused such addresses) must not add a Bcc to a reply."""
    from urllib.parse import unquote

    reference = add_request(staff_app, email=address)
    page = signed_in.get(f"/staff/requests/{reference}").get_data(as_text=True)
    href = re.search(r'<a class="staff-link" href="(mailto:[^"]*)"', page).group(1).replace("&amp;", "&")
    target = href.removeprefix("mailto:")
    assert not set("?#&") & set(target), href  # no header fields, no fragment: one recipient only
    assert unquote(target) == address  # and it is exactly the address the patient gave


class _HxDisableChecker(HTMLParser):
    """Collects every text node with whether an ancestor carries data-hx-disable."""

    VOID = {"br", "input", "img", "meta", "link", "hr", "source", "wbr"}

    def __init__(self):
        super().__init__()
        self.stack, self.texts = [], []

    def handle_starttag(self, tag, attrs):
        if tag not in self.VOID:
            self.stack.append((tag, any(name == "data-hx-disable" for name, _ in attrs)))

    def handle_endtag(self, tag):
        while self.stack:
            if self.stack.pop()[0] == tag:
                break

    def handle_data(self, data):
        self.texts.append((data, any(disabled for _, disabled in self.stack)))


def test_patient_text_is_shown_literally_inside_an_element_htmx_ignores(staff_app, signed_in):
    hostile = '<b hx-get="/x">{{7*7}}</b>'
    reference = add_request(staff_app, name=hostile, description=hostile, phone=None,
                            journey_answers=json.dumps([[hostile, hostile]]))
    signed_in.post(f"/staff/requests/{reference}/notes", data={"body": hostile})
    for path in ("/staff", f"/staff/requests/{reference}"):
        page = signed_in.get(path).get_data(as_text=True)
        assert '<b hx-get="/x">' not in page and not re.search(r">\s*49\s*<", page)  # not run as a template
        assert "&lt;b hx-get=&#34;/x&#34;&gt;{{7*7}}&lt;/b&gt;" in page
        checker = _HxDisableChecker()
        checker.feed(page)
        shown = [inside for text, inside in checker.texts if "{{7*7}}" in text]
        assert shown and all(shown), path


def test_status_change_without_javascript_redirects_and_leaves_an_audit_row(staff_app, signed_in):
    reference = add_request(staff_app)
    response = signed_in.post(f"/staff/requests/{reference}/status", data={"status": "contacted"})
    assert response.status_code == 303 and response.headers["Location"] == f"/staff/requests/{reference}"
    assert inbox.get_request(db(staff_app), reference)["status"] == "contacted"
    row = audit_rows(staff_app, "status_changed")[0]
    assert row["staff_email"] == EMAIL and row["reference"] == reference and row["detail"] == "new -> contacted"
    assert "Status saved" in signed_in.get(response.headers["Location"]).get_data(as_text=True)


def test_status_change_with_htmx_returns_the_updated_request_in_place(staff_app, signed_in):
    reference = add_request(staff_app)
    response = signed_in.post(f"/staff/requests/{reference}/status", data={"status": "closed"},
                              headers={"HX-Request": "true"})
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in page and "Status saved" in page
    assert response.headers["HX-Push-Url"] == f"/staff/requests/{reference}"
    assert 'value="closed" checked' in page or 'checked id="status-2"' in page or "checked" in page


def test_a_status_that_does_not_exist_is_refused_next_to_the_field(staff_app, signed_in):
    reference = add_request(staff_app)
    response = signed_in.post(f"/staff/requests/{reference}/status", data={"status": "deleted"})
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and 'id="status-error"' in page and "There is a problem" in page
    assert inbox.get_request(db(staff_app), reference)["status"] == "new"
    assert not audit_rows(staff_app, "status_changed")


def test_note_is_added_and_leaves_an_audit_row_without_its_text(staff_app, signed_in):
    reference = add_request(staff_app)
    response = signed_in.post(f"/staff/requests/{reference}/notes", data={"body": f"Called, no answer {CANARY}"})
    assert response.status_code == 303
    assert CANARY in signed_in.get(f"/staff/requests/{reference}").get_data(as_text=True)
    row = audit_rows(staff_app, "note_added")[0]
    assert row["reference"] == reference and row["staff_email"] == EMAIL
    assert CANARY not in json.dumps(audit_rows(staff_app))


@pytest.mark.parametrize("body", ["", "   ", "x" * 2001])
def test_an_empty_or_too_long_note_is_refused_and_keeps_the_text(staff_app, signed_in, body):
    reference = add_request(staff_app)
    response = signed_in.post(f"/staff/requests/{reference}/notes", data={"body": body})
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and 'id="body-error"' in page
    if body.strip():
        assert body in page
    assert not audit_rows(staff_app, "note_added")


def test_a_note_keeps_its_line_breaks_and_drops_control_characters_a_nul_among_them(staff_app, signed_in):
    # PostgreSQL refuses text holding a NUL: the note was a 500 there (issue 21). The request form drops them too.
    reference = add_request(staff_app)
    response = signed_in.post(f"/staff/requests/{reference}/notes", data={"body": "Called\x00 back\r\nno\x07 answer\t."})
    assert response.status_code == 303
    assert value(staff_app, "SELECT body FROM request_notes") == "Called back\nno answer\t."
    assert len(audit_rows(staff_app, "note_added")) == 1


def test_export_neutralises_formulas_and_leaves_an_audit_row(staff_app, signed_in):
    reference = add_request(staff_app, name='=HYPERLINK("http://evil.example","x")', phone="+44 20 7946 0000",
                            email="@evil.example", description="-2+3", contact_by="phone")
    add_request(staff_app, name="\tTabbed", description="\r=1+1")
    response = signed_in.post("/staff/export.csv")
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    first = next(r for r in rows if r["reference"] == reference)
    assert first["name"] == '\'=HYPERLINK("http://evil.example","x")'
    assert first["phone"] == "'+44 20 7946 0000" and first["email"] == "'@evil.example" and first["description"] == "'-2+3"
    second = next(r for r in rows if r["reference"] != reference)
    assert second["name"] == "'\tTabbed" and second["description"] == "'\r=1+1"
    assert "Which operation did you have?: Spinal fusion" in first["journey_answers"]
    for row in rows:
        for cell in row.values():
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))
    exported = audit_rows(staff_app, "exported")
    assert len(exported) == 1 and exported[0]["detail"] == "2 requests" and exported[0]["staff_email"] == EMAIL


def test_export_by_get_downloads_nothing_and_writes_no_audit_row(staff_app, signed_in):
    add_request(staff_app)
    response = signed_in.get("/staff/export.csv")
    assert response.status_code == 405 and "text/csv" not in response.headers["Content-Type"]
    assert not audit_rows(staff_app, "exported")


def test_the_inbox_offers_export_as_a_form_with_a_csrf_token(make_app, clock):
    app = make_app(CONTENT_DIR=str(content_dir()), STAFF_ARGON2=FAST_ARGON2, STAFF_CLOCK=clock)  # CSRF on
    create_staff(app)
    client = app.test_client()
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', client.get("/staff/sign-in").get_data(as_text=True)).group(1)
    assert sign_in(client, csrf_token=token).status_code == 303
    add_request(app)
    page = client.get("/staff?status=new").get_data(as_text=True)
    forms = re.findall(r'<form[^>]*action="/staff/export.csv"[^>]*>(.*?)</form>', page, re.S)
    assert len(forms) == 2 and all('name="csrf_token"' in form for form in forms)
    assert 'method="post"' in page.split('action="/staff/export.csv"')[0].rsplit("<form", 1)[1]
    assert client.post("/staff/export.csv").status_code == 400  # no token
    assert not audit_rows(app, "exported")
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', forms[0]).group(1)
    response = client.post("/staff/export.csv", data={"csrf_token": token, "status": "new"})
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/csv")
    assert audit_rows(app, "exported")[0]["detail"] == "1 requests (new)"


def test_export_streams_rows_from_a_snapshot_while_others_write(staff_app, signed_in):
    for n in range(3):
        add_request(staff_app, name=f"Patient {n}")
    response = signed_in.post("/staff/export.csv", buffered=False)
    assert response.is_streamed
    chunks = response.response  # the body is made as it is read
    first = next(iter(chunks))
    later = add_request(staff_app, name="Arrived during the export")  # a writer is not held up by the export
    text = (first + b"".join(chunks)).decode("utf-8-sig")
    response.close()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["name"] for r in rows] == ["Patient 0", "Patient 1", "Patient 2"] and later not in text
    assert audit_rows(staff_app, "exported")[0]["detail"] == "3 requests"


@pytest.mark.parametrize("fetch_site", [None, "none", "same-origin", "same-site"])
def test_opening_a_request_from_our_pages_a_bookmark_or_a_mail_program_records_the_view(staff_app, signed_in, fetch_site):
    reference = add_request(staff_app)
    headers = {"Sec-Fetch-Site": fetch_site} if fetch_site else {}
    assert signed_in.get(f"/staff/requests/{reference}", headers=headers).status_code == 200
    assert len(audit_rows(staff_app, "viewed")) == 1


def test_opening_a_request_from_another_site_is_refused_with_a_way_back_in_and_writes_nothing(staff_app, signed_in):
    reference = add_request(staff_app, name="Alex Example")
    response = signed_in.get(f"/staff/requests/{reference}", headers={"Sec-Fetch-Site": "cross-site"})
    page = response.get_data(as_text=True)
    assert response.status_code == 403 and "Alex Example" not in page
    assert f'href="/staff/requests/{reference}"' in page and 'href="/staff"' in page
    assert response.headers["Cache-Control"] == "no-store"
    assert not audit_rows(staff_app, "viewed")


@pytest.mark.parametrize("value, shown", [("=1+1", "'=1+1"), ("+1", "'+1"), ("-1", "'-1"), ("@A1", "'@A1"),
                                          ("\t=1", "'\t=1"), ("\r=1", "'\r=1"), ("a=1", "a=1"), ("", ""), (None, "")])
def test_neutralise_prefixes_only_cells_a_spreadsheet_would_run(value, shown):
    assert inbox.neutralise(value) == shown


def _file_bytes(path):
    path = Path(path)
    return path.read_bytes() if path.exists() else b""


def test_erased_request_is_gone_from_the_database_and_from_the_sqlite_file_and_its_wal(staff_app, signed_in):
    # PostgreSQL keeps dead row versions on disk until VACUUM (README "Erasure"): the file check is SQLite's.
    path = clinic_db.sqlite_path(staff_app.config["DATABASE_URL"])
    long_text = (CANARY + " ") * 300  # long enough to spill into overflow pages
    reference = add_request(staff_app, name=f"Name {CANARY}", email=f"{CANARY}@example.org", phone=f"0{CANARY}",
                            description=long_text, journey_answers=json.dumps([[f"Q {CANARY}", f"A {CANARY}"]]))
    keep = add_request(staff_app, name="Someone Else")
    signed_in.post(f"/staff/requests/{reference}/notes", data={"body": f"note {CANARY}"})
    conn = db(staff_app)
    request_id = scalar(conn, "SELECT id FROM requests WHERE reference = :reference", reference=reference)
    run(conn, "INSERT INTO outbox (request_id, kind, next_attempt_at, created_at)"
                 " VALUES (:id, 'staff_notification', 0, 0)", id=request_id)
    conn.close()
    if path:
        assert CANARY.encode() in _file_bytes(path) + _file_bytes(path + "-wal")

    page = signed_in.get(f"/staff/requests/{reference}/erase").get_data(as_text=True)
    assert "cannot be undone" in page
    response = signed_in.post(f"/staff/requests/{reference}/erase")
    assert response.status_code == 303
    assert reference in signed_in.get(response.headers["Location"]).get_data(as_text=True)  # "FBS-... was erased"

    for suffix in ("", "-wal", "-journal") if path else ():
        assert CANARY.encode() not in _file_bytes(path + suffix), suffix
    conn = db(staff_app)
    assert scalar(conn, "SELECT COUNT(*) FROM outbox WHERE request_id = :id", id=request_id) == 0
    assert scalar(conn, "SELECT COUNT(*) FROM request_notes") == 0
    assert scalar(conn, "SELECT COUNT(*) FROM outbox") == 1  # the other request's notification stays
    assert inbox.get_request(conn, keep) is not None
    conn.close()
    erased = audit_rows(staff_app, "erased")
    assert [r["reference"] for r in erased] == [reference]
    assert signed_in.get(f"/staff/requests/{reference}").status_code == 404


def test_audit_rows_cannot_be_updated_or_deleted(staff_app, signed_in):
    assert audit_rows(staff_app, "signed_in")
    conn = db(staff_app)
    with pytest.raises(DatabaseError, match="cannot be changed"):
        run(conn, "UPDATE audit_log SET staff_email = 'someone@else'")
    with pytest.raises(DatabaseError, match="cannot be deleted"):
        run(conn, "DELETE FROM audit_log")
    assert scalar(conn, "SELECT COUNT(*) FROM audit_log") >= 1
    conn.close()


def test_audit_page_shows_who_did_what_and_offers_no_way_to_change_it(staff_app, signed_in):
    reference = add_request(staff_app, description=f"pain {CANARY}")
    signed_in.get(f"/staff/requests/{reference}")
    signed_in.post(f"/staff/requests/{reference}/status", data={"status": "closed"})
    page = signed_in.get("/staff/audit").get_data(as_text=True)
    for label in ("Signed in", "Viewed", "Changed status"):
        assert label in page
    assert reference in page and EMAIL in page and CANARY not in page
    assert page.count("<form") == 1  # only the sign-out button of the staff navigation
    assert signed_in.post("/staff/audit").status_code == 405


def test_signing_in_and_out_are_audited(staff_app, signed_in):
    signed_in.post("/staff/sign-out")
    assert [r["action"] for r in audit_rows(staff_app)] == ["signed_in", "signed_out"]


# --- retention --------------------------------------------------------------------------------------------------
def test_purge_removes_requests_older_than_the_retention_days(staff_app, clock):
    old = add_request(staff_app, created_at=clock.now - 400 * 86400)
    recent = add_request(staff_app, created_at=clock.now - 10 * 86400)
    conn = db(staff_app)
    assert inbox.purge(conn, None, 365, clock.now) == 1
    assert inbox.get_request(conn, old) is None and inbox.get_request(conn, recent) is not None
    conn.close()
    assert audit_rows(staff_app, "purged")[0]["detail"] == "1 requests older than 365 days"


def test_housekeeping_applies_the_configured_retention(make_app, clock):
    # No longer at sign-in: `flask housekeeping` (tests/test_housekeeping.py) does it off the request path.
    app = make_app(CONTENT_DIR=str(content_dir()), WTF_CSRF_ENABLED=False, STAFF_ARGON2=FAST_ARGON2, STAFF_CLOCK=clock,
                   REQUEST_RETENTION_DAYS=30)
    old = add_request(app, created_at=time.time() - 31 * 86400)
    assert app.test_cli_runner().invoke(args=["housekeeping"]).exit_code == 0
    assert inbox.get_request(db(app), old) is None
    assert audit_rows(app, "purged")[0]["staff_email"] == "automatic retention"


# --- no-store ---------------------------------------------------------------------------------------------------
def test_every_staff_response_is_marked_no_store(staff_app, signed_in):
    reference = add_request(staff_app)
    responses = [
        staff_app.test_client().get("/staff/sign-in"),
        signed_in.get("/staff"),
        signed_in.get("/staff?status=spam", headers={"HX-Request": "true"}),
        signed_in.get(f"/staff/requests/{reference}"),
        signed_in.get(f"/staff/requests/{reference}/erase"),
        signed_in.post("/staff/export.csv"),
        signed_in.get(f"/staff/requests/{reference}", headers={"Sec-Fetch-Site": "cross-site"}),
        signed_in.get("/staff/audit"),
        signed_in.post(f"/staff/requests/{reference}/status", data={"status": "closed"}),
        signed_in.get("/staff/requests/FBS-NONE"),
    ]
    for response in responses:
        assert response.headers["Cache-Control"] == "no-store", response.request.path


# --- command line -----------------------------------------------------------------------------------------------
def test_cli_creates_lists_and_disables_staff(staff_app):
    runner = staff_app.test_cli_runner()
    created = runner.invoke(args=["staff", "create", "Admin@Clinic.test", "--password-stdin"], input=PASSWORD + "\n")
    assert created.exit_code == 0, created.output
    assert PASSWORD not in created.output
    # Its first sign-in sets up the second factor and ends on the page of recovery codes.
    assert sign_in(staff_app.test_client(), email="admin@clinic.test").status_code == 200
    listed = runner.invoke(args=["staff", "list"])
    assert "admin@clinic.test\tactive" in listed.output
    assert runner.invoke(args=["staff", "disable", "admin@clinic.test"]).exit_code == 0
    assert "admin@clinic.test\tdisabled" in runner.invoke(args=["staff", "list"]).output
    assert runner.invoke(args=["staff", "disable", "nobody@clinic.test"]).exit_code != 0


def test_cli_refuses_short_passwords_and_duplicate_accounts(staff_app):
    runner = staff_app.test_cli_runner()
    short = runner.invoke(args=["staff", "create", "a@clinic.test", "--password-stdin"], input="short\n")
    assert short.exit_code != 0 and "12 characters" in short.output
    assert runner.invoke(args=["staff", "create", "a@clinic.test", "--password-stdin"], input=PASSWORD).exit_code == 0
    again = runner.invoke(args=["staff", "create", "A@clinic.test", "--password-stdin"], input=PASSWORD)
    assert again.exit_code != 0 and "already" in again.output


def test_cli_exports_csv_to_standard_output_and_audits_it(staff_app):
    reference = add_request(staff_app, name="=cmd|' /C calc'!A0")
    result = staff_app.test_cli_runner().invoke(args=["requests", "export"])
    assert result.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert rows[0]["reference"] == reference and rows[0]["name"].startswith("'=")
    assert audit_rows(staff_app, "exported")[0]["staff_email"] == "command line"


def test_cli_purges_requests_older_than_days(staff_app):
    old = add_request(staff_app, created_at=time.time() - 40 * 86400)
    kept = add_request(staff_app, created_at=time.time() - 5 * 86400)
    result = staff_app.test_cli_runner().invoke(args=["requests", "purge", "--older-than", "30"])
    assert result.exit_code == 0 and "Purged 1 request older than 30 days" in result.output
    conn = db(staff_app)
    assert inbox.get_request(conn, old) is None and inbox.get_request(conn, kept) is not None
    conn.close()
    assert staff_app.test_cli_runner().invoke(args=["requests", "purge", "--older-than", "-1"]).exit_code != 0


def test_a_notification_the_outbox_gave_up_on_is_shown_to_staff(staff_app, signed_in):
    reference = add_request(staff_app)
    conn = db(staff_app)
    run(conn, "UPDATE outbox SET status = 'failed', attempts = 10, last_error = '550 5.1.1 Mailbox unavailable'")
    conn.close()
    inbox_html = signed_in.get("/staff").get_data(as_text=True)
    assert "1 email notification could not be sent" in inbox_html
    detail_html = signed_in.get(f"/staff/requests/{reference}").get_data(as_text=True)
    assert "Staff notification" in detail_html and "failed" in detail_html and "550 5.1.1" in detail_html


def test_a_sent_notification_shows_as_sent_and_no_warning_is_given(staff_app, signed_in):
    reference = add_request(staff_app)
    conn = db(staff_app)
    run(conn, "UPDATE outbox SET status = 'sent', attempts = 1, sent_at = 1")
    conn.close()
    assert "could not be sent" not in signed_in.get("/staff").get_data(as_text=True)
    detail_html = signed_in.get(f"/staff/requests/{reference}").get_data(as_text=True)
    assert re.search(r'Staff notification:\s*<span class="status">sent</span>', detail_html)


# --- answers stored as ids, labels rendered when read (issue 20 A) -------------------------------------------
def summary_walk(journey):
    """(answers, seen) of a walk to the summary through `journey`, as a journey in progress holds them."""
    from clinic.journey import REQUEST_TARGET
    from tests.conftest import find_route

    route, answers = find_route(journey, lambda step_id: step_id == REQUEST_TARGET
                                or journey.steps[step_id].kind == "summary")
    return answers, {step.id for step, _ in route if step.kind == "info"}


def answers_shown(page):
    """(question, answer) pairs of the Journey answers list on a staff request page; several ticked boxes are a
    list there, and come back as a tuple of their labels."""
    listing = re.search(r'<dl class="answer-list journey-answers">(.*?)</dl>', page, re.S).group(1)
    pairs = []
    for question, answer in re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>", listing):
        ticked = re.fullmatch(r'<ul class="ticked">(.*)</ul>(.*)', answer)
        pairs.append((question, (*re.findall(r"<li>(.*?)</li>", ticked.group(1)), *filter(None, [ticked.group(2)]))
                      if ticked else answer))
    return pairs


def test_staff_see_the_same_english_labels_for_the_same_answer_ids_whichever_language_the_patient_used(
        staff_app, signed_in):
    from markupsafe import escape

    from clinic import request_answers

    journey = staff_app.extensions["journey"]
    answers, seen = summary_walk(journey)
    several = next(q for _step, q, _given in journey.relevant_answers(answers, seen)
                   if q.type == "multiple" and len(q.options) > 2 and not q.id.startswith("signs_"))
    answers[several.id] = [o.value for o in several.options if o.value != several.exclusive][:2]  # two boxes ticked
    english = add_request(staff_app, answers=request_answers.from_journey(journey, answers, seen, language="en"))
    # From the Spanish guide when the content has one (the same ids, the Spanish content's version)
    in_spanish = staff_app.extensions["journeys"].get("es", journey)
    spanish = add_request(staff_app, answers=request_answers.from_journey(in_spanish, answers, seen, language="es"))
    def shown(question, given):  # one answer as text; several ticked boxes as a list of their labels (issue 19)
        labels = [str(escape(question.label_for(v))) for v in (given if isinstance(given, list) else [given])]
        return tuple(labels) if len(labels) > 1 else "".join(labels)

    expected = [(str(escape(question.label)), shown(question, given))
                for _step, question, given in journey.relevant_answers(answers, seen) if question.type != "text"]
    assert expected and any(isinstance(answer, tuple) for _question, answer in expected), "a list of ticked boxes"
    pages = {ref: signed_in.get(f"/staff/requests/{ref}").get_data(as_text=True) for ref in (english, spanish)}
    assert answers_shown(pages[english]) == answers_shown(pages[spanish]) == expected
    for page in pages.values():
        assert "Saved before answers were stored as ids" not in page and "The guide has changed" not in page

    exported = {row["reference"]: row for row in csv.DictReader(io.StringIO(
        signed_in.post("/staff/export.csv").get_data(as_text=True).lstrip("\ufeff")))}
    assert exported[english]["journey_answers"] == exported[spanish]["journey_answers"]
    assert exported[english]["journey_answers"].splitlines()[0] == "{}: {}".format(*map(str, (
        journey.relevant_answers(answers, seen)[0][1].label, expected[0][1])))
    assert (exported[english]["answers_language"], exported[spanish]["answers_language"]) == ("en", "es")
    assert exported[english]["content_version"] == journey.version
    first_id, first_value = next(iter(request_answers.from_journey(journey, answers, seen).values.items()))
    assert exported[english]["answer_ids"].splitlines()[0] == f"{first_id}: {', '.join(first_value)}"


def test_a_request_saved_before_ids_keeps_its_stored_words_and_the_page_says_so(staff_app, signed_in):
    reference = add_request(staff_app, journey_answers=[["An old question?", "An old answer"]])
    page = signed_in.get(f"/staff/requests/{reference}").get_data(as_text=True)
    assert answers_shown(page) == [("An old question?", "An old answer")]
    assert "Saved before answers were stored as ids" in page


def test_a_wording_change_after_a_request_shows_the_new_words_for_its_ids_and_says_the_guide_changed(
        make_app, fixture_content, clock):
    from clinic import request_answers

    app = make_app(CONTENT_DIR=str(fixture_content), WTF_CSRF_ENABLED=False, STAFF_ARGON2=FAST_ARGON2, STAFF_CLOCK=clock)
    journey = app.extensions["journey"]
    answers, seen = summary_walk(journey)
    stored = request_answers.from_journey(journey, answers, seen)
    question_id, [value] = "surgery", stored.values["surgery"]  # the small test journey's surgery question
    old_label = journey.question(question_id).label_for(value)
    reference = add_request(app, answers=stored)

    changed = 0
    for path in (fixture_content / "steps").glob("*.md"):
        text = path.read_text(encoding="utf-8")
        option = f"{{value: {value}, label: {old_label}}}"
        if option in text:
            path.write_text(text.replace(option, f"{{value: {value}, label: Reworded for this test}}"), encoding="utf-8")
            changed += 1
    assert changed == 1
    reworded = make_app(CONTENT_DIR=str(fixture_content), WTF_CSRF_ENABLED=False, STAFF_ARGON2=FAST_ARGON2,
                        STAFF_CLOCK=clock)
    assert reworded.extensions["journey"].version != journey.version
    create_staff(reworded)
    client = reworded.test_client()
    assert sign_in(client).status_code == 303
    page = client.get(f"/staff/requests/{reference}").get_data(as_text=True)
    from markupsafe import escape

    assert dict(answers_shown(page))[str(escape(journey.question(question_id).label))] == "Reworded for this test"
    assert f"<dd>{old_label}</dd>" not in page
    assert f"guide version {journey.version}, now {reworded.extensions['journey'].version}" in page


def test_ids_the_content_no_longer_has_are_shown_as_they_are_and_marked_and_typed_text_is_escaped(
        make_app, clock):
    """A request never loses an answer because the content moved on: the id shows itself, marked."""
    from clinic.journey import load_journey
    from clinic.request_answers import StoredAnswers, answer_rows
    from tests.conftest import ROOT

    fixture = ROOT / "tests" / "fixtures" / "content"
    journey = load_journey(fixture)
    rows = answer_rows(journey, {"tried": ["pills", "retired_option"], "surgery": ["fusion"], "retired_question": ["x"]},
                       {"retired_text": "<b>typed</b>"})
    assert [(r.question_id, r.answers, r.known) for r in rows] == [
        ("surgery", ("Fusion",), True),  # in the order the content walks them, whatever order they were stored in
        ("tried", ("Pills", "retired_option"), False),
        ("retired_question", ("x",), False),
        ("retired_text", ("<b>typed</b>",), False),
    ]
    app = make_app(CONTENT_DIR=str(fixture), WTF_CSRF_ENABLED=False, STAFF_ARGON2=FAST_ARGON2, STAFF_CLOCK=clock)
    reference = add_request(app, answers=StoredAnswers(
        values={"surgery": ["fusion"], "retired_question": ["x"]}, free_text={"retired_text": "<b>typed</b>"},
        content_version=journey.version))
    create_staff(app)
    client = app.test_client()
    assert sign_in(client).status_code == 303
    page = client.get(f"/staff/requests/{reference}").get_data(as_text=True)
    assert answers_shown(page) == [("Which surgery?", "Fusion"), ("retired_question", "x (no longer in the guide)"),
                                   ("retired_text", "&lt;b&gt;typed&lt;/b&gt; (no longer in the guide)")]
