"""Warning signs (content/warning_signs.yaml): each sign's one tier, its stop page end to end, emergency first, the reminders."""
import itertools
import re
import shutil

import pytest
import yaml

from app import create_app
from clinic.journey import ContentError, load_journey, schema
from clinic.journey.warning_signs import NONE_VALUE, build_warning_signs, landing
from tests.conftest import (
    PHONE,
    ROOT,
    TEST_SECRET,
    LiveServer,
    assert_no_axe_violations_light_and_dark,
    migrated_database,
    new_context,
    route_to_summary,
    walk_to_summary,
)
from tests.helpers import fill_answers, submit_and_wait, submit_request

CONTENT = ROOT / "content"
SIGNS_FILE = CONTENT / "warning_signs.yaml"
JOURNEY = load_journey(CONTENT)
SIGNS = JOURNEY.warning_signs
ALL_SIGNS = SIGNS.signs()
NOTHING = {group.question_id: [NONE_VALUE] for group in SIGNS.groups}


def screen_forms(*signs, until=None):
    """[(screen, form)] a person fills in with these signs ticked (None of these elsewhere), screen by screen until
    the screens send them on, or until the screen `until`."""
    forms, answers, screen = [], {}, SIGNS.screens()[0]
    while screen in SIGNS.screens() and screen != until:
        form = {group.question_id: [s.id for s in signs if s.group == group.id] or [NONE_VALUE]
                for group in SIGNS.groups_on(screen)}
        forms.append((screen, form))
        answers.update(form)
        screen = JOURNEY.next_step(JOURNEY.steps[screen], answers)
    return forms


def ticked(*signs):
    answers = {**NOTHING}
    for sign in signs:
        group = next(g for g in SIGNS.groups if sign in g.signs)
        answers[group.question_id] = [s for s in answers[group.question_id] if s != NONE_VALUE] + [sign.id]
    return answers


# --- the data ---------------------------------------------------------------------------------------------
def test_the_issue_s_signs_are_all_there_in_both_tiers_one_group_a_screen():
    assert [t.id for t in SIGNS.tiers] == ["emergency", "same_day"]
    by_tier = {tier.id: [s for s in ALL_SIGNS if s.tier == tier] for tier in SIGNS.tiers}
    assert len(by_tier["emergency"]) >= 12 and len(by_tier["same_day"]) >= 6
    # Calm screens (issue 19): one group of at most five signs each; the browser test measures Continue's place.
    assert all(len(SIGNS.groups_on(screen)) == 1 for screen in SIGNS.screens())
    assert max(len(group.signs) for group in SIGNS.groups) <= 5
    assert JOURNEY.steps["urgent"].title == "Call 911 or go to the emergency department now"
    assert JOURNEY.steps["same-day"].title == "Call your surgeon's office today"
    labels = " ".join(s.label.lower() for s in ALL_SIGNS)
    for words in ("bladder or bowels", "saddle", "during sex", "foot drop", "unsteady walking", "shortness of breath",
                  "chest pain", "coughing up blood", "stiff neck", "opioids", "100.4 °f (38 °c)", "incision",
                  "sit or stand up", "one calf", "fall or injury", "pump or stimulator"):
        assert words in labels, words


# Issue 17 B: the signs added and reworded in the second clinical pass, with the tier each must have.
NEW_AND_REWORDED = {
    "leg_numbness": ("same_day", "New numbness or tingling in a leg"),
    "incision_bleeding": ("same_day", "Bleeding from your incision that does not stop"),
    "fainting": ("emergency", "Fainting or passing out"),
    "neck_surgery_swallowing_breathing": ("emergency", "After neck surgery: trouble swallowing or breathing"),
    "urine_trouble": ("emergency", "You cannot pass urine at all, or cannot feel when your bladder is full"),
    "sexual_function": ("emergency", "New numbness of your genitals, or new trouble with erections or feeling during sex"),
    "opioid_sleepiness": ("emergency", "while taking opioids, or after a pump refill"),
    "leg_weakness": ("emergency", "Weakness in one or both legs that is new or getting worse"),
}


