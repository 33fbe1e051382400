"""Flagged requests: a warning sign in the journey answers or a listed phrase in the description puts a request
first in the staff list, with a banner on its page and a column in the CSV; the staff email stays free of why."""
import csv
import io
import re
import shutil
from email import message_from_bytes

import pytest

from clinic import triage
from clinic.journey import ContentError, conditions_hold, load_journey
from tests.conftest import ROOT, content_dir, route_to_stop, walk_to_summary
from tests.helpers import submit_request
from tests.test_html_valid import html_problems
from tests.test_requests import deliver, rows
from tests.test_staff import FAST_ARGON2, Clock, add_request, create_staff, sign_in

FIXTURE_CONTENT = ROOT / "tests" / "fixtures" / "content"


# --- phrases in the description -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def phrases():
    return triage.load_triage(ROOT / "content").phrases


@pytest.mark.parametrize("text, found", [
    ("I can't feel my legs since yesterday", ["can't feel my legs"]),
    ("I can\u2019t feel my legs since yesterday", ["can't feel my legs"]),  # a phone's curly apostrophe
    ("I CANT FEEL MY LEGS", ["can't feel my legs"]),  # apostrophe left out, shouting
    ("i can't\n   feel my\tlegs", ["can't feel my legs"]),  # line breaks and runs of spaces
    ("My legs are numb and my bladder leaks.", ["numb", "bladder"]),  # in the order the patient wrote them
    ("Numbness in my foot, and now a Fever.", ["numbness", "fever"]),
    ("I want to kill myself", ["kill myself"]),
    ("Some days I think about suicide.", ["suicide"]),
    ("Sharp chest pain when I walk.", ["chest pain"]),
])
def test_listed_phrases_are_found_whatever_the_case_apostrophe_or_spacing(phrases, text, found):
    assert phrases.find(text) == found


@pytest.mark.parametrize("text", [
    "I counted the numbers of pills.",  # numb inside another word
    "They took out my gallbladder in 2019.",  # bladder inside another word
    "Feverfew tea did not help.",
    "My leg pain came back a year after my fusion.",
    "",
])
def test_words_that_only_contain_a_phrase_do_not_match(phrases, text):
    assert phrases.find(text) == []


def test_a_phrase_list_in_content_is_checked_at_start_up(tmp_path):
    for name, text, field in [
        ("missing", None, "file"),
        ("empty", "phrases: []\nbanner: {}\n", "phrases"),
        ("twice", "phrases: [numb, Numb]\n", "phrases[1]"),
        ("blank", "phrases: [numb, '  ']\n", "phrases[1]"),
        ("no-banner", "phrases: [numb]\n", "banner"),
        ("no-action", "phrases: [numb]\nbanner: {heading: a, signs_intro: b, words_intro: c}\n", "banner.action"),
        ("unknown", "phrases: [numb]\nphrase: [x]\n", "phrase"),
    ]:
        folder = tmp_path / name
        folder.mkdir()
        if text is not None:
            (folder / "triage.yaml").write_text(text, encoding="utf-8")
        with pytest.raises(ContentError) as caught:
            triage.load_triage(folder)
        assert caught.value.field_name == field and "triage.yaml" in str(caught.value), name


def test_the_app_refuses_to_start_with_a_broken_phrase_list(make_app, tmp_path):
    content = tmp_path / "content"
    shutil.copytree(FIXTURE_CONTENT, content)
    (content / "triage.yaml").write_text("phrases: numb\n", encoding="utf-8")
    with pytest.raises(ContentError, match="phrases"):
        make_app(CONTENT_DIR=str(content))


# --- warning signs from the journey's routing ------------------------------------------------------------
def test_an_answer_that_leads_to_a_stop_page_is_a_warning_sign_and_other_answers_are_not():
    journey = load_journey(FIXTURE_CONTENT)
    walked = {"start", "causes"}  # info steps seen on the way
    base = {"surgery": "fusion"} if journey.question("surgery") else {}
    signs = triage.warning_signs(journey, {**base, "bladder": "yes"}, walked)
    assert [(s.label, s.tier) for s in signs] == [("Bladder trouble?", "")]  # no tiers without warning_signs.yaml
    assert triage.warning_signs(journey, {**base, "bladder": "no"}, walked) == []
    assert triage.warning_signs(journey, {}, set()) == []


def route_to_warning_sign(journey, target=None):
    """[(step, form)] from the first step to a stop page (or the stop page `target`), found by trying options on
    the content's own rules, and the warning-sign labels of the answers that sent the person there."""
    route, answers = route_to_stop(journey, target)
    # Every answer on that screen that one of its rules sends to a stop page, not only the first one.
    screen = route[-2][0]
    expected = []
    for rule in screen.rules:
        target = journey.steps.get(rule.goto)
        if target is None or target.kind != "stop" or not conditions_hold(rule.when, answers):
            continue
        for question_id, values in rule.when.items():
            question = journey.question(question_id)
            chosen = answers[question_id] if isinstance(answers[question_id], list) else [answers[question_id]]
            labels = ([question.summary_label] if question.type == "single"
                      else [question.label_for(v) for v in chosen if v in values])
            expected += [label for label in labels if label not in expected]
    return route, expected


