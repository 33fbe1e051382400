"""GOV.UK question pages in Chromium at 390x844: the question is the page's one heading, the safety check comes in
calm screens of one group each, and every control is big enough for shaky hands (issue 19)."""
import re

import pytest

from clinic.journey import reading
from tests.conftest import ROOT, assert_no_axe_violations_light_and_dark
from tests.helpers import post_answers

pytestmark = pytest.mark.browser


@pytest.fixture
def app(make_app):
    return make_app(CONTENT_DIR=str(ROOT / "content"), WTF_CSRF_ENABLED=False, JOURNEY_CREATE_RATE_LIMIT="10000 per minute")


@pytest.fixture
def journey(app):
    return app.extensions["journey"]


def answers_reaching(journey, step_id):
    """A typical answer set whose route passes `step_id`."""
    return next(a for a in reading.complete_answers(journey, "typical") if step_id in journey.expected_route(a))


def single_question_steps(journey):
    return [s for s in journey.steps.values()
            if s.kind == "question" and len(s.questions) == 1 and s.questions[0].type != "text"]


def open_step(context, page, base, journey, step_id):
    context.clear_cookies()
    page.goto(post_answers(context, base, journey, answers_reaching(journey, step_id), until=step_id))


@pytest.mark.parametrize("js", [True, False])
def test_on_every_single_question_step_the_one_heading_level_1_is_the_question_in_its_legend(
        live_server, phone, journey, js):
    steps = single_question_steps(journey)
    assert {"surgery", "hardware", "tried"} <= {s.id for s in steps}
    context = phone(js=js)
    page = context.new_page()
    for step in steps:
        open_step(context, page, live_server.url, journey, step.id)
        tree = page.locator("body").aria_snapshot()
        level_one = re.findall(r'heading "(.*?)" \[level=1\]', tree)
        assert level_one == [step.questions[0].label], (step.id, level_one)
        assert page.locator("fieldset > legend > h1").inner_text() == step.questions[0].label


def test_without_javascript_a_journey_error_page_puts_the_focus_on_its_error_summary(live_server, phone, journey):
    context = phone(js=False)
    page = context.new_page()
    open_step(context, page, live_server.url, journey, "surgery")
    page.locator("form.step-form button[type=submit]").click()
    page.wait_for_selector(".error-summary")
    assert page.title().startswith("Error: ")
    assert page.evaluate("document.activeElement.classList.contains('error-summary')")


SCREEN = 844
CONTINUE_BOTTOM = """() => document.querySelector('form.step-form button[type=submit]').getBoundingClientRect().bottom
  + window.scrollY"""


OR = {"en": "or", "es": "o"}  # the divider before "None of these" (translations/es: "o")


@pytest.mark.parametrize("lang", ["en", "es"])
def test_none_of_these_comes_after_an_or_and_unticks_the_signs_and_a_sign_unticks_it(live_server, phone, app, lang):
    """In English and in Spanish (its labels are longer): Continue within 1.3 screens on each safety screen."""
    journey = app.extensions["journeys"][lang]
    base = live_server.url + ("" if lang == "en" else f"/{lang}")
    context = phone(js=True)
    page = context.new_page()
    screens = journey.warning_signs.screens()
    bottoms = {}
    for screen in screens:
        open_step(context, page, base, journey, screen)
        assert page.get_attribute("html", "lang") == lang
        bottoms[screen] = round(page.evaluate(CONTINUE_BOTTOM) / SCREEN, 2)
        for group in journey.warning_signs.groups_on(screen):
            name = group.question_id
            none = page.locator(f"input[name={name}][value=none]")
            # The divider sits right before "None of these".
            assert page.evaluate("n => document.querySelector(`input[name=${n}][value=none]`).closest('.choice')"
                                 ".previousElementSibling.textContent.trim()", name) == OR[lang]
            first, second = (page.locator(f"input[name={name}][value={s.id}]") for s in group.signs[:2])
            first.check()
            second.check()
            none.check()
            assert not first.is_checked() and not second.is_checked() and none.is_checked()
            first.check()
            assert not none.is_checked() and first.is_checked()
    print(f"Continue's bottom on each {lang} safety screen, in screens of 844 px:", bottoms)
    assert all(len(journey.warning_signs.groups_on(s)) == 1 for s in screens), "one group of signs a screen"
    assert max(bottoms.values()) <= 1.3, f"Continue more than 1.3 screens (1,097 px) down: {bottoms}"