@pytest.mark.parametrize("sign_id", NEW_AND_REWORDED)
def test_the_second_pass_signs_are_there_with_their_tier_and_words(sign_id):
    tier, words = NEW_AND_REWORDED[sign_id]
    sign = SIGNS.sign(sign_id)
    assert sign is not None and sign.tier.id == tier and words in sign.label
    assert landing(JOURNEY, ticked(sign)) == JOURNEY.warning_signs.tier(tier).stop_step
    assert sign in ALL_SIGNS  # so the browser test below ticks it alone, JavaScript on and off


def test_the_old_wordings_are_gone_and_every_screen_has_one_hint():
    labels = " ".join(s.label for s in ALL_SIGNS)
    assert "Trouble starting to pass urine" not in labels and "loss of sexual function" not in labels
    # "None of these" has its own "or" divider on every screen (issue 19), so the hint does not repeat it.
    assert {group.hint for group in SIGNS.groups} == {"Check each sign you have now."}


def test_every_988_line_on_the_safety_screens_and_stop_pages_says_to_call_911_in_danger():
    for step_id in SIGNS.screens() + sorted(SIGNS.stop_steps()):
        html = str(JOURNEY.steps[step_id].intro_html)
        assert 'href="tel:988"' in html, step_id
        after_988 = html.split('href="sms:988"', 1)[1]
        assert re.search(r'If you are in danger now, <a href="tel:911">call 911</a>', after_988), step_id


def test_every_sign_maps_to_exactly_one_tier_in_the_file_and_in_the_routing():
    raw = yaml.safe_load(SIGNS_FILE.read_text(encoding="utf-8"))
    tier_ids = {t["id"] for t in raw["tiers"]}
    ids = [sign["id"] for group in raw["groups"] for sign in group["signs"]]
    assert len(ids) == len(set(ids)), "a sign id is used twice"
    for group in raw["groups"]:
        for sign in group["signs"]:
            assert isinstance(sign["tier"], str) and sign["tier"] in tier_ids, sign
    # The routing agrees: alone, each sign reaches its own tier's stop page and no other.
    for sign in ALL_SIGNS:
        assert landing(JOURNEY, ticked(sign)) == sign.tier.stop_step, sign.id
    assert landing(JOURNEY, NOTHING) == "surgery"


@pytest.mark.parametrize("change, field", [
    (lambda d: d["groups"][0]["signs"][0].update(tier=["emergency", "same_day"]), "groups[0].signs[0].tier"),
    (lambda d: d["groups"][0]["signs"][0].update(tier="soon"), "groups[0].signs[0].tier"),
    (lambda d: d["groups"][0]["signs"][0].pop("tier"), "groups[0].signs[0].tier"),
    (lambda d: d["groups"][1]["signs"].append(dict(d["groups"][0]["signs"][0], tier="same_day")), "groups[1].signs[4].id"),
    (lambda d: d["groups"][0]["signs"][0].update(urgency="high"), "groups[0].signs[0].urgency"),
])
def test_the_loader_refuses_a_sign_without_exactly_one_known_tier(change, field):
    data = yaml.safe_load(SIGNS_FILE.read_text(encoding="utf-8"))
    change(data)
    with pytest.raises(ContentError) as error:
        build_warning_signs(schema.validate(schema.WarningSignsFile, data, SIGNS_FILE), SIGNS_FILE)
    assert error.value.field_name == field and error.value.source == str(SIGNS_FILE)


def test_a_broken_signs_file_stops_start_up_naming_the_file_and_field(tmp_path):
    content = tmp_path / "content"
    shutil.copytree(CONTENT, content)
    text = (content / "warning_signs.yaml").read_text(encoding="utf-8")
    (content / "warning_signs.yaml").write_text(text.replace("tier: same_day", "tier: sameday", 1), encoding="utf-8")
    with pytest.raises(ContentError, match=r"warning_signs.yaml: field 'groups\[1\].signs\[2\].tier'"):
        load_journey(content)


def test_a_stop_page_that_does_not_exist_stops_start_up(tmp_path):
    content = tmp_path / "content"
    shutil.copytree(CONTENT, content)
    (content / "steps" / "same-day.md").unlink()
    with pytest.raises(ContentError, match=r"warning_signs.yaml: field 'tiers\[1\].stop_step'.*same-day"):
        load_journey(content)


@pytest.mark.parametrize("emergency, same_day", list(itertools.product(
    [s for s in ALL_SIGNS if s.tier.id == "emergency"], [s for s in ALL_SIGNS if s.tier.id == "same_day"])),
    ids=lambda s: s.id)
