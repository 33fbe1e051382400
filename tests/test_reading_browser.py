"""Relevance first on a 390x844 phone: for every surgery answer, Continue within two screens on every info step,
at most 1,500 words on the path, and the start page's minutes match what the path shows."""
import math
import re

import pytest

from clinic.journey import reading
from clinic.journey.model import conditions_hold
from tests.conftest import ROOT, LiveServer, assert_no_axe_violations
from tests.helpers import COUNT_WORDS, info_steps_with_every_box_combination, post_answers, submit_and_wait
from tests.support.journey_browser import answer_step, step_id

pytestmark = pytest.mark.browser

SCREEN = 844
# The step's own paragraphs (its intro), to count a paragraph shown word for word on an earlier step once, as
# reading.path_words does.
INTRO_PARAGRAPHS = """() => [...document.querySelectorAll('article.step > .prose > p, article.step .question-intro > p')]
  .map(p => p.textContent.split(/\\s+/).filter(Boolean).join(' '))"""
CONTINUE_BOTTOM = """() => {
  const button = document.querySelector('form.step-form button[type=submit]');
  return button.getBoundingClientRect().bottom + window.scrollY;
}"""


def walk_to(page, base, journey, plan, target):
    """Open `target` on the route `plan` takes, its earlier steps answered by plain posts: walking a dozen steps
    by taps before each check on `target` took most of these tests' time (the walks above tap through)."""
    page.goto(post_answers(page.context, base, journey, plan, until=target))
    assert step_id(page, base) == target


@pytest.fixture
def app(make_app):
    # A dozen journeys a test from one address: lift the limit on new journeys (issue 11 M2).
    return make_app(CONTENT_DIR=str(ROOT / "content"), WTF_CSRF_ENABLED=False,
                    JOURNEY_CREATE_RATE_LIMIT="10000 per minute")


def test_start_page_minutes_are_computed_from_the_typical_paths(app):
    journey = app.extensions["journey"]
    low, high = journey.reading_minutes
    counts = [reading.path_words(journey, a) for a in reading.complete_answers(journey, "typical")]
    assert low == max(1, math.floor(min(counts) / 200)) and high == math.ceil(max(counts) / 200)
    start = journey.steps[journey.first_step].intro_html
    assert f"about {low} to {high} minutes" in start or (low == high and f"about {low} minutes" in start)
    assert "{{reading_time}}" not in start


def walk_measuring(page, base, journey, plan):
    """Walk a plan to the summary: {step id: (words Chromium shows, words reading.py counts, Continue's bottom,
    the step's own paragraphs)}."""
    page.context.clear_cookies()
    page.goto(base + "/")
    seen = {}
    for _ in range(20):
        current = step_id(page, base)
        bottom = page.evaluate(CONTINUE_BOTTOM) if journey.steps[current].kind == "info" else 0
        seen[current] = (page.evaluate(COUNT_WORDS), reading.step_words(journey, journey.steps[current], plan), bottom,
                         page.evaluate(INTRO_PARAGRAPHS))
        if current == "summary":
            return seen
        answer_step(page, plan)
        submit_and_wait(page)
    raise AssertionError(f"{plan} did not reach the summary: {list(seen)}")


def far_down(seen):
    return {step: round(bottom) for step, (_shown, _counted, bottom, _intro) in seen.items() if bottom > 2 * SCREEN}


def test_every_surgery_answer_keeps_continue_near_the_top_and_the_path_short(live_server, phone, app):
    """The longest typical path per surgery answer: words shown as counted, within the limit and the start page's
    minutes, Continue within two screens. The longest path is not the tallest page, so then every other layout of
    every info step that a typical path can give it: Continue within two screens there too (each opened once)."""
    journey = app.extensions["journey"]
    low, high = journey.reading_minutes
    plans = reading.longest_paths(journey)
    assert set(plans) == {o.value for o in journey.question("surgery").options}
    page = phone(js=True).new_page()
    report, problems, far = {}, [], {}
    for surgery, plan in plans.items():
        seen = walk_measuring(page, live_server.url, journey, plan)
        repeated, shown_before = 0, set()  # a paragraph seen word for word on an earlier step counts once
        for *_counts, intro in seen.values():
            repeated += sum(len(p.split()) for p in intro if p in shown_before)
            shown_before.update(intro)
        total = sum(shown for shown, *_rest in seen.values()) - repeated
        report[surgery] = total
        differ = {step: (shown, counted) for step, (shown, counted, *_rest) in seen.items() if shown != counted}
        if differ:  # reading.py counts what Chromium shows: the start page's minutes rest on it
            problems.append(f"{surgery}: shown and counted words differ on {differ}")
        far.update(far_down(seen))
        if total > reading.PATH_WORD_LIMIT:
            problems.append(f"{surgery}: {total} words on the path")
        if not low <= total / reading.WORDS_PER_MINUTE <= high:  # the start page's estimate holds in the browser
            problems.append(f"{surgery}: {total} words is not {low} to {high} minutes")
    for step, answers in layouts_not_shown_by(journey, plans.values()):  # opened straight from posted answers
        page.context.clear_cookies()
        page.goto(post_answers(page.context, live_server.url, journey, answers, until=step))
        bottom = page.evaluate(CONTINUE_BOTTOM)
        if bottom > 2 * SCREEN:
            far[step] = round(bottom)
    if far:
        problems.append(f"Continue's bottom, more than two screens ({2 * SCREEN} px) down: {far}")
    assert not problems, "\n".join(problems)
    print("words per surgery answer:", report)


