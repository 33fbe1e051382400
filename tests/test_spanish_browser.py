"""The Spanish guide at /es/ in Chromium on a phone (issue 20 C): walked to a sent request with JavaScript on and off,
every page in Spanish (lang, hreflang, no English interface text, axe-clean), every warning sign routed as in English,
and a Spanish self-harm phrasing flagged for staff.

Cheap by design (the suite has a budget): every sign is routed with the Flask client (tests/test_spanish_site.py) and
ticked alone in Chromium with JavaScript on and off (tests/test_warning_signs.py, the English test's walk at /es/);
here one sign per tier is walked from /es/ by taps, its stop page checked for English and by axe. axe checks every
page of the walks with JavaScript on; with it off, the request pages and one step of each layout (the page's DOM is
checked in a page that can run axe).
"""
import re

import pytest
from babel.messages.pofile import read_po

from tests.conftest import (
    AXE,
    PHONE,
    ROOT,
    TEST_SECRET,
    assert_no_axe_violations,
    assert_no_axe_violations_without_javascript,
    new_context,
    route_to_summary,
)
from tests.helpers import fill_answers, submit_and_wait
from tests.support.spanish_site import screen_forms, serve_spanish_site, stored_request

CONTENT = ROOT / "content"
CATALOG = ROOT / "translations" / "es" / "LC_MESSAGES" / "messages.po"
SITE_CONFIG = {"TESTING": True, "SECRET_KEY": TEST_SECRET, "CONTENT_DIR": str(CONTENT), "REQUEST_MIN_SECONDS": 0,
               "JOURNEY_CREATE_RATE_LIMIT": "10000 per minute", "REQUEST_RATE_LIMIT": "1000 per minute",
               "OUTBOX_AUTOSEND": False}


def _english_messages():
    """Interface messages whose Spanish differs, as fragments to look for on a Spanish page: the parts of each
    msgid between its %(name)s placeholders, of two words or more, and the one-word ones as whole words."""
    with CATALOG.open("rb") as handle:
        catalog = read_po(handle)
    phrases, words = set(), set()
    for message in catalog:
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if not message.id or any(i == s for i, s in zip(ids, strings, strict=False)):
            continue
        for msgid in ids:
            for fragment in re.split(r"%\([a-z_]+\)[sd]|%[sd]|\{[a-z_]+\}", msgid):
                fragment = " ".join(fragment.split()).strip(" .,:;()")
                if len(fragment.split()) >= 2:
                    phrases.add(fragment)
                elif re.fullmatch(r"[A-Z][a-z]{3,}", fragment):
                    words.add(fragment)
    return phrases, words


ENGLISH_PHRASES, ENGLISH_WORDS = _english_messages()
# The page's text a Spanish reader reads: not the link to the English page (lang="en"), not reference citations.
VISIBLE_TEXT = """() => {
  const copy = document.body.cloneNode(true);
  copy.querySelectorAll('[lang]:not([lang^="es"]), script, style, template, [hidden]').forEach(e => e.remove());
  return copy.innerText + ' ' + [...copy.querySelectorAll('[aria-label]')].map(e => e.getAttribute('aria-label')).join(' ');
}"""


# Words a Spanish page has no business showing: English text never wrapped in gettext is in no catalog at all.
ENGLISH_FUNCTION_WORDS = re.compile(r"\b(the|and|your|you|with|this|what|which|of|to|is|are|page|continue|save|"
                                    r"later|again|please|optional|none)\b", re.I)


# Names kept as published, in any language: a journal's title.
PROPER_NAMES = ("The Korean Journal of Pain",)


def english_left(text):
    """The English interface messages found in a page's text, and any English function words."""
    for name in PROPER_NAMES:
        text = text.replace(name, " ")
    found = [phrase for phrase in ENGLISH_PHRASES if phrase in text]
    found += [f"…{text[max(0, m.start() - 30):m.end() + 30]}…" for m in ENGLISH_FUNCTION_WORDS.finditer(text)]
    found += [word for word in ENGLISH_WORDS if re.search(rf"\b{word}\b", text)]
    return sorted(found)