def test_emergency_wins_when_signs_of_both_tiers_are_ticked(emergency, same_day):
    answers = ticked(emergency, same_day)
    assert landing(JOURNEY, answers) == "urgent"
    assert JOURNEY.warning_tier(answers).id == "emergency"


def test_the_journey_model_names_the_signs_in_a_journey_s_answers_with_label_and_tier():
    calf, chest = SIGNS.sign("calf_pain"), SIGNS.sign("chest_pain")
    found = JOURNEY.warning_signs_in({**ticked(calf, chest), "surgery": "fusion"})
    assert [(s.id, s.label, s.tier.id) for s in found] == [
        ("chest_pain", "Chest pain", "emergency"), ("calf_pain", "Pain or swelling in one calf", "same_day")]
    assert JOURNEY.warning_signs_in(NOTHING) == [] and JOURNEY.warning_tier(NOTHING) is None
    assert JOURNEY.warning_signs_in({}) == []


def test_a_sign_stored_under_its_old_group_is_still_found_after_a_screen_is_split():
    """Requests stored before a group was split (signs_nerves held leg weakness until issue 19) keep their signs."""
    weakness = SIGNS.sign("leg_weakness")
    assert weakness.group != "nerves"
    assert [s.id for s in JOURNEY.warning_signs_in({"signs_nerves": ["leg_weakness", "urine_trouble"]})] == [
        "urine_trouble", "leg_weakness"]
    assert JOURNEY.warning_signs_in({"surgery": "fusion", "tried": ["opioids"]}) == []


# --- the routes -------------------------------------------------------------------------------------------
@pytest.fixture
def client(make_app):
    return make_app(CONTENT_DIR=str(CONTENT), WTF_CSRF_ENABLED=False).test_client()


def answer_screen(client, screen, *signs):
    """Post one safety screen with these signs ticked (None of these for a group without one)."""
    form = {group.question_id: [s.id for s in signs if s.group == group.id] or NONE_VALUE
            for group in SIGNS.groups_on(screen)}
    return client.post(f"/journey/{screen}", data=form)


def answer_screens(client, *signs):
    """Answer the safety screens in order, each sign on its own screen, until they send the person on."""
    screen = SIGNS.screens()[0]
    while screen in SIGNS.screens():
        response = answer_screen(client, screen, *signs)
        assert response.status_code == 303, (screen, response.status_code)
        screen = response.headers["Location"].rsplit("/", 1)[1]
    return screen


def test_nothing_ticked_asks_for_the_signs_or_none_of_these_next_to_the_group(client):
    client.post("/journey/start")
    first = SIGNS.groups[0]
    response = client.post(f"/journey/{first.step}", data={})
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "<title>Error:" in html
    assert f"{first.label}: check each one you have, or check \u201cNone of these\u201d" in html
    assert f'href="#{first.question_id}-0"' in html and f'id="{first.question_id}-error"' in html


def test_none_of_these_together_with_a_sign_is_an_error_not_a_guess(client):
    client.post("/journey/start")
    first = SIGNS.groups[0]
    response = client.post(f"/journey/{first.step}", data={first.question_id: ["none", first.signs[0].id]})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "you checked a sign and \u201cNone of these\u201d" in html
    assert re.search(r'value="none" checked', html) and re.search(rf'value="{first.signs[0].id}" checked', html)  # kept
    second = SIGNS.screens()[1]
    assert client.get(f"/journey/{second}").headers["Location"] == f"/journey/{first.step}"  # not let through


def test_a_same_day_sign_on_an_early_screen_still_asks_the_next_and_an_emergency_there_wins(client):
    client.post("/journey/start")
    screens = SIGNS.screens()
    numbness, fever_neck = SIGNS.sign("leg_numbness"), SIGNS.sign("fever_stiff_neck")
    assert numbness.tier.id == "same_day" and fever_neck.tier.id == "emergency"
    first_screen = next(g.step for g in SIGNS.groups if g.id == numbness.group)
    later_screen = next(g.step for g in SIGNS.groups if g.id == fever_neck.group)
    assert screens.index(first_screen) < screens.index(later_screen)
    assert answer_screens(client, numbness, fever_neck) == "urgent"
    html = client.get("/journey/urgent").get_data(as_text=True)
    assert "A fever with a stiff neck, or a fever with confusion" in html and "New numbness or tingling in a leg" in html
    client.post("/journey/start")
    assert answer_screens(client, numbness) == "same-day"  # alone, after every screen with an emergency sign