def info_layouts(journey, answers):
    """(info step, ids of the blocks it shows in full) for each info step on the route these answers take."""
    return {(s, tuple(b.id for b, _fits in reading.layout(journey.steps[s], answers).shown))
            for s in journey.expected_route(answers) if journey.steps[s].kind == "info"}


def layouts_not_shown_by(journey, walked):
    """(info step, answers) showing each layout of an info step that a typical path can give it (the blocks shown
    in full) and that the answer sets `walked` do not show."""
    done = set().union(set(), *(info_layouts(journey, answers) for answers in walked))
    found = {}
    for answers in reading.complete_answers(journey, "typical"):
        for layout in info_layouts(journey, answers) - done:
            found.setdefault(layout, answers)
    return [(step, answers) for (step, _shown), answers in sorted(found.items(), key=lambda item: item[0])]


FIRST_FIT_ABOVE_CONTINUE = """(blockId) => {
  const button = document.querySelector('form.step-form button[type=submit]').getBoundingClientRect();
  const block = document.getElementById('block-' + blockId);
  const first = block && block.tagName === 'SECTION' && block.querySelector('.prose > *');
  return {continueBottom: button.bottom + window.scrollY, shown: Boolean(first && first.getClientRects().length),
          textBottom: first ? first.getBoundingClientRect().bottom : null, continueTop: button.top};
}"""


def test_every_box_combination_on_tried_and_after_surgery_keeps_a_fitting_block_above_continue_near_the_top(
        make_app, phone):
    """For each surgery answer (and metal-parts answer), every combination of ticked boxes on `after-surgery` and
    `tried`: on each info step the text of the first block that fits is above Continue, and Continue is within two
    screens. A step's page depends only on which blocks it shows (reading.layout), so each distinct layout is opened
    once, straight from posted answers, in one browser context."""
    app = make_app(CONTENT_DIR=str(ROOT / "content"), WTF_CSRF_ENABLED=False, JOURNEY_CREATE_RATE_LIMIT="10000 per minute")
    journey = app.extensions["journey"]
    layouts = {}
    for step, answers in info_steps_with_every_box_combination(journey):
        shown = reading.layout(step, answers)
        fitting = [b for b in step.blocks if b.first_when and conditions_hold(b.first_when, answers)]
        key = (step.id, tuple(b.id for b, _fits in shown.shown), shown.lead and shown.lead.id, bool(shown.also))
        layouts.setdefault(key, (answers, fitting[0].id if fitting else None))
    assert any(lead for _step, _shown, lead, _also in layouts), "the stimulator case of the issue is among them"
    context = phone(js=True)
    page = context.new_page()
    problems = []
    with LiveServer(app) as server:
        for (step_id, _shown, _lead, _also), (answers, first_fit) in sorted(layouts.items(), key=str):
            context.clear_cookies()
            page.goto(post_answers(context, server.url, journey, answers, until=step_id))
            found = page.evaluate(FIRST_FIT_ABOVE_CONTINUE, first_fit)
            if found["continueBottom"] > 2 * SCREEN:
                problems.append(f"{step_id} {answers}: Continue's bottom at {found['continueBottom']:.0f} px")
            if first_fit and not (found["shown"] and found["textBottom"] <= found["continueTop"]):
                problems.append(f"{step_id} {answers}: the text of '{first_fit}' is not above Continue: {found}")
    assert not problems, "\n".join(problems)
    print(f"{len(layouts)} layouts opened")


def test_research_disclosures_are_named_by_their_block_for_screen_readers(live_server, phone, app):
    journey = app.extensions["journey"]
    page = phone(js=True).new_page()
    walk_to(page, live_server.url, journey, reading.longest_paths(journey)["laminectomy"], "causes")
    names = page.eval_on_selector_all(".research > summary", "els => els.map(e => e.textContent.trim())")
    assert names and all(re.match(r"What the research says about \S", n) for n in names), names
    # Closed "Also on this page" items open with one tap, without JavaScript's help.
    more = page.locator("details.more").first
    assert more.evaluate("d => !d.open")
    more.locator("> summary").click()
    assert more.evaluate("d => d.open")


