"""Staff second factor and roles (issue 22 A, B): enrolment, TOTP codes used once, recovery codes, the throttle,
asking again before export and erase, reset-factors, roles on every route of the URL map."""
import re

import pytest
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer

from blueprints.journey import CONTINUE_SALT
from clinic import factors, fhir
from tests.conftest import content_dir, walk_to_summary
from tests.support import factors as support
from tests.support.html_check import html_problems
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
from tests.support.storage import stored as stored_rows
from tests.support.storage import value
from tests.support.uploads import PDF as UPLOADED_PDF
from tests.support.uploads import post_request as upload_request

pytestmark = pytest.mark.both_databases

READER = "reader@clinic.test"


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def app(make_app, clock):
    return make_app(CONTENT_DIR=str(content_dir()), WTF_CSRF_ENABLED=False, STAFF_ARGON2=FAST_ARGON2, STAFF_CLOCK=clock)


def password_only(client, email=EMAIL, password=PASSWORD):
    return client.post("/staff/sign-in", data={"email": email, "password": password})


def post_code(client, code, path="/staff/sign-in/code", environ_base=None, **data):
    return client.post(path, data={"code": code, **data}, **({"environ_base": environ_base} if environ_base else {}))


def step_now(app):
    return factors.time_step(app.config["STAFF_CLOCK"]())


def last_step(app, email=EMAIL):
    return value(app, "SELECT totp_last_step FROM staff WHERE email = :email", email=email)


# --- enrolment --------------------------------------------------------------------------------------------------
def test_a_new_account_enrols_before_it_sees_the_inbox(app):
    create_staff(app, enrolled=False)
    client = app.test_client()
    response = password_only(client)
    assert response.status_code == 303 and response.headers["Location"] == "/staff/sign-in/enrol"
    assert client.get("/staff").headers["Location"].startswith("/staff/sign-in")  # the password alone opens nothing
    page = client.get("/staff/sign-in/enrol").get_data(as_text=True)
    assert re.search(r'<svg role="img" [^>]*class="qr-code"><title>QR code', page)
    assert 'autocomplete="one-time-code"' in page and 'inputmode="numeric"' in page
    secret = support.SETUP_KEY.search(page).group(1).replace(" ", "")
    assert len(secret) == 32
    assert client.get("/staff/sign-in/enrol").get_data(as_text=True).count(support.SETUP_KEY.search(page).group(1)) == 1
    wrong = post_code(client, "000000" if factors.code_at(secret, step_now(app)) != "000000" else "111111",
                      "/staff/sign-in/enrol")
    assert wrong.status_code == 200 and "That code is not right" in wrong.get_data(as_text=True)
    assert client.get("/staff").status_code == 302
    done = post_code(client, factors.code_at(secret, step_now(app)), "/staff/sign-in/enrol")
    assert done.status_code == 200
    codes = support.RECOVERY_CODE.findall(done.get_data(as_text=True))
    assert len(codes) == 10 and len(set(codes)) == 10
    assert all(len(code.replace("-", "")) >= 16 and re.fullmatch(r"[A-Z2-7-]+", code) for code in codes)
    assert client.get("/staff").status_code == 200
    assert [row["detail"] for row in audit_rows(app, "enrolled")] == ["authenticator app"]
    # Shown once: only argon2id hashes are stored.
    stored = [row["code_hash"] for row in stored_rows(app, "SELECT code_hash FROM staff_recovery_codes")]
    assert len(stored) == 10 and all(value.startswith("$argon2id$") for value in stored)
    assert not any(code.replace("-", "") in value for code in codes for value in stored)


def test_an_invalid_code_is_a_field_error_next_to_the_field_and_in_the_summary(app):
    create_staff(app)
    client = app.test_client()
    password_only(client)
    html = post_code(client, "12ab").get_data(as_text=True)
    assert "There is a problem" in html and "Enter the 6 digits your authenticator app shows" in html
    assert 'value="12ab"' in html  # what was typed is kept
    assert "Enter the 6-digit code" in post_code(client, "").get_data(as_text=True)