def test_stop_pages_have_tap_to_call_buttons_real_headings_and_one_way_back(client):
    client.post("/journey/start")
    assert answer_screens(client, SIGNS.sign("calf_pain")) == "same-day"
    same_day = client.get("/journey/same-day").get_data(as_text=True)
    assert answer_screens(client, SIGNS.sign("urine_trouble")) == "urgent"
    emergency = client.get("/journey/urgent").get_data(as_text=True)
    phone = JOURNEY.clinic_phone
    clinic_tel = "tel:" + re.sub(r"[^\d+]", "", phone)
    for html, first in ((same_day, "What to do today"), (emergency, "What to do now")):
        assert f'<a href="{clinic_tel}">{phone}</a>' in html
        assert f"<h2>{first}</h2>" in html and "<h2>What to tell them</h2>" in html
        assert len(re.findall(r"by mistake", html)) == 1
        assert 'href="tel:988"' in html and 'href="sms:988"' in html
        assert "<strong>" not in html.split(f"<h2>{first}</h2>")[1].split("</ol>")[0]
    # The emergency page leads with the big 911 button; the same-day page has none (issue 17 B): its first
    # action is the surgeon's office, then urgent care, and 911 is a line below.
    assert re.search(r'<a class="button button-call" href="tel:911">', emergency)
    assert "button-call" not in same_day
    office = same_day.index("<p>Call your surgeon's office today. The number is")
    assert office < same_day.index("<h2>If you cannot reach them</h2>") < same_day.index("Go to urgent care today") \
        < same_day.index('href="tel:911"')
    assert "Pain or swelling in one calf" in same_day
    assert "Call 911 or go to the emergency department now" in emergency and "naloxone" in emergency
    assert "You cannot pass urine at all" in emergency


def test_the_safety_screens_keep_not_sure_means_yes_and_show_988(client):
    client.post("/journey/start")
    for screen in SIGNS.screens():
        html = client.get(f"/journey/{screen}").get_data(as_text=True)
        assert "If you are not sure, treat it as yes." in html
        assert 'href="tel:988"' in html and 'href="sms:988"' in html
        group, = SIGNS.groups_on(screen)
        assert html.count('value="none"') == 1 and html.count('type="checkbox"') == len(group.signs) + 1
        answer_screen(client, screen)


def test_the_summary_lists_every_warning_sign_and_the_confirmation_the_emergency_ones(make_app):
    app = make_app(CONTENT_DIR=str(CONTENT), WTF_CSRF_ENABLED=False, REQUEST_RATE_LIMIT="1000 per minute")
    client = app.test_client()
    summary = client.get(walk_to_summary(client, JOURNEY)).get_data(as_text=True)
    assert submit_request(client).status_code == 303
    sent = client.get("/request/sent").get_data(as_text=True)
    for html in (summary, sent):
        assert "If any of these start, don't wait for us" in html and 'href="tel:911"' in html
        for sign in JOURNEY.emergency_signs():
            assert sign.label.replace("'", "&#39;") in html, sign.id
    # The summary (what a patient prints for their doctor) lists every sign under its tier; the confirmation,
    # the emergency ones only.
    for sign in JOURNEY.warning_signs.signs():
        assert sign.label.replace("'", "&#39;") in summary, sign.id
    assert "Pain or swelling in one calf" not in sent
    assert "<details" not in summary.split('id="warning-reminder-title"')[1], "the signs are on the page, not folded"


# --- in a browser: every sign alone, on a fresh journey, with JavaScript on and off, in English and Spanish
@pytest.fixture(scope="module")
def signs_site(tmp_path_factory):
    folder = tmp_path_factory.mktemp("signs")
    # Every sign starts a new journey from 127.0.0.1: lift the per-address limit on new journeys (issue 11 M2).
    database = migrated_database(folder / "clinic.sqlite3")  # create_app never makes the schema
    app = create_app({"TESTING": True, "SECRET_KEY": TEST_SECRET, "DATABASE": str(database),
                      "MAIL_DIR": str(folder / "mail"), "CONTENT_DIR": str(CONTENT),
                      "JOURNEY_CREATE_RATE_LIMIT": "10000 per minute", "WTF_CSRF_ENABLED": False})
    with LiveServer(app) as server:
        yield server


