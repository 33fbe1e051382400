"""The journey in real Chromium on a phone: answer paths with JavaScript on and off, Back, reload, focus, axe."""
import re

import pytest

from tests.conftest import assert_no_axe_violations, new_context
from tests.helpers import submit_and_wait
from tests.support.journey_browser import EXPECTED, PATHS, SAFE, SAFETY, answer_step, step_id, submit

pytestmark = pytest.mark.browser


def history_move(page, move, url_pattern):
    """Press Back or Forward and wait until the step's page has been loaded afresh."""
    page.evaluate("window.__beforeHistoryMove = true")
    move()
    page.wait_for_url(re.compile(url_pattern))
    page.wait_for_function("() => window.__beforeHistoryMove === undefined && document.readyState === 'complete'")
    # htmx may still be reloading the page it found in history: let the network settle first.
    page.wait_for_load_state("networkidle")
    page.wait_for_selector("#step-title")


def walk(page, base, plan, js, on_step=None):
    visited = []
    page.goto(base + "/")
    while True:
        current = step_id(page, base)
        visited.append(current)
        if on_step:
            on_step(current)
        if current == "summary":
            return visited
        assert len(visited) < 20, visited
        answer_step(page, plan)
        if js:
            page.evaluate("window.__stillThisDocument = true")
        submit_and_wait(page)
        if js:
            # htmx swapped the step in place: same document, focus on the new heading, title updated.
            assert page.evaluate("window.__stillThisDocument === true"), "full page load instead of a swap"
            page.wait_for_function("() => document.activeElement && document.activeElement.id === 'step-title'")
            heading = page.inner_text("#step-title")
            assert page.title().startswith(heading)
            # Said once, by the focused heading: the live region does not repeat it.
            assert page.evaluate("document.getElementById('announcer').textContent.trim()") == ""


@pytest.mark.parametrize("name", ["fusion-with-hardware-problem", "discectomy", "several-operations"])
def test_answer_paths_with_javascript_reach_the_request_page(live_server, phone, name):
    context = phone(js=True)
    page = context.new_page()
    requested = []
    page.on("request", lambda request: requested.append(request.url))
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    visited = walk(page, live_server.url, PATHS[name], js=True)
    assert visited == EXPECTED[name]

    page.get_by_role("link", name="Ask for a second opinion").click()
    page.wait_for_url(re.compile(r"/request$"))
    assert not errors
    outside = [url for url in requested if not url.startswith(live_server.url)]
    assert not outside, f"requests left the site: {outside}"


def test_answer_path_without_javascript_works_with_plain_forms_and_links(live_server, phone):
    page = phone(js=False).new_page()
    visited = walk(page, live_server.url, PATHS["laminectomy"], js=False)
    assert visited == EXPECTED["laminectomy"]
    html = page.content()
    assert "Ask for a second opinion" in html
    # Change an answer from the summary: the journey re-routes.
    page.locator("a[href^='/journey/surgery?return=summary']").click()
    page.locator("input[name=surgery][value=fusion]").check()
    submit(page)
    page.wait_for_url(re.compile(r"/journey/hardware"))


def test_back_returns_to_the_previous_step_with_answers_kept_and_reload_keeps_the_step(live_server, phone):
    page = phone(js=True).new_page()
    plan = PATHS["several-operations"]
    page.goto(live_server.url + "/")
    for _ in range(len(SAFETY) + 2):  # start, the safety screens, surgery, after-surgery
        answer_step(page, plan)
        submit_and_wait(page)
    assert page.url.endswith("/journey/hardware")

    # htmx keeps no snapshots, so Back and Forward reload the step from the server.
    history_move(page, page.go_back, r"/journey/after-surgery$")
    assert page.is_checked("input[name=how_long][value='over_2_years']")
    assert page.is_checked("input[name=told][value=scar_tissue]")

    history_move(page, page.go_back, r"/journey/surgery$")
    assert page.is_checked("input[name=surgery][value=more_than_one]")

    history_move(page, page.go_forward, r"/journey/after-surgery$")
    page.reload()
    assert page.url.endswith("/journey/after-surgery")
    assert page.is_checked("input[name=how_long][value='over_2_years']")

    # The in-page Back link swaps the previous step in.
    page.get_by_role("link", name="Back", exact=True).click()
    page.wait_for_url(re.compile(r"/journey/surgery$"))
    page.wait_for_function("() => document.activeElement && document.activeElement.id === 'step-title'")