# --- codes after the password -------------------------------------------------------------------------------
def test_every_sign_in_asks_for_the_code_and_a_reused_code_is_refused(app, clock):
    create_staff(app)
    first = app.test_client()
    assert password_only(first).headers["Location"] == "/staff/sign-in/code"
    code = factors.code_at(support.TOTP_SECRET, step_now(app))
    assert post_code(first, code).status_code == 303
    assert first.get("/staff").status_code == 200
    # The same code again, from another browser within its 30 seconds: refused.
    second = app.test_client()
    password_only(second)
    again = post_code(second, code)
    assert again.status_code == 200 and "used already" in again.get_data(as_text=True)
    assert second.get("/staff").status_code == 302
    # An older code (still within the phone-clock drift allowed) is refused too; the next one works.
    previous = factors.code_at(support.TOTP_SECRET, step_now(app) - 1)
    assert post_code(second, previous).status_code == 200
    clock.advance(30)
    assert post_code(second, factors.code_at(support.TOTP_SECRET, step_now(app))).status_code == 303
    assert last_step(app) == step_now(app)


def test_a_code_from_too_far_away_is_refused(app):
    create_staff(app)
    client = app.test_client()
    password_only(client)
    for step in (step_now(app) + 2, step_now(app) - 2):
        code = factors.code_at(support.TOTP_SECRET, step)
        if code != factors.code_at(support.TOTP_SECRET, step_now(app)):
            assert post_code(client, code).status_code == 200


def test_wrong_codes_count_in_the_sign_in_throttle(app):
    create_staff(app)
    client = app.test_client()
    password_only(client)
    right = factors.code_at(support.TOTP_SECRET, step_now(app))
    wrong = "123456" if right != "123456" else "654321"
    for _ in range(5):  # STAFF_SIGNIN_MAX_FAILURES
        assert post_code(client, wrong).status_code == 200
    locked = post_code(client, right)
    assert locked.status_code == 429 and "Too many attempts" in locked.get_data(as_text=True)
    # The right password does not clear the way for more guesses either.
    assert password_only(app.test_client()).status_code == 429


def test_wrong_codes_from_one_ipv6_home_count_together(app):
    """The code step is keyed like the password step: an IPv6 network by its /64."""
    create_staff(app)
    client = app.test_client()
    client.post("/staff/sign-in", data={"email": EMAIL, "password": PASSWORD},
                environ_base={"REMOTE_ADDR": "2001:db8:1:2::1"})
    right = factors.code_at(support.TOTP_SECRET, step_now(app))
    wrong = "123456" if right != "123456" else "654321"
    for number in range(5):
        post_code(client, wrong, environ_base={"REMOTE_ADDR": f"2001:db8:1:2::{number + 10}"})
    locked = client.post("/staff/sign-in/code", data={"code": right}, environ_base={"REMOTE_ADDR": "2001:db8:1:2::99"})
    assert locked.status_code == 429


def test_the_right_password_does_not_forgive_mistakes_until_the_code_is_given(app):
    create_staff(app)
    for _ in range(4):
        password_only(app.test_client(), password="wrong password here")
    client = app.test_client()
    assert password_only(client).status_code == 303
    right = factors.code_at(support.TOTP_SECRET, step_now(app))
    assert post_code(client, "123456" if right != "123456" else "654321").status_code == 200
    assert password_only(app.test_client()).status_code == 429  # 4 wrong passwords + 1 wrong code


def test_the_pending_sign_in_lasts_ten_minutes(app, clock):
    create_staff(app)
    client = app.test_client()
    password_only(client)
    clock.advance(601)
    response = post_code(client, factors.code_at(support.TOTP_SECRET, step_now(app)))
    assert response.status_code == 303 and response.headers["Location"] == "/staff/sign-in"
    assert client.get("/staff").status_code == 302


