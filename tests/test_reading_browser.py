"""Relevance first on a 390x844 phone: for every surgery answer, Continue within two screens on every info step,
at most 1,500 words on the path, and the start page's minutes match what the path shows."""
import math
import re

import pytest

from clinic.journey import reading
from tests.conftest import ROOT
from tests.test_journey_browser import answer_step, step_id, submit

pytestmark = pytest.mark.browser

SCREEN = 844
# What a person reads: the step's own text. Navigation, buttons, markers, tags and closed disclosures are not.
COUNT_WORDS = """() => {
  const copy = document.querySelector('article.step').cloneNode(true);
  copy.querySelectorAll('nav, .back, .progress, .progress-bar, button, .visually-hidden, .refs, .tag, .change, '
    + '.error-summary, .journey-tools, details:not([open]) > :not(summary)').forEach(e => e.remove());
  return copy.textContent.split(/\\s+/).filter(Boolean).length;
}"""
CONTINUE_BOTTOM = """() => {
  const button = document.querySelector('form.step-form button[type=submit]');
  return button.getBoundingClientRect().bottom + window.scrollY;
}"""


@pytest.fixture
def app(make_app):
    return make_app(CONTENT_DIR=str(ROOT / "content"))


def longest_typical_path_per_surgery_answer(journey):
    """For each answer to "Which back operation did you have?", the typical answers whose path reads longest."""
    plans = {}
    for answers in reading.complete_answers(journey, "typical"):
        surgery = answers["surgery"]
        if surgery not in plans or reading.path_words(journey, answers) > reading.path_words(journey, plans[surgery]):
            plans[surgery] = answers
    return plans


def test_start_page_minutes_are_computed_from_the_typical_paths(app):
    journey = app.extensions["journey"]
    low, high = journey.reading_minutes
    counts = [reading.path_words(journey, a) for a in reading.complete_answers(journey, "typical")]
    assert low == max(1, math.floor(min(counts) / 200)) and high == math.ceil(max(counts) / 200)
    start = journey.steps[journey.first_step].intro_html
    assert f"about {low} to {high} minutes" in start or (low == high and f"about {low} minutes" in start)
    assert "{{reading_time}}" not in start


def test_every_surgery_answer_keeps_continue_near_the_top_and_the_path_short(live_server, phone, app):
    journey = app.extensions["journey"]
    low, high = journey.reading_minutes
    plans = longest_typical_path_per_surgery_answer(journey)
    assert set(plans) == {o.value for o in journey.question("surgery").options}
    page = phone(js=True).new_page()
    report, problems = {}, []
    for surgery, plan in plans.items():
        page.context.clear_cookies()
        page.goto(live_server.url + "/")
        total, far = 0, {}
        for _ in range(20):
            current = step_id(page, live_server.url)
            total += page.evaluate(COUNT_WORDS)
            if current == "summary":
                break
            if journey.steps[current].kind == "info":
                bottom = page.evaluate(CONTINUE_BOTTOM)
                if bottom > 2 * SCREEN:
                    far[current] = round(bottom)
            answer_step(page, {k: v for k, v in plan.items()})
            before = page.url
            submit(page)
            page.wait_for_function("u => location.href !== u", arg=before)
            page.wait_for_selector("#step-title")
        assert current == "summary", (surgery, current)
        report[surgery] = total
        if far:
            problems.append(f"{surgery}: Continue more than two screens down on {far}")
        if total > reading.PATH_WORD_LIMIT:
            problems.append(f"{surgery}: {total} words on the path")
        if not low <= total / reading.WORDS_PER_MINUTE <= high:  # the start page's estimate holds in the browser
            problems.append(f"{surgery}: {total} words is not {low} to {high} minutes")
    assert not problems, "\n".join(problems)
    print("words per surgery answer:", report)


def test_research_disclosures_are_named_by_their_block_for_screen_readers(live_server, phone, app):
    journey = app.extensions["journey"]
    page = phone(js=True).new_page()
    page.goto(live_server.url + "/")
    plan = longest_typical_path_per_surgery_answer(journey)["laminectomy"]
    while step_id(page, live_server.url) != "causes":
        answer_step(page, plan)
        before = page.url
        submit(page)
        page.wait_for_function("u => location.href !== u", arg=before)
        page.wait_for_selector("#step-title")
    names = page.eval_on_selector_all(".research > summary", "els => els.map(e => e.textContent.trim())")
    assert names and all(re.match(r"What the research says about \S", n) for n in names), names
    # Closed "Also on this page" items open with one tap, without JavaScript's help.
    more = page.locator("details.more").first
    assert more.evaluate("d => !d.open")
    more.locator("summary").click()
    assert more.evaluate("d => d.open")