@pytest.fixture(scope="module")
def sign_contexts(browser):
    """One phone context per JavaScript setting, reused by every sign (cookies cleared between them)."""
    contexts = {js: new_context(browser, java_script_enabled=js, **PHONE) for js in (True, False)}
    yield contexts
    for context in contexts.values():
        context.close()


@pytest.fixture(scope="module")
def sign_pages(sign_contexts):
    """One page in each of those contexts, reused by every sign and language (a new page per sign cost more than
    the sign's own screens)."""
    return {js: context.new_page() for js, context in sign_contexts.items()}


def tick_alone_and_send(page, base, journey, sign, js):
    """On a fresh journey at `base` ('' or a language's prefix, /es), tick `sign` alone in the browser and send the
    screens (htmx with JavaScript, plain forms without) until they stop; then check the stop page is its tier's.

    The screens before the sign's own are answered "None of these" by plain posts (six screens, walked in the
    browser 44 times, took a minute); from the sign's own screen on, the browser ticks and sends."""
    context, signs = page.context, journey.warning_signs
    context.clear_cookies()
    own = next(group.step for group in signs.groups if group.id == sign.group)
    assert context.request.post(f"{base}/journey/start", max_redirects=0).status == 303
    for screen, form in screen_forms(sign, until=own):  # the routing is the English data in every language
        none = {name: values[0] for name, values in form.items()}  # "None of these": one value each
        response = context.request.post(f"{base}/journey/{screen}", form=none, max_redirects=0)
        assert response.status == 303, (screen, response.status)
    page.goto(f"{base}/journey/{own}")
    while page.locator(f"input[name^=signs_][value={NONE_VALUE}]").count():
        for group in signs.groups_on(page.url.rsplit("/", 1)[1]):
            value = sign.id if sign.group == group.id else NONE_VALUE
            page.locator(f"input[name={group.question_id}][value={value}]").check()
        _submit_and_wait(page, js)
    assert page.url.endswith("/journey/" + sign.tier.stop_step)
    assert page.get_attribute("html", "lang") == journey.language
    assert page.inner_text("h1") == journey.steps[sign.tier.stop_step].title
    assert sign.label in page.inner_text(".signs-given")
    if sign.tier.rank == 0:  # the emergency page's big button is 911
        assert page.get_attribute(".button-call", "href") == "tel:911"
    else:  # the same-day page has no big button: the surgeon's office comes first, 911 is a line below
        assert page.locator(".button-call").count() == 0
    assert page.locator("main a[href='tel:988']").count() and page.locator("main a[href='tel:911']").count()


@pytest.mark.browser
@pytest.mark.parametrize("js", [True, False], ids=["js", "no-js"])
@pytest.mark.parametrize("sign", ALL_SIGNS, ids=lambda s: s.id)
def test_each_sign_ticked_alone_lands_on_its_tier_s_stop_page(signs_site, sign_pages, sign, js):
    tick_alone_and_send(sign_pages[js], signs_site.url, JOURNEY, sign, js)


@pytest.mark.browser
@pytest.mark.parametrize("js", [True, False], ids=["js", "no-js"])
@pytest.mark.parametrize("sign_id", [s.id for s in ALL_SIGNS])
def test_each_sign_ticked_alone_in_spanish_lands_on_its_tier_s_spanish_stop_page(signs_site, sign_pages, sign_id, js):
    """Issue 20: the same routing in /es/, every sign, JavaScript on and off; the stop page is in Spanish and its
    988 line says to press 2 for Spanish."""
    page, spanish = sign_pages[js], signs_site.app.extensions["journeys"]["es"]
    tick_alone_and_send(page, signs_site.url + "/es", spanish, spanish.warning_signs.sign(sign_id), js)
    assert "oprima 2" in page.inner_text("main")


