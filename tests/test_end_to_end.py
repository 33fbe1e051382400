"""End to end in Chromium on a phone: a patient walks the real journey and sends a request; staff find it and act on it."""
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.conftest import ROOT, LiveServer
from tests.helpers import sign_in
from tests.support.staff import FAST_ARGON2, create_staff, db
from tests.support.storage import scalar

pytestmark = pytest.mark.browser
REAL_CONTENT = ROOT / "content"
# The patient's answers: no red flags, a fusion; anything else takes the first option offered.
PREFERRED = {"surgery": "fusion"}


@pytest.fixture
def site(make_app, tmp_path):
    app = make_app(CONTENT_DIR=str(REAL_CONTENT), STAFF_ARGON2=FAST_ARGON2, REQUEST_MIN_SECONDS=0,
                   OUTBOX_AUTOSEND=False, MAIL_DIR=str(tmp_path / "mail"))
    create_staff(app)
    with LiveServer(app) as server:
        app.config["BASE_URL"] = server.url
        yield server


def answer_step(page):
    """Tick this step's answers ("None of these" for every warning sign, fusion for the operation) and continue."""
    for question in page.locator("form.step-form fieldset").all():
        inputs = question.locator("input").all()
        name = inputs[0].get_attribute("name")
        values = [i.get_attribute("value") for i in inputs]
        wanted = PREFERRED.get(name) or next((v for v in ("none", "no") if v in values), values[0])
        question.locator(f'input[value="{wanted}"]').check()
    page.locator("form.step-form button[type=submit]").click()


def walk_journey_to_summary(page, url):
    page.goto(url)
    for _ in range(30):
        if page.get_by_role("heading", level=1, name="Your summary").count():
            return
        heading = page.get_by_role("heading", level=1).first.inner_text()
        answer_step(page)
        expect(page.get_by_role("heading", level=1).first).not_to_have_text(heading)  # the next step (htmx swap or new page)
    pytest.fail("the journey did not reach the summary in 30 steps")


def send_request_with_one_mistake(page):
    page.get_by_role("link", name="Ask for a second opinion").click()
    page.get_by_label("Full name").fill("Alex Example")
    page.get_by_label("Email address").fill("alex@example")  # a mistake: no domain ending
    page.get_by_label("By email").check()
    page.get_by_label("Your back problem, in your own words").fill("My leg pain came back a year after my fusion.")
    page.get_by_label("I agree that the clinic may contact me about my request").check()
    page.get_by_role("button", name="Send my request").click()

    summary = page.locator(".error-summary")
    summary.wait_for()
    assert "Enter an email address in the correct format" in summary.inner_text()
    assert page.title().startswith("Error:")
    assert page.get_by_label("Full name").input_value() == "Alex Example"  # what was typed is kept
    page.get_by_label("Email address").fill("alex@example.com")
    if not page.get_by_label("I agree that the clinic may contact me about my request").is_checked():
        page.get_by_label("I agree that the clinic may contact me about my request").check()
    page.get_by_role("button", name="Send my request").click()
    page.wait_for_url(re.compile(r"/request/sent"))
    reference = re.search(r"FBS-[2-9A-Z]{4}", page.locator("main").inner_text())
    assert reference, "no reference on the confirmation page"
    return reference.group(0)


def staff_link_from_the_notification(app, reference):
    result = app.test_cli_runner().invoke(args=["outbox", "send"])
    assert result.exit_code == 0, result.output
    mail = "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in Path(app.config["MAIL_DIR"]).rglob("*.eml"))
    link = f"{app.config['BASE_URL']}/staff/requests/{reference}"
    assert link in mail and "Alex Example" not in mail
    return link


@pytest.mark.parametrize("js", [True, False], ids=["javascript", "no-javascript"])
def test_patient_request_reaches_staff_who_mark_it_contacted(phone, site, js):
    patient = phone(js=js).new_page()
    walk_journey_to_summary(patient, site.url + "/")
    reference = send_request_with_one_mistake(patient)

    link = staff_link_from_the_notification(site.app, reference)
    staff = phone(js=js).new_page()
    sign_in(staff, site)
    staff.wait_for_url(re.compile(r"/staff$"))
    assert staff.get_by_role("link", name=re.compile(reference)).is_visible()  # found in the list of new requests
    staff.get_by_role("link", name=re.compile(reference)).click()
    staff.wait_for_url(link)

    answers = staff.locator("dl.journey-answers").inner_text()
    assert "Spinal fusion" in answers
    assert "My leg pain came back a year after my fusion." in staff.locator("main").inner_text()
    staff.get_by_label("Contacted").check()
    staff.get_by_role("button", name="Save status").click()
    staff.get_by_text("Status saved: Contacted").wait_for()
    conn = db(site.app)
    assert scalar(conn, "SELECT status FROM requests WHERE reference = :reference", reference=reference) == "contacted"
    conn.close()