# --- recovery codes -------------------------------------------------------------------------------------------
def test_a_recovery_code_works_once_and_each_use_is_audited(app):
    create_staff(app, enrolled=False)
    codes = support.enrol(app, EMAIL)
    client = app.test_client()
    password_only(client)
    used = post_code(client, codes[3].lower().replace("-", " "), "/staff/sign-in/recovery")
    inbox = client.get("/staff")
    assert used.status_code == 303 and inbox.status_code == 200 and "9 of 10 are left" in inbox.get_data(as_text=True)
    assert [row["detail"] for row in audit_rows(app, "recovery_code_used")] == ["9 left"]
    assert audit_rows(app, "signed_in")[-1]["detail"] == "with a recovery code"
    other = app.test_client()
    password_only(other)
    again = post_code(other, codes[3], "/staff/sign-in/recovery")
    assert again.status_code == 200 and "used already" in again.get_data(as_text=True)
    assert post_code(other, codes[4], "/staff/sign-in/recovery").status_code == 303
    assert len(audit_rows(app, "recovery_code_used")) == 2


def test_new_recovery_codes_replace_the_old_ones(app):
    create_staff(app, enrolled=False)
    old = support.enrol(app, EMAIL)
    client = app.test_client()
    sign_in(client)
    page = client.post("/staff/account/recovery-codes")
    new = support.RECOVERY_CODE.findall(page.get_data(as_text=True))
    assert len(new) == 10 and not set(new) & set(old)
    assert audit_rows(app, "recovery_codes_renewed")
    other = app.test_client()
    password_only(other)
    assert post_code(other, old[0], "/staff/sign-in/recovery").status_code == 200
    assert post_code(other, new[0], "/staff/sign-in/recovery").status_code == 303


# --- asking again ---------------------------------------------------------------------------------------------
def test_export_and_erase_ask_for_the_second_factor_again_after_15_minutes(app, clock):
    create_staff(app)
    reference = add_request(app)
    client = app.test_client()
    sign_in(client)
    assert client.post("/staff/export.csv").status_code == 200
    clock.advance(15 * 60 + 1)
    asked = client.post("/staff/export.csv", data={"status": "new"})
    assert asked.status_code == 303 and asked.headers["Location"].startswith("/staff/confirm?next=/staff")
    assert len(audit_rows(app, "exported")) == 1
    page = client.get(asked.headers["Location"]).get_data(as_text=True)
    assert "Confirm it is you" in page and 'autocomplete="one-time-code"' in page
    confirmed = post_code(client, support.next_code(app, EMAIL), "/staff/confirm", next="/staff?status=new")
    assert confirmed.status_code == 303 and confirmed.headers["Location"] == "/staff?status=new"
    assert client.post("/staff/export.csv").status_code == 200
    clock.advance(15 * 60 + 1)
    erase = client.get(f"/staff/requests/{reference}/erase")
    assert erase.status_code == 302 and erase.headers["Location"].startswith("/staff/confirm?next=")
    assert client.post(f"/staff/requests/{reference}/erase").status_code == 303
    assert value(app, "SELECT COUNT(*) FROM requests") == 1  # not erased: asked first


def test_sign_out_my_other_sessions_ends_every_other_session_only(app):
    create_staff(app)
    here, there, elsewhere = app.test_client(), app.test_client(), app.test_client()
    for client in (here, there, elsewhere):
        assert sign_in(client).status_code == 303
    response = here.post("/staff/account/sign-out-others")
    assert response.status_code == 303
    assert "Signed out of 2 other sessions" in here.get("/staff/account").get_data(as_text=True)
    assert there.get("/staff").status_code == 302 and elsewhere.get("/staff").status_code == 302
    assert [row["detail"] for row in audit_rows(app, "other_sessions_ended")] == ["2 sessions"]


