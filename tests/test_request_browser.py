"""The request form in real Chromium on a phone, JavaScript on and off: a mistake, the error summary, a fix, a reference."""
import re
import sqlite3

import pytest

from tests.conftest import assert_no_axe_violations, content_dir, database_locked

pytestmark = pytest.mark.browser


@pytest.fixture
def app(make_app):
    # A script fills the form faster than a person: no minimum time here (tests/test_requests.py covers it).
    return make_app(CONTENT_DIR=str(content_dir()), REQUEST_MIN_SECONDS=0, REQUEST_RATE_LIMIT="1000 per minute")


def stored(app, sql):
    conn = sqlite3.connect(app.config["DATABASE"])
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


@pytest.mark.parametrize("js", [True, False], ids=["js-on", "js-off"])
def test_a_patient_makes_a_mistake_sees_the_summary_fixes_it_and_gets_a_reference(app, live_server, phone, js):
    # axe-core has to be injected, which needs JavaScript and a context that ignores the CSP.
    page = phone(js=js, bypass_csp=js).new_page()
    page.goto(live_server.url + "/request")
    assert page.title().startswith("Ask for a second opinion")
    if js:
        assert_no_axe_violations(page)

    page.fill("#name", "Alex Example")
    page.fill("#email", "alex@")
    page.check("#contact_by-1")  # by phone, but no number given
    page.fill("#description", "Pain in my left leg since the operation.")
    assert not page.is_checked("#consent")
    page.click("button[type=submit]")

    page.wait_for_selector(".error-summary")
    assert page.title().startswith("Error: ")
    summary = page.locator(".error-summary").inner_text()
    for message in ("Enter an email address in the correct format", "Enter a phone number, or choose",
                    "Choose yes or no: may we leave a voicemail", "Tick the box to agree"):
        assert message in summary
    assert page.input_value("#name") == "Alex Example" and page.input_value("#email") == "alex@"
    assert page.input_value("#description") == "Pain in my left leg since the operation."
    assert page.is_checked("#contact_by-1")
    if js:
        assert page.evaluate("document.activeElement.classList.contains('error-summary')")
        assert_no_axe_violations(page)
    # The summary's links lead to the fields: with JavaScript, focus on the field with its label in view (GOV.UK's way).
    page.click(".error-summary a[href='#email']")
    if js:
        assert page.evaluate("document.activeElement.id") == "email"
    else:
        assert page.url.endswith("#email")

    page.fill("#email", "alex@example.com")
    page.fill("#phone", "01632 960 001")
    page.check("#voicemail-1")
    page.check("#consent")
    page.click("button[type=submit]")

    page.wait_for_url(re.compile(r"/request/sent$"))
    assert page.title().startswith("Request sent")
    reference = page.locator(".reference").inner_text()
    assert re.fullmatch(r"FBS-[2-9A-Z]{4}", reference)
    assert "usually within 2 working days" in page.content()
    if js:
        assert_no_axe_violations(page)
    assert stored(app, "SELECT reference, phone, status FROM requests") == [(reference, "01632960001", "new")]


@pytest.mark.parametrize("js", [True, False], ids=["js-on", "js-off"])
def test_when_the_database_is_locked_the_patient_sees_not_sent_yet_with_everything_typed(app, live_server, phone, js):
    app.config["DATABASE_BUSY_TIMEOUT_MS"] = 50
    page = phone(js=js, bypass_csp=js).new_page()
    page.goto(live_server.url + "/request")
    page.fill("#name", "Robin Example")
    page.fill("#email", "robin@example.com")
    page.check("#contact_by-0")
    page.fill("#description", "Still in pain.")
    page.check("#consent")
    with database_locked(app.config["DATABASE"], exclusive=True):
        page.click("button[type=submit]")
        page.wait_for_selector("text=Your request has not been sent yet")
    assert app.extensions["journey"].clinic_phone in page.content()
    assert page.input_value("#name") == "Robin Example" and page.input_value("#description") == "Still in pain."
    assert page.is_checked("#consent")
    if js:
        assert_no_axe_violations(page)
    assert stored(app, "SELECT id FROM requests") == []

    page.click("button[type=submit]")  # the database is free again: sending again works
    page.wait_for_url(re.compile(r"/request/sent$"))
    assert len(stored(app, "SELECT id FROM requests")) == 1


