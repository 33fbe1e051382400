"""The second factor in Chromium at phone size (issue 22 A): enrolment before the inbox, a code used twice, a
recovery code used twice, a passkey made and used with Chromium's virtual authenticator, export asked again."""
import re

import pytest

from clinic import factors
from tests.conftest import LiveServer, assert_no_axe_violations, content_dir
from tests.support import factors as support
from tests.support.staff import EMAIL, FAST_ARGON2, PASSWORD, Clock, add_request, audit_rows, create_staff


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def server(make_app, clock):
    """On http://localhost:PORT: WebAuthn refuses an IP address as relying party id; FLASK_BASE_URL names it."""
    app = make_app(CONTENT_DIR=str(content_dir()), STAFF_ARGON2=FAST_ARGON2, STAFF_CLOCK=clock, OUTBOX_AUTOSEND=False)
    with LiveServer(app, host="localhost") as live:
        app.config["BASE_URL"] = live.url
        yield live


def password_step(page, server, email=EMAIL, password=PASSWORD):
    page.goto(f"{server.url}/staff")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(password)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()


def type_code(page, label, code, button="Sign in"):
    page.get_by_label(label).fill(code)
    with page.expect_navigation():
        page.get_by_role("button", name=button).click()


def now_code(server, secret=support.TOTP_SECRET):
    return factors.code_at(secret, factors.time_step(server.app.config["STAFF_CLOCK"]()))


@pytest.mark.parametrize("js", [True, False])
def test_a_new_account_must_enrol_before_it_sees_the_inbox(phone, server, js):
    made = server.app.test_cli_runner().invoke(args=["staff", "create", EMAIL, "--password-stdin"],
                                               input=PASSWORD + "\n")
    assert made.exit_code == 0
    page = phone(js=js).new_page()
    password_step(page, server)
    assert page.url.endswith("/staff/sign-in/enrol")
    assert page.get_by_role("heading", name="Set up your authenticator app").is_visible()
    assert page.locator("svg.qr-code[role=img]").is_visible()
    page.goto(f"{server.url}/staff")  # no way round it
    assert "/staff/sign-in" in page.url and "/enrol" not in page.url
    page.goto(f"{server.url}/staff/sign-in/enrol")
    key = page.locator("#setup-key").inner_text().replace(" ", "")
    field = page.get_by_label("Code from your authenticator app")
    assert field.get_attribute("autocomplete") == "one-time-code" and field.get_attribute("inputmode") == "numeric"
    type_code(page, "Code from your authenticator app", now_code(server, key), button="Confirm and continue")
    codes = page.locator("#recovery-codes code").all_inner_texts()
    assert len(codes) == 10 and all(re.fullmatch(r"([A-Z2-7]{4}-){3}[A-Z2-7]{4}", code) for code in codes)
    page.get_by_role("link", name="I have saved my codes, continue").click()
    page.wait_for_url(re.compile(r"/staff$"))
    assert page.get_by_role("heading", name=re.compile("Requests")).is_visible()


def test_a_reused_code_is_refused(phone, server):
    create_staff(server.app)
    code = now_code(server)
    first = phone().new_page()
    password_step(first, server)
    type_code(first, "Code from your authenticator app", code)
    first.wait_for_url(re.compile(r"/staff$"))
    second = phone().new_page()
    password_step(second, server)
    type_code(second, "Code from your authenticator app", code)
    assert second.url.endswith("/staff/sign-in/code")
    assert second.locator(".error-summary").get_by_text("used already").is_visible()
    second.goto(f"{server.url}/staff")
    assert "/staff/sign-in" in second.url


def test_a_recovery_code_works_once(phone, server):
    create_staff(server.app, enrolled=False)
    codes = support.enrol(server.app, EMAIL)
    first = phone().new_page()
    password_step(first, server)
    first.get_by_role("link", name="Use a recovery code instead").click()
    type_code(first, "Recovery code", codes[0])
    first.wait_for_url(re.compile(r"/staff$"))
    assert first.get_by_text("9 of 10 are left").is_visible()
    second = phone(js=False).new_page()
    password_step(second, server)
    second.get_by_role("link", name="Use a recovery code instead").click()
    type_code(second, "Recovery code", codes[0])
    assert second.locator(".error-summary").get_by_text("used already").is_visible()
    assert [row["detail"] for row in audit_rows(server.app, "recovery_code_used")] == ["9 left"]