# --- the lost phone: reset-factors ------------------------------------------------------------------------------
def test_reset_factors_forgets_the_app_codes_and_passkeys_ends_sessions_and_is_audited(app):
    create_staff(app)
    client = app.test_client()
    sign_in(client)
    result = app.test_cli_runner().invoke(args=["staff", "reset-factors", EMAIL.upper()])
    assert result.exit_code == 0, result.output
    assert client.get("/staff").status_code == 302  # its sessions ended
    rows = audit_rows(app, "factors_reset")
    assert len(rows) == 1 and rows[0]["staff_email"] == "command line" and rows[0]["detail"] == EMAIL
    assert value(app, "SELECT COUNT(*) FROM staff_recovery_codes") == 0
    assert password_only(app.test_client()).headers["Location"] == "/staff/sign-in/enrol"
    missing = app.test_cli_runner().invoke(args=["staff", "reset-factors", "nobody@clinic.test"])
    assert missing.exit_code != 0 and "no staff account" in missing.output


# --- passkeys: the relying party comes from FLASK_BASE_URL --------------------------------------------------------
def test_passkey_options_name_the_base_url_host_never_the_request_host(app):
    create_staff(app)
    client = app.test_client()
    sign_in(client)
    token = client.get_cookie("staff").value
    elsewhere = app.test_client()
    elsewhere.set_cookie("staff", token, domain="evil.example")
    options = elsewhere.post("/staff/account/passkeys/options", base_url="http://evil.example").get_json()
    assert options["rp"]["id"] == "clinic.test"  # BASE_URL is http://clinic.test in tests
    assert options["user"]["name"] == EMAIL and options["challenge"]


# --- roles --------------------------------------------------------------------------------------------------------
def test_staff_create_makes_readers_unless_told_admin(app):
    runner = app.test_cli_runner()
    made = runner.invoke(args=["staff", "create", "a@clinic.test", "--password-stdin"], input=PASSWORD + "\n")
    assert made.exit_code == 0 and "(reader)" in made.output
    made = runner.invoke(args=["staff", "create", "b@clinic.test", "--password-stdin", "--role", "admin"],
                         input=PASSWORD + "\n")
    assert made.exit_code == 0 and "(admin)" in made.output
    refused = runner.invoke(args=["staff", "create", "c@clinic.test", "--password-stdin", "--role", "owner"],
                            input=PASSWORD + "\n")
    assert refused.exit_code != 0
    roles = {row["email"]: row["role"] for row in stored_rows(app, "SELECT email, role FROM staff")}
    assert roles == {"a@clinic.test": "reader", "b@clinic.test": "admin"}
    listed = runner.invoke(args=["staff", "list"]).output
    assert "a@clinic.test\tactive\treader\tnot enrolled yet" in listed
    assert runner.invoke(args=["staff", "role", "a@clinic.test", "admin"]).exit_code == 0
    assert value(app, "SELECT role FROM staff WHERE email = 'a@clinic.test'") == "admin"


ADMIN_ENDPOINTS = {"staff.export", "staff.erase", "staff.audit_page", "insights.export", "staff.fhir_export_page",
                   "staff.fhir_export"}


def test_every_admin_view_is_marked_and_only_those(app):
    marked = {endpoint for endpoint, view in app.view_functions.items() if getattr(view, "admin_only", False)}
    assert marked == ADMIN_ENDPOINTS


def walk_values(app, reference, passkey_id):
    """Arguments that reach each view: a real request, step, reference number, continue-later link, passkey."""
    journey = app.extensions["journey"]
    patient = app.test_client()
    walk_to_summary(patient, journey)
    serializer = SecureCookieSessionInterface().get_signing_serializer(app)
    journey_id = serializer.loads(patient.get_cookie("session").value)["journey_id"]
    token = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt=CONTINUE_SALT).dumps(journey_id)
    return {"reference": reference, "filename": "site.css", "number": next(iter(journey.references)),
            "step_id": journey.first_step, "token": token, "passkey_id": passkey_id, "position": 1,
            "questionnaire_id": fhir.QUESTIONNAIRE_ID}