def test_privacy_and_too_many_pages_have_no_accessibility_violations(make_app, phone):
    from tests.conftest import LiveServer

    app = make_app(CONTENT_DIR=str(content_dir()), REQUEST_RATE_LIMIT="1 per minute")
    with LiveServer(app) as server:
        page = phone(bypass_csp=True).new_page()
        page.goto(server.url + "/privacy")
        assert_no_axe_violations(page)
        for _ in range(2):
            page.goto(server.url + "/request")
            page.click("button[type=submit]")
        assert "Please wait a moment" in page.title()
        assert app.extensions["journey"].clinic_phone in page.content()
        assert_no_axe_violations(page)


def box(locator):
    found = locator.bounding_box()
    assert found, "not rendered"
    return found


def assert_crisis_links_tall_enough(page):
    """tel:911, tel:988 and sms:988, each visible and at least 44x44 px (measured in Chromium); their boxes."""
    boxes = {}
    for href in ("tel:911", "tel:988", "sms:988"):
        link = page.locator(f".crisis-line a[href='{href}']")
        assert link.count() == 1 and link.is_visible(), href
        boxes[href] = box(link)
        assert boxes[href]["height"] >= 44 and boxes[href]["width"] >= 44, (href, boxes[href])
    return boxes


@pytest.mark.parametrize("js", [True, False], ids=["js-on", "js-off"])
def test_the_911_and_988_links_sit_just_above_the_description_box_each_44px_tall(app, live_server, phone, js):
    page = phone(js=js, bypass_csp=js).new_page()
    assert page.viewport_size == {"width": 390, "height": 844}
    page.goto(live_server.url + "/request")
    line = page.locator(".crisis-line")
    assert " ".join(line.inner_text().split()) == (
        "Warning signs now? Call 911. Thinking about harming yourself? Call or text 988.")
    boxes = assert_crisis_links_tall_enough(page)
    description = box(page.locator("#description"))
    label = box(page.locator("label[for='description']"))
    assert all(b["y"] + b["height"] <= label["y"] <= description["y"] for b in boxes.values())
    # Just above it: nothing of the form between the line and the description's own label and hint.
    between = page.evaluate("""() => {
        const line = document.querySelector('.crisis-line');
        const field = document.querySelector('#description');
        return [...document.querySelectorAll('.request-form input:not([type=hidden]), .request-form textarea,'
                                          + ' .request-form select, .request-form fieldset')]
            .filter(e => (line.compareDocumentPosition(e) & Node.DOCUMENT_POSITION_FOLLOWING)
                         && (e.compareDocumentPosition(field) & Node.DOCUMENT_POSITION_FOLLOWING)).length;
    }""")
    assert between == 0
    assert page.locator(".crisis-line a[href='tel:988']").get_attribute("aria-label") == "Call 988"
    if js:
        assert_no_axe_violations(page)


@pytest.mark.parametrize("js", [True, False], ids=["js-on", "js-off"])
def test_a_flagged_request_is_asked_to_call_today_and_is_not_promised_2_working_days(app, live_server, phone, js):
    page = phone(js=js, bypass_csp=js).new_page()
    page.goto(live_server.url + "/request")
    page.fill("#name", "Alex Example")
    page.fill("#email", "alex@example.com")
    page.check("#contact_by-0")
    page.fill("#description", "my legs are getting weaker and i cant pee")
    page.check("#consent")
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/request/sent$"))
    text = page.locator("main").inner_text()
    assert "Please call us today" in text and app.extensions["journey"].clinic_phone in text
    assert "working day" not in text
    assert_crisis_links_tall_enough(page)
    if js:
        assert_no_axe_violations(page)