# --- C. Citations that work on a phone -------------------------------------------------------------------
MARKER_BOXES = """() => [...document.querySelectorAll('article a.ref')]
  .filter(a => a.getClientRects().length)
  .map(a => { const r = a.getBoundingClientRect(); return [a.id, r.width, r.height]; })"""


def test_reference_markers_are_at_least_24_by_24_pixels_and_focus_keeps_the_number_visible(live_server, phone, app):
    journey = app.extensions["journey"]
    page = phone(js=True).new_page()
    walk_to(page, live_server.url, journey, reading.longest_paths(journey)["fusion"], "causes")
    page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")  # research markers too
    boxes = page.evaluate(MARKER_BOXES)
    assert len(boxes) >= 5
    small = [box for box in boxes if box[1] < 24 or box[2] < 24]
    assert not small, f"markers under 24x24 px: {small}"
    # Keyboard focus: the ring is drawn outside the box and the number keeps its contrast.
    first = boxes[0][0]
    page.focus("#step-title")
    for _ in range(60):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.id") == first:
            break
    style = page.evaluate("""id => { const a = document.getElementById(id), s = getComputedStyle(a);
        const r = a.getBoundingClientRect();
        const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
        return {visible: a.matches(':focus-visible'), offset: parseFloat(s.outlineOffset), color: s.color,
                background: s.backgroundColor, onTop: hit === a || a.contains(hit)}; }""", first)
    assert style["visible"] and style["offset"] >= 0 and style["onTop"], style
    assert contrast(style["color"], style["background"]) >= 4.5, style


def contrast(color, background):
    def luminance(css):
        channels = [int(float(v)) / 255 for v in re.findall(r"[\d.]+", css)[:3]]
        lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    high, low = sorted([luminance(color), luminance(background)], reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_tapping_a_reference_opens_it_in_place_and_tapping_again_closes_it(live_server, phone, app):
    journey = app.extensions["journey"]
    page = phone(js=True).new_page()
    walk_to(page, live_server.url, journey, reading.longest_paths(journey)["fusion"], "causes")
    url = page.url
    marker = page.locator(".prose > p a.ref").first
    cite, number = marker.get_attribute("id"), marker.inner_text()
    page.evaluate("window.__stillThisDocument = true")
    marker.tap()
    note = page.locator(f"#{cite}-note")
    note.wait_for(state="visible")
    assert journey.references[int(number)][:40] in note.inner_text()
    assert page.url == url and page.evaluate("window.__stillThisDocument === true")
    opened = page.locator(f"#{cite}")
    assert opened.get_attribute("aria-expanded") == "true"
    page.wait_for_function("id => document.activeElement && document.activeElement.id === id", arg=cite)
    opened.tap()
    note.wait_for(state="detached")
    assert page.locator(f"#{cite}").get_attribute("aria-expanded") == "false"


def test_without_javascript_a_reference_is_a_link_to_the_references_page_with_a_way_back(live_server, phone, app):
    journey = app.extensions["journey"]
    page = phone(js=False).new_page()
    walk_to(page, live_server.url, journey, reading.longest_paths(journey)["fusion"], "causes")
    marker = page.locator(".prose > p a.ref").first
    cite, number = marker.get_attribute("id"), marker.inner_text()
    marker.click()
    page.wait_for_url(re.compile(rf"/references\?cite={cite}#ref-{number}$"))
    assert page.locator(f"#ref-{number}").is_visible()
    page.get_by_role("link", name="Back to where you were").click()
    page.wait_for_url(re.compile(rf"/journey/causes#{cite}$"))
    assert page.locator(f"#{cite}").is_visible()


def test_axe_finds_nothing_with_disclosures_and_a_footnote_open_nor_on_the_references_page_with_its_way_back(
        live_server, phone, app):
    journey = app.extensions["journey"]
    page = phone(js=True, bypass_csp=True).new_page()
    walk_to(page, live_server.url, journey, reading.longest_paths(journey)["fusion"], "causes")
    marker = page.locator(".prose > p a.ref").first
    cite = marker.get_attribute("id")
    marker.click()
    page.locator(f"#{cite}-note").wait_for(state="visible")
    page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
    assert_no_axe_violations(page)
    page.goto(f"{live_server.url}/references?cite={cite}")
    assert page.get_by_role("link", name="Back to where you were").is_visible()
    assert_no_axe_violations(page)