def test_a_passkey_registered_with_the_virtual_authenticator_signs_in(phone, server):
    create_staff(server.app)
    context = phone()
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable", {"enableUI": False})
    cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": True, "hasUserVerification": True,
        "isUserVerified": True, "automaticPresenceSimulation": True}})
    support.browser_sign_in(page, server, EMAIL, PASSWORD)
    page.wait_for_url(re.compile(r"/staff$"))
    page.get_by_role("link", name="Sign-in methods").click()
    page.get_by_label("Name for this passkey").fill("Work phone")
    with page.expect_navigation():
        page.get_by_role("button", name="Add a passkey").click()
    assert page.get_by_text('Passkey "Work phone" added').is_visible()
    assert [row["detail"] for row in audit_rows(server.app, "passkey_added")] == ["Work phone"]
    page.get_by_role("button", name="Sign out", exact=True).click()
    page.get_by_text("You have signed out.").wait_for()
    password_step(page, server)
    assert page.url.endswith("/staff/sign-in/code")
    with page.expect_navigation(url=re.compile(r"/staff$")):
        page.get_by_role("button", name="Use a passkey instead").click()
    assert audit_rows(server.app, "signed_in")[-1]["detail"] == "with a passkey"
    # Without JavaScript the passkey button stays hidden: the code always works.
    other = phone(js=False).new_page()
    password_step(other, server)
    assert other.get_by_role("button", name="Use a passkey instead").count() == 0


def test_export_asks_for_the_second_factor_again_after_15_minutes(phone, server, clock):
    create_staff(server.app)
    add_request(server.app)
    page = phone().new_page()
    support.browser_sign_in(page, server, EMAIL, PASSWORD)
    page.wait_for_url(re.compile(r"/staff$"))
    with page.expect_download() as download:
        page.get_by_role("button", name="Download all requests as CSV").click()
    assert download.value.suggested_filename.endswith(".csv")
    clock.advance(15 * 60 + 1)
    with page.expect_navigation():
        page.get_by_role("button", name="Download all requests as CSV").click()
    assert "/staff/confirm" in page.url
    assert page.get_by_role("heading", name="Confirm it is you").is_visible()
    assert len(audit_rows(server.app, "exported")) == 1
    type_code(page, "Code from your authenticator app", support.next_code(server.app, EMAIL), button="Confirm")
    page.wait_for_url(re.compile(r"/staff$"))
    with page.expect_download() as download:
        page.get_by_role("button", name="Download all requests as CSV").click()
    assert download.value.suggested_filename.endswith(".csv")
    assert len(audit_rows(server.app, "exported")) == 2


def test_the_second_factor_pages_pass_axe_at_phone_size(phone, server):
    server.app.test_cli_runner().invoke(args=["staff", "create", EMAIL, "--password-stdin"], input=PASSWORD + "\n")
    page = phone(bypass_csp=True).new_page()  # axe is injected: for accessibility checks only
    password_step(page, server)
    assert_no_axe_violations(page)  # the enrolment page with its QR code
    key = page.locator("#setup-key").inner_text().replace(" ", "")
    page.get_by_label("Code from your authenticator app").fill("12")
    with page.expect_navigation():
        page.get_by_role("button", name="Confirm and continue").click()
    assert_no_axe_violations(page)  # with its error
    type_code(page, "Code from your authenticator app", now_code(server, key), button="Confirm and continue")
    assert_no_axe_violations(page)  # the recovery codes
    page.goto(f"{server.url}/staff/account")
    assert_no_axe_violations(page)
    page.goto(f"{server.url}/staff/confirm?next=/staff")
    assert_no_axe_violations(page)
    page.goto(f"{server.url}/staff/confirm/recovery?next=/staff")
    assert_no_axe_violations(page)