def assert_spanish_page(page, base):
    """lang="es" on <html>, hreflang alternates for en, es and x-default, the header's link to English, no English
    interface text."""
    assert page.get_attribute("html", "lang") == "es", page.url
    hreflang = {link.get_attribute("hreflang"): link.get_attribute("href")
                for link in page.locator("link[rel=alternate][hreflang]").all()}
    assert set(hreflang) == {"en", "es", "x-default"}, (page.url, hreflang)
    assert "/es/" in hreflang["es"] and "/es/" not in hreflang["en"] and hreflang["x-default"] == hreflang["en"]
    assert page.locator("a[hreflang=en][lang=en]").count() >= 1, page.url
    left = english_left(page.evaluate(VISIBLE_TEXT))
    assert not left, f"English interface text on {page.url}: {left[:8]}"


def layout(journey, step):
    """What a step's page is made of: the first page or not, its kind, and its questions' types. Without
    JavaScript the steps' markup is the server's, which the walk with JavaScript checks on every step (the script
    changes little): axe checks one step of each layout there (8 of 18, about 0.4 s each)."""
    return step.id == journey.first_step, step.kind, tuple(question.type for question in step.questions)


@pytest.fixture(scope="module")
def axe_page(browser):
    """A page with JavaScript on that bypasses CSP: where axe checks the pages shown with JavaScript off."""
    context = new_context(browser, java_script_enabled=True, bypass_csp=True, **PHONE)
    context.add_init_script(path=str(AXE))  # in every document it opens: cheaper than a script tag each time
    yield context.new_page()
    context.close()


def check_axe(page, js, axe_page):
    """axe on the page as Chromium shows it, with JavaScript on or off."""
    if js:
        assert_no_axe_violations(page)
    else:
        assert_no_axe_violations_without_javascript(page, axe_page)


@pytest.fixture(scope="module")
def spanish_site(tmp_path_factory):
    yield from serve_spanish_site(tmp_path_factory)


@pytest.mark.browser
@pytest.mark.parametrize("js", [True, False], ids=["js", "no-js"])
def test_es_walked_end_to_end_to_a_sent_request_every_page_in_spanish(browser, spanish_site, axe_page, js):
    app, base = spanish_site.app, spanish_site.url
    spanish = app.extensions["journeys"]["es"]
    context = new_context(browser, java_script_enabled=js, bypass_csp=True, **PHONE)
    page = context.new_page()
    try:
        page.goto(base + "/es/")
        route = route_to_summary(spanish)
        layouts = set()  # without JavaScript, axe checks the first step of each layout (with it, every step)
        for step, form in route:
            assert_spanish_page(page, base)
            if js or layout(spanish, step) not in layouts:
                check_axe(page, js, axe_page)
                layouts.add(layout(spanish, step))
            if step is route[-1][0]:
                break
            fill_answers(page, form)
            submit_and_wait(page)
        assert page.url.endswith(f"/es/journey/{route[-1][0].id}")

        page.locator("main a[href$='/es/request']").first.click()
        page.wait_for_url(re.compile(r"/es/request$"))
        assert_spanish_page(page, base)
        page.fill("input[name=name]", "Alex Ejemplo")
        page.fill("input[name=email]", "alex@example")  # a mistake: the message next to the field is in Spanish
        page.check("input[name=contact_by][value=email]")
        page.fill("textarea[name=description]", "Me volvió el dolor en la pierna un año después de la fusión.")
        page.check("input[name=consent]")
        send = page.locator("form:has(textarea[name=description]) button[type=submit]")
        send.click()
        page.locator(".error-summary").wait_for()
        assert_spanish_page(page, base)
        check_axe(page, js, axe_page)
        assert page.input_value("input[name=name]") == "Alex Ejemplo"  # what was typed is kept
        page.fill("input[name=email]", "alex@example.com")
        if not page.is_checked("input[name=consent]"):
            page.check("input[name=consent]")
        send.click()
        page.wait_for_url(re.compile(r"/es/request/sent"))
        assert_spanish_page(page, base)
        check_axe(page, js, axe_page)
        reference = re.search(r"FBS-[2-9A-Z]{4}", page.inner_text("main")).group(0)
    finally:
        context.close()
    stored = stored_request(app, reference)
    assert stored["answers_language"] == "es" and stored["content_version"] == spanish.version
    assert stored["answer_values"]  # the same ids an English request stores