def test_a_warning_sign_stops_the_journey_at_the_urgent_care_page_with_a_way_back(live_server, phone):
    page = phone(js=True).new_page()
    page.goto(live_server.url + "/")
    submit(page)
    page.wait_for_url(re.compile(r"/journey/safety$"))
    answer_step(page, {**SAFE, "signs_nerves": ["urine_trouble"]})
    submit(page)
    page.wait_for_url(re.compile(r"/journey/urgent$"))
    assert page.locator("form.step-form").count() == 0
    page.get_by_role("link", name="go back and change your answer").click()
    page.wait_for_url(re.compile(r"/journey/safety$"))
    assert page.is_checked("input[name=signs_nerves][value=urine_trouble]")


def test_an_unanswered_question_shows_the_error_summary_and_focuses_it(live_server, phone):
    page = phone(js=True).new_page()
    page.goto(live_server.url + "/")
    submit(page)
    page.wait_for_url(re.compile(r"/journey/safety$"))
    submit(page)
    page.wait_for_selector(".error-summary")
    page.wait_for_function("() => document.activeElement && document.activeElement.classList.contains('error-summary')")
    assert page.title().startswith("Error:")
    assert page.locator(".error-message").count() == 1  # the one group of signs on the first safety screen


def test_axe_finds_no_violations_on_any_step(live_server, phone):
    page = phone(js=True, bypass_csp=True).new_page()
    checked = set()

    def check(current):
        if current not in checked:
            assert_no_axe_violations(page)
            checked.add(current)

    # The fusion path passes every step (the check below); axe runs once a step, so a second path added no check.
    walk(page, live_server.url, PATHS["fusion-with-hardware-problem"], js=True, on_step=check)

    # Error state, the urgent page, and the plain pages.
    page.context.clear_cookies()
    page.goto(live_server.url + "/")
    submit(page)
    page.wait_for_url(re.compile(r"/journey/safety$"))
    submit(page)
    page.wait_for_selector(".error-summary")
    assert_no_axe_violations(page)
    answer_step(page, {**SAFE, "signs_nerves": ["bladder_bowel_control"]})
    submit(page)
    page.wait_for_url(re.compile(r"/journey/urgent$"))
    assert_no_axe_violations(page)
    for path in ("/references", "/journey/save", "/journey/no-such-step", "/journey/continue/bad-token"):
        page.goto(live_server.url + path)
        assert_no_axe_violations(page)
    assert checked == set(EXPECTED["fusion-with-hardware-problem"])


def test_pages_fit_a_320_pixel_screen_without_sideways_scrolling(live_server, browser):
    context = new_context(browser, viewport={"width": 320, "height": 640}, is_mobile=True, has_touch=True)
    page = context.new_page()
    walk(page, live_server.url, PATHS["fusion-with-hardware-problem"], js=True,
         on_step=lambda _step: _assert_no_horizontal_scroll(page))
    context.close()


def _assert_no_horizontal_scroll(page):
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"{page.url} scrolls sideways by {overflow}px"
    size = page.evaluate("parseFloat(getComputedStyle(document.querySelector('main p, main li') || document.body).fontSize)")
    assert size >= 16


@pytest.mark.parametrize("failure", ["network", "server"])
def test_a_failed_htmx_request_shows_a_message_in_the_page(live_server, phone, failure):
    page = phone(js=True).new_page()
    page.goto(live_server.url + "/")

    def fail(route):
        if failure == "network":
            route.abort("internetdisconnected")
        else:
            route.fulfill(status=502, body="Bad gateway", content_type="text/plain")

    page.route("**/journey/start", fail)
    submit(page)
    message = page.locator("#page-error")
    message.wait_for(state="visible")
    expected = "could not reach the site" if failure == "network" else "went wrong on our side"
    assert expected in message.inner_text()
    assert page.url == live_server.url + "/"  # nothing swapped, still on the start step


def test_buttons_and_answer_choices_are_at_least_44_pixels_tall(live_server, phone):
    page = phone(js=True).new_page()
    page.goto(live_server.url + "/")
    submit(page)
    page.wait_for_url(re.compile(r"/journey/safety$"))
    sizes = page.eval_on_selector_all(
        "form.step-form button, .choice, .back-link, .journey-tools a, .journey-tools button",
        "els => els.map(e => [e.className || e.tagName, e.getBoundingClientRect().height])",
    )
    assert sizes
    small = [(name, height) for name, height in sizes if height < 44]
    assert not small, small
