"""Staff inbox in real Chromium on a phone viewport: with and without JavaScript, and axe-core on every staff page."""
import re

import pytest

from tests.conftest import LiveServer, content_dir, pages_site
from tests.helpers import assert_accessible, sign_in
from tests.support.staff import FAST_ARGON2, add_request, create_staff, db
from tests.support.storage import run, scalar

pytestmark = pytest.mark.browser


@pytest.fixture
def staff_server(make_app):
    app = make_app(CONTENT_DIR=str(content_dir()), STAFF_ARGON2=FAST_ARGON2)  # CSRF on: the browser carries tokens
    create_staff(app)
    with LiveServer(app) as server:
        yield server


def test_staff_pages_have_no_axe_violations_and_large_touch_targets(phone, staff_server):
    reference = add_request(staff_server.app, name="Alex Example")
    add_request(staff_server.app, status="spam", spam_reason="honeypot")
    page = phone(bypass_csp=True).new_page()
    page.goto(f"{staff_server.url}/staff/sign-in")
    assert_accessible(page)
    sign_in(page, staff_server, password="not the password at all")
    page.get_by_text("Email or password is not right").first.wait_for()
    assert_accessible(page)
    sign_in(page, staff_server)
    page.wait_for_url(re.compile(r"/staff$"))
    assert_accessible(page)
    page.goto(f"{staff_server.url}/staff?status=spam")
    assert_accessible(page)
    page.goto(f"{staff_server.url}/staff/requests/{reference}")
    assert_accessible(page)
    page.get_by_role("button", name="Add note").click()  # empty: the error summary and field error
    page.get_by_text("There is a problem").wait_for()
    assert_accessible(page)
    page.goto(f"{staff_server.url}/staff/requests/{reference}/erase")
    assert_accessible(page)
    page.goto(f"{staff_server.url}/staff/audit")
    assert_accessible(page)


def test_staff_work_through_a_request_with_javascript(phone, staff_server):
    reference = add_request(staff_server.app, name="Alex Example")
    add_request(staff_server.app, status="closed", name="Closed Patient")
    page = phone().new_page()
    sign_in(page, staff_server)
    page.wait_for_url(re.compile(r"/staff$"))
    page.evaluate("window.stillTheSamePage = true")

    page.get_by_role("link", name=re.compile("^Closed")).click()  # htmx swaps the list in place
    page.wait_for_url(re.compile(r"status=closed"))
    page.get_by_text("Closed Patient").wait_for()
    assert page.evaluate("window.stillTheSamePage === true")
    assert page.title().startswith("Requests: Closed")

    page.goto(f"{staff_server.url}/staff")
    page.get_by_role("link", name=re.compile(reference)).click()
    page.wait_for_url(re.compile(f"/staff/requests/{reference}$"))
    assert page.get_by_text("Spinal fusion").is_visible()
    page.evaluate("window.stillTheSamePage = true")
    page.get_by_label("Contacted").check()
    page.get_by_role("button", name="Save status").click()
    page.get_by_text("Status saved: Contacted").wait_for()
    page.get_by_label("Add an internal note").fill("Left a voicemail")
    page.get_by_role("button", name="Add note").click()
    page.get_by_text("Note added.").wait_for()
    assert page.get_by_text("Left a voicemail").is_visible()
    assert page.evaluate("window.stillTheSamePage === true")
    conn = db(staff_server.app)
    assert scalar(conn, "SELECT status FROM requests WHERE reference = :reference", reference=reference) == "contacted"
    conn.close()

    page.get_by_role("button", name="Sign out").click()
    page.get_by_text("You have signed out.").wait_for()
    page.goto(f"{staff_server.url}/staff/requests/{reference}")
    assert "/staff/sign-in" in page.url


