"""Call-back details in real Chromium at 390x844, JavaScript on and off: the voicemail question only with phone
contact, and what the patient chose shown to staff and in their CSV download (issue 23 A)."""
import csv
import io
import re

import pytest

from tests.conftest import LiveServer, assert_no_axe_violations, content_dir
from tests.helpers import sign_in
from tests.support.staff import FAST_ARGON2, create_staff

pytestmark = pytest.mark.browser


@pytest.fixture
def server(make_app):
    app = make_app(CONTENT_DIR=str(content_dir()), REQUEST_MIN_SECONDS=0, REQUEST_RATE_LIMIT="1000 per minute",
                   STAFF_ARGON2=FAST_ARGON2, CLINIC_TIMEZONE="America/Chicago")
    create_staff(app)
    with LiveServer(app) as live:
        yield live


@pytest.mark.parametrize("js", [True, False], ids=["js-on", "js-off"])
def test_call_back_times_no_voicemail_and_spanish_reach_staff_and_the_csv(server, phone, js):
    page = phone(js=js, bypass_csp=js).new_page()
    page.goto(server.url + "/request")
    voicemail = page.locator("#voicemail")
    if js:
        # Asked only with phone contact: hidden until "By phone" is chosen, hidden again for email.
        assert not voicemail.is_visible()
        page.check("#contact_by-1")
        assert voicemail.is_visible()
        page.check("#contact_by-0")
        assert not voicemail.is_visible()
        page.check("#contact_by-1")
    else:
        # No script to reveal it: always there, and its words say it is for phone contact.
        assert voicemail.is_visible()
        assert "Only if you choose to be contacted by phone" in voicemail.inner_text()
        page.check("#contact_by-1")
    page.fill("#name", "Rosa Example")
    page.fill("#email", "rosa@example.com")
    page.fill("#phone", "(555) 010-0199")
    page.check("#call_times-0")
    page.check("#call_times-3")
    page.check("#language-1")
    page.fill("#description", "My leg pain came back after the fusion.")
    page.check("#consent")
    page.click("button[type=submit]")  # voicemail not answered yet: refused, everything kept
    page.wait_for_selector(".error-summary")
    assert "Choose yes or no: may we leave a voicemail" in page.locator(".error-summary").inner_text()
    assert voicemail.is_visible()
    assert page.is_checked("#call_times-0") and page.is_checked("#call_times-3") and page.is_checked("#language-1")
    assert page.input_value("#phone") == "(555) 010-0199"
    if js:
        assert_no_axe_violations(page)
    page.check("#voicemail-1")
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/request/sent$"))
    reference = page.locator(".reference").inner_text()

    staff = phone(js=js, bypass_csp=js).new_page()
    sign_in(staff, server)
    staff.wait_for_url(re.compile(r"/staff$"))
    staff.goto(f"{server.url}/staff/requests/{reference}")
    details = staff.locator(".patient-text").inner_text()
    assert "Weekday mornings (8 AM to noon Central Time); Weekends (9 AM to 5 PM Central Time)" in details
    assert "No: do not leave a voicemail" in details
    assert "Spanish" in details
    if js:
        assert_no_axe_violations(staff)

    staff.goto(f"{server.url}/staff")
    with staff.expect_download() as download:
        staff.get_by_role("button", name="Download all requests as CSV").click()
    text = open(download.value.path(), encoding="utf-8-sig").read()
    [row] = list(csv.DictReader(io.StringIO(text)))
    assert row["reference"] == reference
    assert row["call_times"] == "Weekday mornings (8 AM to noon Central Time); Weekends (9 AM to 5 PM Central Time)"
    assert (row["voicemail"], row["language"]) == ("no", "Spanish")
