"""Staff pages with flagged requests in real Chromium at 390 px: axe-clean with JavaScript on and off."""
import re

import pytest

from clinic.triage import Flag, Mention, WarningSign
from tests.conftest import LiveServer, content_dir
from tests.helpers import assert_accessible, sign_in
from tests.support.staff import FAST_ARGON2, add_request, create_staff

pytestmark = pytest.mark.browser
SCRIPT = re.compile(rb"<script\b.*?</script>", re.S | re.I)


@pytest.fixture
def staff_server(make_app):
    app = make_app(CONTENT_DIR=str(content_dir()), STAFF_ARGON2=FAST_ARGON2)
    create_staff(app)
    with LiveServer(app) as server:
        yield server


def without_scripts(route):
    """Serve the page as it is, minus its scripts: what a browser with JavaScript off shows (no <noscript> here).

    axe-core needs JavaScript to run, so the context keeps it on and only the site's own scripts are removed."""
    response = route.fetch(max_redirects=0)  # the browser follows redirects itself, so its URL stays right
    route.fulfill(response=response, body=SCRIPT.sub(b"", response.body()))


@pytest.mark.parametrize("js", [True, False], ids=["javascript", "no-javascript"])
def test_staff_pages_with_flagged_requests_are_axe_clean_at_390px(phone, staff_server, js):
    app = staff_server.app
    flagged = add_request(app, name="Flagged Patient", flag=Flag(
        signs=(WarningSign("New loss of bladder or bowel control", "urgent"),), words=("numb", "bladder")))
    ordinary = add_request(app, name="Ordinary Patient")
    at_risk = add_request(app, name="At Risk Patient", created_at=1_700_000_000, flag=Flag(words=(
        Mention("self_harm", "self-harm", "thinking of killing myself"),
        Mention("bladder_bowel", "bladder and bowel", "cant pee"))))
    add_request(app, status="spam", spam_reason="too_fast", name="Trapped Patient", flag=Flag(words=("fever",)))
    page = phone(bypass_csp=True).new_page()
    if not js:
        page.route(re.compile(r".*/staff.*"), lambda route: without_scripts(route)
                   if route.request.resource_type == "document" else route.continue_())

    page.goto(f"{staff_server.url}/staff/sign-in")
    assert page.evaluate("document.scripts.length") == (2 if js else 0)
    assert page.locator(".site-header").inner_text().startswith("Clinic inbox")
    assert_accessible(page)
    sign_in(page, staff_server)
    page.wait_for_url(re.compile(r"/staff$"))
    items = page.locator(".staff-requests li")
    assert items.first.locator(".flag-marker").is_visible() and flagged in items.first.inner_text()
    assert page.get_by_role("link", name=re.compile("^New")).inner_text().endswith("(3, 2 flagged)")
    assert_accessible(page)
    page.goto(f"{staff_server.url}/staff?status=spam")
    assert_accessible(page)
    page.goto(f"{staff_server.url}/staff/requests/{flagged}")
    banner = page.get_by_role("region", name=re.compile("Contact this person today"))
    assert banner.is_visible() and "The description mentions: numb, bladder" in banner.inner_text()
    assert_accessible(page)
    page.goto(f"{staff_server.url}/staff/requests/{at_risk}")
    own = app.extensions["triage"].banner_for(("self_harm",))
    banner = page.get_by_role("region", name=re.compile("they may be thinking of harming themselves"))
    assert banner.is_visible() and own["action"] in " ".join(banner.inner_text().split())
    assert ("The description mentions: self-harm (thinking of killing myself), bladder and bowel (cant pee)"
            in banner.inner_text())
    assert_accessible(page)
    page.goto(f"{staff_server.url}/staff/requests/{ordinary}")
    assert page.locator(".flag-banner").count() == 0
    assert_accessible(page)
    page.get_by_role("button", name="Add note").click()  # empty: the error summary and field error
    page.get_by_text("There is a problem").first.wait_for()
    assert_accessible(page)
    page.goto(f"{staff_server.url}/staff/requests/{flagged}/erase")
    assert_accessible(page)
    page.goto(f"{staff_server.url}/staff/audit")
    assert_accessible(page)
