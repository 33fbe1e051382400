"""One round trip per answer, counted at the server in real Chromium: JavaScript on (htmx) and off (PRG)."""
import re

import pytest

from tests.helpers import submit_and_wait
from tests.support.journey_browser import EXPECTED, PATHS, answer_step, step_id, submit

pytestmark = pytest.mark.browser


@pytest.fixture
def served(app):
    """(method, path) of every request that reaches the app, in order."""
    requests = []
    inner = app.wsgi_app

    def counting(environ, start_response):
        requests.append((environ["REQUEST_METHOD"], environ["PATH_INFO"]))
        return inner(environ, start_response)

    app.wsgi_app = counting
    return requests


def answer_and_count(page, base, plan, served, js):
    """Answer the step on screen and tap Continue; returns (step answered, requests it caused, step reached)."""
    answered = step_id(page, base)
    answer_step(page, plan)
    title = page.inner_text("#step-title")
    before = page.url
    served.clear()
    submit(page)
    page.wait_for_function(
        "([u, t]) => location.href !== u && document.getElementById('step-title')"
        " && document.getElementById('step-title').textContent !== t", arg=[before, title])
    page.wait_for_load_state("load")
    if js:
        page.wait_for_load_state("networkidle")
    caused = [(method, path) for method, path in served if not path.startswith("/static/")]
    return answered, caused, step_id(page, base)


def test_with_javascript_each_answer_is_one_request_and_no_page_load(live_server, phone, served):
    page = phone(js=True).new_page()
    documents = []
    page.on("request", lambda request: documents.append(request.url) if request.resource_type == "document" else None)
    page.goto(live_server.url + "/")
    page.wait_for_load_state("networkidle")
    documents.clear()
    page.evaluate("window.__stillThisDocument = true")
    visited = ["start"]
    while visited[-1] != "summary":
        answered, caused, reached = answer_and_count(page, live_server.url, PATHS["discectomy"], served, js=True)
        assert caused == [("POST", f"/journey/{answered}" if answered != "start" else "/journey/start")], caused
        visited.append(reached)
    assert visited == EXPECTED["discectomy"]
    assert documents == [], f"full page loads: {documents}"
    assert page.evaluate("window.__stillThisDocument === true")


def test_without_javascript_each_answer_is_post_redirect_get(live_server, phone, served):
    page = phone(js=False).new_page()
    page.goto(live_server.url + "/")
    visited = ["start"]
    while visited[-1] != "summary":
        answered, caused, reached = answer_and_count(page, live_server.url, PATHS["discectomy"], served, js=False)
        assert caused == [("POST", f"/journey/{answered}"), ("GET", f"/journey/{reached}")], caused
        visited.append(reached)
    assert visited == EXPECTED["discectomy"]


def test_with_javascript_change_from_the_summary_reload_and_continue_later_keep_working(live_server, phone, browser):
    page = phone(js=True).new_page()
    page.goto(live_server.url + "/")
    plan = PATHS["discectomy"]
    while step_id(page, live_server.url) != "summary":
        answer_step(page, plan)
        submit_and_wait(page)

    # Change the operation from the summary: fusion opens the hardware question first (one response, URL pushed).
    page.locator("a[href^='/journey/surgery?return=summary']").click()
    page.wait_for_url(re.compile(r"/journey/surgery\?return=summary"))
    page.locator("input[name=surgery][value=fusion]").check()
    submit(page)
    page.wait_for_url(re.compile(r"/journey/hardware$"))
    page.reload()
    assert page.url.endswith("/journey/hardware") and page.inner_text("#step-title")
    answer_step(page, {"hardware_problem": "no"})
    submit(page)
    page.wait_for_url(re.compile(r"/journey/causes$"))

    # Back after an htmx answer reloads the previous step from the server, answers kept.
    page.go_back()
    page.wait_for_url(re.compile(r"/journey/hardware$"))
    page.wait_for_load_state("networkidle")
    page.wait_for_selector("input[name=hardware_problem][value=no]:checked")

    # Continue later: the saved link opens the journey in a fresh browser where it stands (every step after
    # the hardware question was seen before, so that is the summary), with the changed answer kept.
    page.goto(live_server.url + "/journey/save")
    link = page.locator("a.continue-link").get_attribute("href")
    other = phone(js=True).new_page()
    other.goto(link)
    other.get_by_role("button", name="Continue my saved answers").click()
    other.wait_for_url(re.compile(r"/journey/summary$"))
    assert "Spinal fusion" in other.text_content(".summary-answers")