@pytest.mark.browser
@pytest.mark.parametrize("js", [True, False], ids=["js", "no-js"])
def test_on_the_same_day_page_the_surgeon_s_office_comes_before_any_911_link(signs_site, sign_contexts, js):
    """Chromium at 390x844: the first thing to do, on screen and in reading order, is to call the surgeon's office."""
    context = sign_contexts[js]
    context.clear_cookies()
    page = context.new_page()
    try:
        page.goto(signs_site.url + "/")
        _submit_and_wait(page, js)
        for _screen, form in screen_forms(SIGNS.sign("calf_pain")):
            fill_answers(page, form)
            _submit_and_wait(page, js)
        assert page.url.endswith("/journey/same-day") and page.viewport_size == {"width": 390, "height": 844}
        office = page.get_by_text("Call your surgeon's office today. The number is", exact=False)
        first_911 = page.locator("main a[href='tel:911']").first
        assert page.locator(".button-call").count() == 0
        # Earlier in the document, and higher on the screen.
        assert office.evaluate("(el, other) => !!(el.compareDocumentPosition(other) & Node.DOCUMENT_POSITION_FOLLOWING)",
                               first_911.element_handle())
        assert office.bounding_box()["y"] < first_911.bounding_box()["y"]
        assert page.get_by_text("Go to urgent care today").bounding_box()["y"] < first_911.bounding_box()["y"]
    finally:
        page.close()


@pytest.mark.browser
@pytest.mark.parametrize("where", ["safety", "safety-more", "urgent", "same-day", "summary"])
def test_crisis_links_are_at_least_44_by_44_px(signs_site, sign_contexts, where):
    """Every 911 and 988 link on the safety screens, the stop pages and the summary is a 44x44 px target."""
    context = sign_contexts[True]
    context.clear_cookies()
    page = context.new_page()
    try:
        page.goto(signs_site.url + "/")
        _submit_and_wait(page, True)
        if where == "summary":
            route = [form for step, form in route_to_summary(JOURNEY)[:-1] if step.id != JOURNEY.first_step]
        else:
            signs = {"urgent": [SIGNS.sign("foot_drop")], "same-day": [SIGNS.sign("calf_pain")]}.get(where, [])
            route = [form for _screen, form in screen_forms(*signs, until=where)]
        for form in route:
            fill_answers(page, form)
            _submit_and_wait(page, True)
        assert page.url.endswith("/journey/" + where)
        links = page.locator("main a[href^='tel:911'], main a[href^='tel:988'], main a[href^='sms:988']")
        assert links.count() >= (1 if where == "summary" else 2), where
        for index in range(links.count()):
            box = links.nth(index).bounding_box()
            assert box["width"] >= 44 and box["height"] >= 44, (where, links.nth(index).get_attribute("href"), box)
    finally:
        page.close()


def _submit_and_wait(page, js):
    submit_and_wait(page)
    if js:  # htmx swapped the step: wait until its heading has focus, so the next step is all there
        page.wait_for_function("() => document.activeElement && document.activeElement.id === 'step-title'")


@pytest.mark.browser
def test_safety_screens_their_errors_and_both_stop_pages_are_axe_clean_in_light_and_dark_mode(live_server, phone):
    page = phone(js=True, bypass_csp=True).new_page()
    page.goto(live_server.url + "/")
    _submit_and_wait(page, js=True)
    # Nothing ticked: the group needs an answer (the script keeps "None of these" and a sign from both being ticked).
    page.locator("form.step-form button[type=submit]").click()
    page.wait_for_selector(".error-summary")
    assert_no_axe_violations_light_and_dark(page)
    # The screens themselves: axe checks them on a fusion path in light and dark (test_question_pages_browser.py).
    forms = screen_forms(SIGNS.sign("calf_pain"))
    for screen, form in forms:
        assert page.url.endswith(f"/journey/{screen}")
        fill_answers(page, form)
        _submit_and_wait(page, js=True)
    assert page.url.endswith("/journey/same-day")
    assert_no_axe_violations_light_and_dark(page)
    page.goto(f"{live_server.url}/journey/{forms[-1][0]}")  # back to the last screen, and an emergency sign there
    emergency = next(s for s in SIGNS.groups_on(forms[-1][0])[0].signs if s.tier.rank == 0)
    fill_answers(page, {SIGNS.groups_on(forms[-1][0])[0].question_id: [emergency.id]})
    _submit_and_wait(page, js=True)
    assert page.url.endswith("/journey/urgent")
    assert_no_axe_violations_light_and_dark(page)