SIZES = """() => {
  const shown = e => e.getClientRects().length && getComputedStyle(e).visibility !== 'hidden';
  const box = e => { const r = e.getBoundingClientRect();
    return [Math.round(r.width * 10) / 10, Math.round(r.height * 10) / 10]; };
  const name = e => (e.id || e.getAttribute('href') || e.textContent.trim()).slice(0, 40);
  const small = [];
  document.querySelectorAll('main input[type=radio], main input[type=checkbox]').forEach(e => {
    if (shown(e)) { const [w, h] = box(e); if (w < 40 || h < 40) small.push(['control', name(e), w, h]); } });
  document.querySelectorAll('main .choice').forEach(e => {
    if (shown(e)) { const [, h] = box(e); if (h < 44) small.push(['row', name(e.querySelector('input')), h]); } });
  document.querySelectorAll('main a[href="tel:911"], main a[href="tel:988"], main a[href="sms:988"]').forEach(e => {
    if (shown(e)) { const [w, h] = box(e); if (w < 44 || h < 44) small.push(['crisis link', name(e), w, h]); } });
  document.querySelectorAll('.on-this-page a').forEach(e => {
    if (shown(e)) { const [, h] = box(e); if (h < 44) small.push(['on this page', name(e), h]); } });
  document.querySelectorAll('main a.ref').forEach(e => {
    if (!shown(e)) { return; }
    const hit = parseFloat(getComputedStyle(e, '::after').height);
    if (!(Math.max(hit, box(e)[1]) >= 44)) { small.push(['reference hit area', name(e), hit]); } });
  const counts = ['input[type=radio]', 'input[type=checkbox]', 'a.ref', 'a[href="tel:911"]', '.on-this-page a']
    .map(s => document.querySelectorAll('main ' + s).length);
  return {small, counts};
}"""


def test_controls_rows_crisis_links_reference_markers_and_on_this_page_links_are_big_enough_for_shaky_hands(
        live_server, phone, journey):
    """Radios and checkboxes at least 40x40 px in rows at least 44 px tall; 911 and 988 links, the tap area of
    reference markers and the "On this page" links at least 44 px tall, on every journey page a fusion path shows,
    the emergency page and the request page."""
    answers = next(a for a in reading.complete_answers(journey, "typical")
                   if a.get("surgery") == "fusion" and a.get("hardware_problem") == "yes")
    context = phone(js=True)
    page = context.new_page()
    problems, seen = {}, [0, 0, 0, 0, 0]
    pages = [step for step in journey.expected_route(answers)] + ["urgent", "request"]
    for where in pages:
        context.clear_cookies()
        if where == "request":
            page.goto(live_server.url + "/request")
        elif where == "urgent":
            first = journey.warning_signs.groups[0]
            post_answers(context, live_server.url, journey, answers, until=first.step)
            context.request.post(f"{live_server.url}/journey/{first.step}",
                                 form={g.question_id: (first.signs[0].id if g is first else "none")
                                       for g in journey.warning_signs.groups_on(first.step)}, max_redirects=0)
            page.goto(live_server.url + "/journey/urgent")
            assert page.url.endswith("/journey/urgent")
        else:
            page.goto(post_answers(context, live_server.url, journey, answers, until=where))
        page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")  # research markers too
        found = page.evaluate(SIZES)
        seen = [a + b for a, b in zip(seen, found["counts"], strict=True)]
        if found["small"]:
            problems[where] = found["small"]
    assert all(seen), f"radios, checkboxes, markers, 911 links, 'On this page' links measured: {seen}"
    assert not problems, problems