QUERIES = {"pages.reference_note": "cite=cite-{step_id}-1"}  # a note opens from a marker on a step


def test_a_reader_walking_the_whole_url_map_gets_403_on_admin_routes_and_200_or_a_redirect_elsewhere(make_app, clock):
    app = make_app(CONTENT_DIR=str(content_dir()), WTF_CSRF_ENABLED=False, STAFF_ARGON2=FAST_ARGON2, STAFF_CLOCK=clock,
                   UPLOADS=True, REQUEST_MIN_SECONDS=0)
    create_staff(app, email=READER, role="reader")
    assert upload_request(app.test_client(), [("report.pdf", UPLOADED_PDF)]).status_code == 303  # a request with a file
    reference = value(app, "SELECT reference FROM requests")
    staff_id = value(app, "SELECT id FROM staff WHERE email = :email", email=READER)
    passkey_id = factors.add_passkey(db(app), staff_id, b"\x01", b"\x02", 0, "Old key", 1)
    values = walk_values(app, reference, passkey_id)
    seen, failures = [], []
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods & {"GET", "POST"}):
            client = app.test_client()
            assert sign_in(client, email=READER).status_code == 303
            url = rule.build({name: values[name] for name in rule.arguments}, append_unknown=False)[1]
            if rule.endpoint in QUERIES:
                url += "?" + QUERIES[rule.endpoint].format(**values)
            response = client.open(url, method=method)
            seen.append((method, rule.endpoint))
            if rule.endpoint in ADMIN_ENDPOINTS:
                if response.status_code != 403:
                    failures.append((method, url, response.status_code, "expected 403"))
            elif not (response.status_code == 200 or 300 <= response.status_code < 400):
                failures.append((method, url, response.status_code, "expected 200 or a redirect"))
    assert not failures, failures
    assert {endpoint for _, endpoint in seen} == {rule.endpoint for rule in app.url_map.iter_rules()}
    assert value(app, "SELECT COUNT(*) FROM requests") == 1  # the reader erased nothing
    assert not audit_rows(app, "exported")


def test_a_reader_sees_no_export_erase_or_audit_links(app):
    create_staff(app, email=READER, role="reader")
    reference = add_request(app)
    client = app.test_client()
    sign_in(client, email=READER)
    inbox = client.get("/staff").get_data(as_text=True)
    assert "/staff/export.csv" not in inbox and "/staff/audit" not in inbox
    detail = client.get(f"/staff/requests/{reference}").get_data(as_text=True)
    assert "/erase" not in detail and "ask an inbox administrator to erase it" in detail
    assert "/staff/insights/export.csv" not in client.get("/staff/insights").get_data(as_text=True)


def test_the_second_factor_pages_are_valid_html(app, tmp_path):
    create_staff(app, enrolled=False)
    client = app.test_client()
    pages = {}
    password_only(client)
    pages["enrol"] = client.get("/staff/sign-in/enrol").get_data(as_text=True)
    pages["enrol-error"] = post_code(client, "12", "/staff/sign-in/enrol").get_data(as_text=True)
    secret = support.SETUP_KEY.search(pages["enrol"]).group(1).replace(" ", "")
    pages["recovery-codes"] = post_code(client, factors.code_at(secret, step_now(app)),
                                        "/staff/sign-in/enrol").get_data(as_text=True)
    pages["account"] = client.get("/staff/account").get_data(as_text=True)
    pages["confirm"] = client.get("/staff/confirm?next=/staff").get_data(as_text=True)
    pages["confirm-recovery-error"] = post_code(client, "x", "/staff/confirm/recovery").get_data(as_text=True)
    other = app.test_client()
    password_only(other)
    pages["code"] = other.get("/staff/sign-in/code").get_data(as_text=True)
    pages["recovery"] = other.get("/staff/sign-in/recovery").get_data(as_text=True)
    assert html_problems(pages, tmp_path) == []