@pytest.mark.browser
@pytest.mark.parametrize("js", [True, False], ids=["js", "no-js"])
def test_one_sign_of_each_tier_ticked_in_chromium_lands_on_its_spanish_stop_page(browser, spanish_site, axe_page, js):
    app, base = spanish_site.app, spanish_site.url
    spanish = app.extensions["journeys"]["es"]
    context = new_context(browser, java_script_enabled=js, bypass_csp=True, **PHONE)
    try:
        for tier in spanish.warning_signs.tiers:
            # The tier's sign that reaches its stop page in the fewest screens (every sign is routed, server side,
            # in tests/test_spanish_site.py, and in Chromium in tests/test_warning_signs.py): this walks from /es/.
            sign = min((s for s in spanish.warning_signs.signs() if s.tier.id == tier.id),
                       key=lambda s: len(screen_forms(spanish, s)[0]))
            context.clear_cookies()
            page = context.new_page()
            page.goto(base + "/es/")
            submit_and_wait(page)
            for _screen, form in screen_forms(spanish, sign)[0]:
                fill_answers(page, form)
                submit_and_wait(page)
            assert page.url.endswith(f"/es/journey/{tier.stop_step}")
            assert page.get_attribute("html", "lang") == "es"
            assert page.inner_text("h1") == spanish.steps[tier.stop_step].title
            assert sign.label in page.inner_text(".signs-given")
            assert_spanish_page(page, base)  # the stop page too: lang, hreflang, no English
            check_axe(page, js, axe_page)
            page.close()
    finally:
        context.close()


@pytest.mark.browser
def test_the_longest_spanish_path_shows_the_words_reading_py_counts(browser, spanish_site):
    """The 1,800-word limit and the Spanish start page's minutes rest on reading.py's count of the Spanish: on the
    longest typical Spanish path, each step shows in Chromium as many words as it counts (the pages opened in
    turn, each step's answers posted, not tapped)."""
    from urllib.parse import urlencode

    from clinic.journey import reading
    from tests.helpers import COUNT_WORDS

    app, base = spanish_site.app, spanish_site.url
    spanish = app.extensions["journeys"]["es"]
    plans = reading.longest_paths(spanish)
    surgery, plan = max(plans.items(), key=lambda item: reading.path_words(spanish, item[1]))
    context = new_context(browser, java_script_enabled=True, **PHONE)
    differ = {}
    try:
        page = context.new_page()
        for step_id in spanish.expected_route(plan):
            page.goto(f"{base}/es/" if step_id == spanish.first_step else f"{base}/es/journey/{step_id}")
            shown, counted = page.evaluate(COUNT_WORDS), reading.step_words(spanish, spanish.steps[step_id], plan)
            if shown != counted:
                differ[step_id] = (shown, counted)
            form = {q.id: plan[q.id] for q in spanish.steps[step_id].questions if q.id in plan}
            if spanish.steps[step_id].kind != "summary":
                form["csrf_token"] = page.locator("form.step-form input[name=csrf_token]").input_value()
                response = context.request.post(f"{base}/es/journey/{step_id}", data=urlencode(form, doseq=True),
                                                max_redirects=0,
                                                headers={"Content-Type": "application/x-www-form-urlencoded"})
                assert response.status == 303, (step_id, response.status)
    finally:
        context.close()
    assert not differ, f"surgery={surgery}: Spanish words shown and counted differ (step: shown, counted): {differ}"
    assert reading.path_words(spanish, plan) <= reading.word_limit(spanish)