@pytest.mark.parametrize("js", [True, False])
def test_by_phone_reveals_the_phone_field_and_without_javascript_its_label_says_when_it_is_needed(
        live_server, phone, js):
    page = phone(js=js).new_page()
    page.goto(live_server.url + "/request")
    field = page.locator("#phone")
    label = page.locator("label[for=phone]").inner_text()
    assert label == "Phone number (needed if you choose phone)"
    if not js:  # nothing can reveal it: always there
        assert field.is_visible()
        return
    page.get_by_label("By email").check()
    assert not field.is_visible()
    page.get_by_label("By phone").check()
    assert field.is_visible()
    field.fill("(555) 010-0199")
    page.get_by_label("By email").check()
    assert not field.is_visible()


def test_no_step_asks_for_the_icon_again_it_is_a_data_url_in_the_page(live_server, phone, journey):
    """Counted in the browser: with a linked icon Chromium asked for it after each htmx pushState from its cache, so
    the server never saw it (a count at the server passed with the linked icon)."""
    context = phone(js=True)
    asked = []
    context.on("request", lambda request: asked.append(request.url))
    page = context.new_page()
    page.goto(post_answers(context, live_server.url, journey, answers_reaching(journey, "surgery"), until="surgery"))
    assert page.get_attribute("link[rel=icon]", "href").startswith("data:image/svg+xml,")
    page.wait_for_timeout(500)
    asked.clear()  # from here on, only what the answers bring
    for value in ("fusion", None):
        if value:
            page.check(f"input[name=surgery][value={value}]")
        else:
            page.locator("form.step-form input[type=radio], form.step-form input[type=checkbox]").first.check()
        before = page.url
        page.locator("form.step-form button[type=submit]").click()
        page.wait_for_function("u => location.href !== u", arg=before)
        page.wait_for_timeout(500)  # a late icon request would land here
    paths = [url.split("?")[0].rsplit("/", 2)[-2:] for url in asked]
    assert paths == [["journey", "surgery"], ["journey", "after-surgery"]], asked  # the two answers' posts only


def test_axe_finds_nothing_on_any_page_of_a_fusion_path_in_light_and_dark_mode(live_server, phone, journey):
    """Each page opened once and checked in both colour schemes (it was a walk per scheme)."""
    answers = next(a for a in reading.complete_answers(journey, "typical")
                   if a.get("surgery") == "fusion" and a.get("hardware_problem") == "yes")
    context = phone(js=True, bypass_csp=True)
    page = context.new_page()
    route = journey.expected_route(answers)
    for where in route:
        context.clear_cookies()
        page.goto(post_answers(context, live_server.url, journey, answers, until=where))
        assert_no_axe_violations_light_and_dark(page)
    for path in ("/request", "/references", "/compare", "/privacy"):
        page.goto(live_server.url + path)
        assert_no_axe_violations_light_and_dark(page)


def test_the_back_bar_sticks_only_when_the_viewport_is_at_least_500_px_tall(live_server, phone, journey):
    context = phone(js=True)
    page = context.new_page()
    page.goto(post_answers(context, live_server.url, journey, answers_reaching(journey, "causes"), until="causes"))
    marker = page.locator(".prose a.ref").first
    marker.evaluate("a => { a.removeAttribute('data-hx-get'); }")  # follow the plain link to the references page
    page.goto(live_server.url + "/references?cite=" + marker.get_attribute("id"))
    position = "() => getComputedStyle(document.querySelector('.back-sticky')).position"
    assert page.evaluate(position) == "sticky"
    page.set_viewport_size({"width": 390, "height": 480})
    assert page.evaluate(position) == "static"


def test_in_forced_colours_the_header_band_and_the_relevance_tag_keep_their_edges(live_server, phone, journey):
    context = phone(js=True)
    page = context.new_page()
    answers = next(a for a in reading.complete_answers(journey, "typical")
                   if any(fits for _b, fits in reading.layout(journey.steps["causes"], a).shown))
    page.goto(post_answers(context, live_server.url, journey, answers, until="causes"))
    page.emulate_media(forced_colors="active")
    edges = page.evaluate("""() => [document.querySelector('.site-header'), document.querySelector('.tag')]
        .map(e => { const s = getComputedStyle(e); return [s.borderBottomStyle, parseFloat(s.borderBottomWidth)]; })""")
    assert all(style == "solid" and width >= 1 for style, width in edges), edges