def test_staff_work_through_a_request_without_javascript(phone, staff_server):
    reference = add_request(staff_server.app, name="Alex Example")
    page = phone(js=False).new_page()
    sign_in(page, staff_server, start=f"/staff/requests/{reference}")
    page.wait_for_url(re.compile(f"/staff/requests/{reference}$"))  # back where they were going

    page.get_by_label("Closed").check()
    page.get_by_role("button", name="Save status").click()
    page.get_by_text("Status saved: Closed").wait_for()
    page.get_by_role("button", name="Add note").click()
    page.get_by_text("There is a problem").wait_for()
    page.get_by_label("Add an internal note").fill("Patient asked to wait")
    page.get_by_role("button", name="Add note").click()
    page.get_by_text("Note added.").wait_for()

    page.get_by_role("link", name=f"Erase request {reference}").click()
    page.get_by_role("button", name=f"Yes, erase request {reference}").click()
    page.get_by_text(f"Request {reference} was erased.").wait_for()
    page.goto(f"{staff_server.url}/staff/audit")
    for label in ("Signed in", "Viewed", "Changed status", "Added a note", "Erased"):
        assert page.get_by_role("cell", name=re.compile(f"^{label}")).count() >= 1


def test_an_htmx_click_after_the_session_ended_takes_the_whole_page_to_sign_in(phone, staff_server):
    page = phone().new_page()
    sign_in(page, staff_server)
    page.wait_for_url(re.compile(r"/staff$"))
    conn = db(staff_server.app)
    run(conn, "DELETE FROM staff_sessions")  # as after 30 idle minutes, or a sign-out in another tab
    conn.close()
    page.get_by_role("link", name=re.compile("^Closed")).click()
    page.wait_for_url(re.compile(r"/staff/sign-in\?next=/staff\?status%3Dclosed|/staff/sign-in\?next=%2Fstaff%3Fstatus%3Dclosed"))
    assert page.get_by_role("heading", level=1).inner_text() == "Staff sign-in"
    assert page.locator(".staff-nav").count() == 0  # a whole sign-in page, not a sign-in form inside the inbox


def test_a_page_on_another_site_cannot_make_a_signed_in_nurse_view_or_export_requests(phone, staff_server):
    """Issue 11 L3: navigations from another site write no "viewed" or "exported" row and download nothing."""
    from tests.support.staff import audit_rows

    reference = add_request(staff_server.app, name="Alex Example")
    view = f"{staff_server.url}/staff/requests/{reference}"
    export = f"{staff_server.url}/staff/export.csv"
    pages = {
        "/view": f"<!doctype html><title>Prize</title><script>location.href = {view!r};</script>",
        "/export": f"<!doctype html><title>Prize</title><script>location.href = {export!r};</script>",
        "/export-form": (f'<!doctype html><title>Prize</title><form method="post" action="{export}"></form>'
                         "<script>document.forms[0].submit();</script>"),
    }
    page = phone(bypass_csp=True).new_page()  # for axe-core on the refusal page only; CSP plays no part here
    downloads = []
    page.on("download", lambda download: downloads.append(download.suggested_filename))
    sign_in(page, staff_server)
    page.wait_for_url(re.compile(r"/staff$"))
    # Another site: http://localhost:PORT, while the clinic is http://127.0.0.1:PORT. Each page's script sends the
    # visitor's browser to a staff URL, as a link in an email or an advert could.
    with LiveServer(pages_site(pages), host="localhost") as elsewhere:
        for path, target, expected in (("/view", view, 403), ("/export", export, 405), ("/export-form", export, 403)):
            with page.expect_response(lambda r, target=target: r.url == target) as answer:
                page.goto(elsewhere.url + path)
            assert answer.value.request.all_headers().get("sec-fetch-site") == "cross-site"
            assert answer.value.status == expected, (path, answer.value.status)
            page.wait_for_load_state()
            if path == "/view":
                # The refusal says what happened and leads back in: one click on our own page opens the request.
                assert "another site" in page.locator("main").inner_text()
                assert_accessible(page)
                page.get_by_role("link", name=f"Open request {reference}").click()
                page.wait_for_url(view)
                page.get_by_text("Alex Example").first.wait_for()
                assert len(audit_rows(staff_server.app, "viewed")) == 1  # this view, by the nurse's own click
    page.wait_for_timeout(500)  # a download would have started by now
    assert downloads == []
    assert audit_rows(staff_server.app, "exported") == []
    assert len(audit_rows(staff_server.app, "viewed")) == 1