# --- end to end: patient to staff ------------------------------------------------------------------------
@pytest.fixture
def clinic(make_app, smtp_server):
    """The real content, staff signed in, mail to a real SMTP server on loopback."""
    app = make_app(CONTENT_DIR=str(content_dir()), WTF_CSRF_ENABLED=False, STAFF_ARGON2=FAST_ARGON2,
                   STAFF_CLOCK=Clock(), REQUEST_RATE_LIMIT="1000 per minute", **smtp_server.config())
    create_staff(app)
    staff = app.test_client()
    assert sign_in(staff).status_code == 303
    return app, staff


def list_items(page):
    """(reference, flagged?) for each request in the list, in the order shown."""
    return [(ref, 'class="flagged"' in attrs)
            for attrs, ref in re.findall(r"<li([^>]*)>\s*<a href=\"/staff/requests/(FBS-[0-9A-Z]{4})\"", page)]


def csv_rows(staff):
    text = staff.post("/staff/export.csv").get_data(as_text=True).lstrip("\ufeff")
    return {row["reference"]: row for row in csv.DictReader(io.StringIO(text))}


def reference_of(app, description):
    return rows(app, "SELECT reference FROM requests WHERE description = ?", (description,))[0]["reference"]


def test_a_journey_that_stopped_at_a_warning_sign_page_then_sent_a_request_is_flagged_everywhere(clinic):
    app, staff = clinic
    journey = app.extensions["journey"]
    older = add_request(app, created_at=1_700_000_000, name="Older Ordinary")

    patient = app.test_client()
    route, signs = route_to_warning_sign(journey)
    for step, form in route[:-1]:
        assert patient.post(f"/journey/{step.id}", data=form).status_code == 303, step.id
    assert patient.get(f"/journey/{route[-1][0].id}").status_code == 200  # the stop page
    description = "My leg pain came back a year after my fusion."
    assert submit_request(patient, description=description).status_code == 303  # /request opened directly
    flagged = reference_of(app, description)
    newer = add_request(app, name="Newer Ordinary")  # arrived after the flagged one

    page = staff.get("/staff").get_data(as_text=True)
    assert list_items(page) == [(flagged, True), (newer, False), (older, False)]
    assert re.search(r"<strong>3</strong> new requests, <strong class=\"flag-count\">1 flagged</strong>", page)
    assert re.search(r"New <span class=\"staff-tab-count\">\(3, 1 flagged\)</span>", page)
    assert page.count('<span class="flag-marker">Flagged</span>') == 1

    banner_text = app.extensions["triage"].banner
    detail = staff.get(f"/staff/requests/{flagged}").get_data(as_text=True)
    banner = re.search(r'<section class="flag-banner".*?</section>', detail, re.S).group(0)
    assert banner_text["heading"] in banner and banner_text["action"] in banner
    assert banner.startswith('<section class="flag-banner"') and "Contact this person today; if you cannot reach them" in banner
    tiers = {s.label: s.tier.label for s in journey.warning_signs.signs()} if journey.warning_signs else {}
    for label in signs:
        shown = f"<strong>{tiers[label]}:</strong> {label}" if tiers else label
        assert f"<li>{shown}</li>" in banner, label
    assert "The description mentions" not in banner
    assert detail.index("flag-banner") < detail.index("Contact details")  # the page opens with it
    assert "flag-banner" not in staff.get(f"/staff/requests/{newer}").get_data(as_text=True)

    exported = csv_rows(staff)
    assert exported[flagged]["flagged"] == "yes" and exported[flagged]["warning_signs"] == "; ".join(signs)
    assert exported[flagged]["flag_words"] == ""
    assert exported[newer]["flagged"] == "no" and exported[newer]["warning_signs"] == ""


def test_a_description_saying_i_cant_feel_my_legs_is_flagged_with_the_words_it_used(clinic):
    app, staff = clinic
    description = "I can\u2019t feel my legs since yesterday, and they are numb."
    assert submit_request(app.test_client(), description=description).status_code == 303
    reference = reference_of(app, description)
    stored = rows(app, "SELECT flagged, warning_signs, flag_words FROM requests")[0]
    assert stored["flagged"] == 1 and stored["warning_signs"] is None

    page = staff.get("/staff").get_data(as_text=True)
    assert list_items(page) == [(reference, True)]
    detail = staff.get(f"/staff/requests/{reference}").get_data(as_text=True)
    assert "The description mentions: <strong>can&#39;t feel my legs, numb</strong>" in detail
    assert "In the guide they reported" not in detail
    assert csv_rows(staff)[reference]["flag_words"] == "can't feel my legs, numb"


