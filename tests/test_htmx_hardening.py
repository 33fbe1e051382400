"""htmx hardened in a real browser: its effective configuration, no answers left in browser storage, no CSP violations."""
import re

import pytest

from tests.conftest import LiveServer, content_dir, pages_site, route_to_summary
from tests.helpers import fill_answers, submit_and_wait

pytestmark = pytest.mark.browser

# Reported from the page through a Playwright binding (not affected by the page's CSP).
WATCH_CSP = """
document.addEventListener('securitypolicyviolation', (e) => {
  window.cspViolations = (window.cspViolations || 0) + 1;
  window.reportCspViolation(`${e.violatedDirective} blocked ${e.blockedURI} in ${e.documentURI}`);
});
"""


@pytest.fixture
def app(make_app):
    # CSRF on: the browser carries the tokens. No minimum time on the request form: a test types fast.
    return make_app(CONTENT_DIR=str(content_dir()), REQUEST_MIN_SECONDS=0)


def watched_page(phone):
    """A phone page (JS on, CSP enforced) that collects CSP violations, page errors and console CSP errors."""
    page = phone(js=True).new_page()
    seen = {"csp": [], "errors": []}
    page.expose_function("reportCspViolation", lambda text: seen["csp"].append(text))
    page.add_init_script(WATCH_CSP)
    page.on("pageerror", lambda error: seen["errors"].append(str(error)))
    page.on("console", lambda message: "Content Security Policy" in message.text and seen["csp"].append(message.text))
    return page, seen


def answer_and_submit(page, step, form):
    fill_answers(page, form)
    submit_and_wait(page)


def walk_with_back_presses(page, base, journey):
    """Answer the way to the summary; after each of the first steps, press Back once and go forward again."""
    route = route_to_summary(journey)
    page.goto(base + "/")
    for index, (step, form) in enumerate(route[:-1]):
        answer_and_submit(page, step, form)
        if 0 < index < 4:
            page.go_back()
            page.wait_for_selector("#step-title")
            page.go_forward()
            page.wait_for_selector("#step-title")
    assert page.url.endswith(f"/journey/{route[-1][0].id}")
    # A few more Back presses from the summary, the way a patient re-reads earlier steps.
    for _ in range(min(3, len(route) - 1)):
        page.go_back()
        page.wait_for_selector("#step-title")
    page.go_forward()
    page.wait_for_selector("#step-title")


def test_effective_htmx_config_keeps_no_history_runs_no_eval_no_scripts_and_stays_on_our_origin(live_server, phone):
    page, seen = watched_page(phone)
    page.goto(live_server.url + "/")
    page.wait_for_function("window.htmx && htmx.config")
    config = page.evaluate("""() => ({
        historyCacheSize: htmx.config.historyCacheSize, allowEval: htmx.config.allowEval,
        allowScriptTags: htmx.config.allowScriptTags, selfRequestsOnly: htmx.config.selfRequestsOnly,
        includeIndicatorStyles: htmx.config.includeIndicatorStyles,
        injectedStyles: document.querySelectorAll('style').length })""")
    assert config == {"historyCacheSize": 0, "allowEval": False, "allowScriptTags": False, "selfRequestsOnly": True,
                      "includeIndicatorStyles": False, "injectedStyles": 0}
    assert not seen["csp"] and not seen["errors"]


def test_no_answers_stay_in_local_or_session_storage_after_a_journey_with_back_presses(live_server, phone, app):
    page, seen = watched_page(phone)
    walk_with_back_presses(page, live_server.url, app.extensions["journey"])
    storage = page.evaluate("() => ({local: {...localStorage}, session: {...sessionStorage}})")
    assert storage["local"] == {}
    # htmx 2.0.11 always records which path is showing (no option turns it off); that path is in the
    # browser's history anyway and carries no answers. Page snapshots ("htmx-history-cache") must be absent.
    current = storage["session"].pop("htmx-current-path-for-history", "/")
    assert re.fullmatch(r"/(journey/[a-z0-9-]+)?", current), current
    assert storage["session"] == {}
    assert not seen["errors"]


def test_no_content_security_policy_violations_over_a_full_journey_and_request(live_server, phone, app):
    page, seen = watched_page(phone)
    walk_with_back_presses(page, live_server.url, app.extensions["journey"])
    # The request: a mistake first (the error summary), then sent, then the confirmation.
    page.goto(live_server.url + "/request")
    page.fill("#name", "Alex Example")
    page.fill("#email", "not an address")
    page.check("#contact_by-0")
    page.fill("#description", "Pain in my leg since the operation.")
    page.check("#consent")
    page.locator("form.request-form button[type=submit]").click()
    page.wait_for_selector(".error-summary")
    page.fill("#email", "alex@example.com")
    page.locator("form.request-form button[type=submit]").click()
    page.wait_for_url(re.compile(r"/request/sent$"))
    assert re.search(r"FBS-[0-9A-Z]{4}", page.content())
    # The continue-later page, the plain pages and staff sign-in.
    for path in ("/journey/save", "/references", "/privacy", "/staff/sign-in"):
        page.goto(live_server.url + path)
    page.goto(live_server.url + "/")
    assert page.evaluate("window.htmx !== undefined"), "htmx did not load under the policy"
    assert not seen["csp"], seen["csp"]
    assert not seen["errors"], seen["errors"]

    # The watcher itself works: a script injected into the page is blocked and reported.
    page.evaluate("() => { const s = document.createElement('script'); s.textContent = 'x = 1'; document.body.append(s); }")
    page.wait_for_function("window.cspViolations > 0")
    assert any(re.search(r"script-src", entry) for entry in seen["csp"]), seen["csp"]


def test_a_form_on_another_site_that_posts_here_is_refused_in_a_real_browser(live_server, phone, app):
    """Chromium itself labels the post `Sec-Fetch-Site: cross-site`; the site answers with its 403 page."""
    target = live_server.url.replace("localhost", "127.0.0.1") + "/journey/restart"
    attacker_page = (f'<!doctype html><title>Elsewhere</title><form method="post" action="{target}">'
                     '<button>Win a prize</button></form>')
    page = phone(js=True).new_page()
    page.goto(live_server.url + "/")  # a journey cookie exists for the other site to try to clear
    with LiveServer(pages_site({"/": attacker_page}), host="localhost") as elsewhere:
        page.goto(elsewhere.url + "/")  # another site: localhost is not 127.0.0.1
        with page.expect_response(lambda r: r.url == target) as answer:
            page.click("button")
        assert answer.value.status == 403
        assert answer.value.request.all_headers().get("sec-fetch-site") == "cross-site"
        page.wait_for_selector("h1")
        assert "<html" in page.content()