def test_an_ordinary_request_is_not_flagged(clinic):
    app, staff = clinic
    patient = app.test_client()
    walk_to_summary(patient, app.extensions["journey"])  # a whole journey with no warning sign
    assert submit_request(patient, description="My leg pain came back a year after my fusion.").status_code == 303
    stored = rows(app, "SELECT reference, flagged, warning_signs, flag_words, journey_answers FROM requests")[0]
    assert stored["journey_answers"] and (stored["flagged"], stored["warning_signs"], stored["flag_words"]) == (0, None, None)
    page = staff.get("/staff").get_data(as_text=True)
    assert "flag-marker" not in page and "flagged" not in page.lower().replace("not flagged", "")
    assert "flag-banner" not in staff.get(f"/staff/requests/{stored['reference']}").get_data(as_text=True)
    assert csv_rows(staff)[stored["reference"]]["flagged"] == "no"


@pytest.mark.parametrize("tier_rank", [0, 1], ids=["most-urgent-tier", "next-tier"])
def test_each_tier_of_warning_sign_flags_the_request_and_the_banner_names_the_tier(clinic, tier_rank):
    app, staff = clinic
    journey = app.extensions["journey"]
    if not journey.warning_signs or len(journey.warning_signs.tiers) <= tier_rank:
        pytest.skip("the content has no such tier")
    tier = journey.warning_signs.tiers[tier_rank]
    patient = app.test_client()
    route, labels = route_to_warning_sign(journey, target=tier.stop_step)
    for step, form in route[:-1]:
        assert patient.post(f"/journey/{step.id}", data=form).status_code == 303, step.id
    assert submit_request(patient).status_code == 303
    reference = rows(app, "SELECT reference FROM requests")[0]["reference"]
    banner = re.search(r'<section class="flag-banner".*?</section>',
                       staff.get(f"/staff/requests/{reference}").get_data(as_text=True), re.S).group(0)
    assert labels and all(f"<strong>{tier.label}:</strong> {label}</li>" in banner for label in labels)


def test_answers_the_patient_chose_not_to_send_do_not_flag_the_request(clinic):
    app, staff = clinic
    patient = app.test_client()
    route, _ = route_to_warning_sign(app.extensions["journey"])
    for step, form in route[:-1]:
        patient.post(f"/journey/{step.id}", data=form)
    assert submit_request(patient, include_answers=None).status_code == 303
    stored = rows(app, "SELECT flagged, warning_signs, journey_answers FROM requests")[0]
    assert stored == {"flagged": 0, "warning_signs": None, "journey_answers": None}


def test_the_staff_email_of_a_flagged_request_says_priority_and_carries_no_health_words(clinic, smtp_server):
    app, _ = clinic
    patient = app.test_client()
    route, signs = route_to_warning_sign(app.extensions["journey"])
    for step, form in route[:-1]:
        patient.post(f"/journey/{step.id}", data=form)
    description = "I can't feel my legs and my bladder leaks."
    assert submit_request(patient, description=description).status_code == 303
    assert submit_request(app.test_client(), description="My leg pain came back a year after my fusion.").status_code == 303
    assert deliver(app)["sent"] == 2

    mails = [message_from_bytes(raw) for _, _, raw in smtp_server.messages]
    subjects = sorted(m["Subject"] for m in mails)
    assert subjects == ["New second-opinion request", "New second-opinion request (priority)"]
    flagged = next(m for m in mails if "(priority)" in m["Subject"])
    whole = flagged.as_string().lower()
    health_words = set(app.extensions["triage"].phrases.phrases) | {"legs", "leaks", "warning", "urgent"}
    for label in signs:
        health_words |= {w for w in re.findall(r"[a-z]{4,}", label.lower())}
    health_words -= {"your", "this", "that", "with", "have", "from", "new"}  # words any email may hold
    for word in sorted(health_words):
        assert not re.search(rf"(?<![a-z]){re.escape(word.lower())}(?![a-z])", whole), word


def test_staff_pages_with_a_flagged_request_are_valid_html(clinic, tmp_path):
    app, staff = clinic
    flagged = add_request(app, flag=triage.Flag(signs=(triage.WarningSign("New numbness in the saddle area", "Emergency"),),
                                                words=("numb", "bladder")))
    add_request(app, name="Ordinary Patient")
    paths = {"list": "/staff", "request": f"/staff/requests/{flagged}", "audit": "/staff/audit"}
    pages = {name: staff.get(path).get_data(as_text=True) for name, path in paths.items()}
    pages["sign-in"] = app.test_client().get("/staff/sign-in").get_data(as_text=True)
    problems = html_problems(pages, tmp_path)
    assert not problems, "\n".join(problems)
