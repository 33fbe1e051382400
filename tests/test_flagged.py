"""Flagged requests: a warning sign in the journey answers or a concept in the description (self-harm, weakness, ...)
puts a request first in the staff list, with a banner on its page and a column in the CSV; the patient is asked to
call today instead of being promised a reply in 2 working days; the staff email stays free of why."""
import json
import re
import shutil
import sqlite3
import subprocess
import sys
from email import message_from_bytes

import pytest

from clinic import triage
from clinic.db import DatabaseBusy, DatabaseError
from clinic.journey import ContentError, conditions_hold, load_journey
from clinic.requests import RequestStore
from tests.conftest import ROOT, content_dir, route_to_stop, walk_to_summary
from tests.helpers import deliver, submit_request
from tests.support import storage
from tests.support.flagged import ORDINARY, PATIENT_PHRASINGS, banner_of, concepts_in, csv_rows, reference_of
from tests.support.html_check import html_problems
from tests.support.staff import FAST_ARGON2, Clock, add_request, create_staff, db, sign_in
from tests.support.storage import run

pytestmark = pytest.mark.both_databases

FIXTURE_CONTENT = ROOT / "tests" / "fixtures" / "content"


# --- concepts in the description -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def real_triage():
    return triage.load_triage(ROOT / "content")


def test_at_least_40_phrasings_8_of_them_self_harm():
    assert len(PATIENT_PHRASINGS) >= 40
    assert sum(concept == "self_harm" for _, concept in PATIENT_PHRASINGS) >= 8


@pytest.mark.parametrize("text, concept", PATIENT_PHRASINGS, ids=[t for t, _ in PATIENT_PHRASINGS])
def test_how_patients_write_a_warning_sign_is_flagged_with_its_concept(real_triage, text, concept):
    found = real_triage.assess([], text)
    assert found.flagged and concept in concepts_in(found.words), [str(m) for m in found.words]


def test_at_least_15_ordinary_descriptions():
    assert len([t for t in ORDINARY if t]) >= 15


@pytest.mark.parametrize("text", ORDINARY)
def test_an_ordinary_description_is_not_flagged(real_triage, text):
    found = real_triage.assess([], text)
    assert not found.flagged, [str(m) for m in found.words]


def test_the_flag_names_the_concept_and_the_words_as_the_patient_wrote_them(real_triage):
    found = real_triage.assess([], "I have been thinking of killing myself")
    assert [str(m) for m in found.words] == ["self-harm (thinking of killing myself)"]
    # A phone's curly apostrophe and the patient's capitals and line breaks are kept in what staff read, with
    # every run of spaces one space.
    found = real_triage.assess([], "I CAN\u2019T\n  feel my legs")
    assert [str(m) for m in found.words] == ["numbness (CAN\u2019T feel my legs)"]


def test_concepts_are_listed_most_urgent_first_each_once_and_words_count_for_one_concept(real_triage):
    text = "My foot is numb. I fell last week and now I cant pee, and sometimes I think about suicide. Numb again."
    found = real_triage.assess([], text)
    assert [str(m) for m in found.words] == ["self-harm (suicide)", "bladder and bowel (cant pee)",
                                             "numbness (numb)", "falls (fell)"]
    # "numb between my legs" is the saddle area; the same words do not also count as numbness.
    assert concepts_in(real_triage.assess([], "numb between my legs").words) == ["saddle"]


def test_a_self_harm_mention_gets_its_own_banner_and_action_from_content(real_triage):
    general = real_triage.banner
    own = real_triage.banner_for(("numbness", "self_harm"))
    assert own["heading"] != general["heading"] and own["action"] != general["action"]
    assert "988" in own["action"] and "911" in own["action"] and "today" in own["action"]
    assert own["words_intro"] == general["words_intro"]
    assert real_triage.banner_for(("numbness",)) == general
    assert real_triage.banner_for(()) == general


def test_every_concept_finds_its_own_examples_from_content(real_triage):
    for concept in real_triage.concepts:
        assert concept.examples, concept.id
        for example in concept.examples:
            assert concept.id in concepts_in(real_triage.matcher.find(example)), (concept.id, example)


GOOD_CONCEPT = "  - id: numbness\n    label: numbness\n    patterns: ['numb\\w*']\n    examples: [numb]\n"
GOOD_BANNER = "banner: {heading: a, action: b, signs_intro: c, words_intro: d}\n"


@pytest.mark.parametrize("name, text, field, problem", [
    ("missing", None, "file", "does not exist"),
    ("no-concepts", "concepts: []\n" + GOOD_BANNER, "concepts", "at least one"),
    ("bad-pattern", "concepts:\n  - id: weakness\n    label: weakness\n    patterns: ['weak(er']\n"
     "    examples: [weak]\n" + GOOD_BANNER, "concepts[0].patterns[0]", "not a valid pattern"),
    ("second-bad", "concepts:\n" + GOOD_CONCEPT + "  - id: weakness\n    label: weakness\n    patterns: [weak, '[a-']\n"
     "    examples: [weak]\n" + GOOD_BANNER, "concepts[1].patterns[1]", "not a valid pattern"),
    ("capitals", "concepts:\n  - id: fever\n    label: fever\n    patterns: [Fever]\n    examples: [fever]\n"
     + GOOD_BANNER, "concepts[0].patterns[0]", "capital"),
    ("apostrophe", "concepts:\n  - id: pee\n    label: pee\n    patterns: [\"can't pee\"]\n    examples: [i cant pee]\n"
     + GOOD_BANNER, "concepts[0].patterns[0]", "apostrophe"),
    ("matches-nothing", "concepts:\n  - id: any\n    label: any\n    patterns: ['x?']\n    examples: [x]\n"
     + GOOD_BANNER, "concepts[0].patterns[0]", "empty"),
    ("twice", "concepts:\n" + GOOD_CONCEPT + GOOD_CONCEPT + GOOD_BANNER, "concepts[1].id", "used twice"),
    ("example-missed", "concepts:\n  - id: fever\n    label: fever\n    patterns: [fever]\n    examples: [a high temp]\n"
     + GOOD_BANNER, "concepts[0].examples[0]", "not found"),
    ("no-examples", "concepts:\n  - id: fever\n    label: fever\n    patterns: [fever]\n    examples: []\n" + GOOD_BANNER,
     "concepts[0].examples", "at least one"),
    ("unknown-key", "concepts:\n" + GOOD_CONCEPT + "    pattern: [x]\n" + GOOD_BANNER, "concepts[0].pattern",
     "not a known field"),
    ("no-banner", "concepts:\n" + GOOD_CONCEPT, "banner", "missing"),
    ("no-action", "concepts:\n" + GOOD_CONCEPT + "banner: {heading: a, signs_intro: c, words_intro: d}\n",
     "banner.action", "missing"),
    ("concept-banner", "concepts:\n" + GOOD_CONCEPT + "    banner: {heading: Call today}\n" + GOOD_BANNER,
     "concepts[0].banner.action", "missing"),
    ("old-phrases", "phrases: [numb]\n" + GOOD_BANNER, "phrases", "now `concepts`"),
])
def test_the_concept_file_is_checked_at_start_up_naming_the_file_and_field(tmp_path, name, text, field, problem):
    if text is not None:
        (tmp_path / "triage.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(ContentError) as caught:
        triage.load_triage(tmp_path)
    assert caught.value.field_name == field and "triage.yaml" in str(caught.value), str(caught.value)
    assert problem in str(caught.value)


def test_the_app_refuses_to_start_with_a_bad_pattern(make_app, tmp_path):
    content = tmp_path / "content"
    shutil.copytree(FIXTURE_CONTENT, content)
    meta = content / "triage.yaml"
    meta.write_text(meta.read_text().replace("'numb(?:ness)?'", "'numb(?:ness'"), encoding="utf-8")
    with pytest.raises(ContentError, match=r"triage\.yaml: field 'concepts\[0\]\.patterns\[0\]': is not a valid pattern"):
        make_app(CONTENT_DIR=str(content))


def test_make_check_content_checks_the_flag_concepts_too(tmp_path):
    content = tmp_path / "content"
    shutil.copytree(FIXTURE_CONTENT, content)

    def check():
        return subprocess.run([sys.executable, "-m", "clinic.journey", str(content)], cwd=ROOT, capture_output=True,
                              text=True, timeout=60, check=False)

    ok = check()
    assert ok.returncode == 0 and "4 flag concepts, 7 patterns, 4 examples: OK" in ok.stdout, ok.stderr
    meta = content / "triage.yaml"
    meta.write_text(meta.read_text().replace("'numb(?:ness)?'", "'numb(?:ness'"), encoding="utf-8")
    broken = check()
    assert broken.returncode != 0 and "triage.yaml: field 'concepts[0].patterns[0]'" in broken.stderr


def test_a_request_saved_with_the_phrase_list_of_before_keeps_its_words():
    assert triage.read_words('["numb", "bladder"]') == ("numb", "bladder")
    assert triage.read_concepts('["numb", "bladder"]') == ()
    new = triage.Flag(words=(triage.Mention("self_harm", "self-harm", "kill myself"),)).words_json()
    assert triage.read_words(new) == ("self-harm (kill myself)",) and triage.read_concepts(new) == ("self_harm",)
    assert triage.read_words("not json") == () and triage.read_words('[{"label": 1}]') == ()


# --- warning signs from the journey's routing ------------------------------------------------------------
def test_an_answer_that_leads_to_a_stop_page_is_a_warning_sign_and_other_answers_are_not():
    journey = load_journey(FIXTURE_CONTENT)
    walked = {"start", "causes"}  # info steps seen on the way
    base = {"surgery": "fusion"} if journey.question("surgery") else {}
    signs = triage.warning_signs(journey, {**base, "bladder": "yes"}, walked)
    assert [(s.label, s.tier) for s in signs] == [("Bladder trouble?", "")]  # no tiers without warning_signs.yaml
    assert [s.id for s in signs] == ["bladder:yes"]  # what a request stores: the answer itself
    # Read back from that id, the loaded content gives the same label.
    from clinic import request_answers

    assert request_answers.sign_labels(journey, ["bladder:yes"]) == signs
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

    # Stored as ids (issue 20 A): the labels above were rendered from them with the loaded content.
    stored = storage.stored(app, "SELECT warning_sign_ids, warning_signs FROM requests WHERE reference = :r", r=flagged)[0]
    sign_ids = json.loads(stored["warning_sign_ids"])
    assert stored["warning_signs"] is None and len(sign_ids) == len(signs)
    if journey.warning_signs:
        assert [journey.warning_signs.sign(sign_id).label for sign_id in sign_ids] == signs
    else:
        assert all(triage.ROUTED_SIGN_SEPARATOR in sign_id for sign_id in sign_ids)

    exported = csv_rows(staff)
    assert exported[flagged]["flagged"] == "yes" and exported[flagged]["warning_signs"] == "; ".join(signs)
    assert exported[flagged]["warning_sign_ids"] == ", ".join(sign_ids)
    assert exported[flagged]["flag_words"] == ""
    assert exported[newer]["flagged"] == "no" and exported[newer]["warning_signs"] == ""


def test_a_description_about_self_harm_is_flagged_with_its_own_banner_and_the_patient_is_asked_to_call_today(clinic):
    app, staff = clinic
    patient = app.test_client()
    description = "I have been thinking of killing myself, the pain never stops"
    assert submit_request(patient, description=description).status_code == 303
    confirmation = patient.get("/request/sent").get_data(as_text=True)
    assert "Please call us today" in confirmation and app.extensions["journey"].clinic_phone in confirmation
    assert "2 working days" not in confirmation and "working day" not in confirmation
    assert 'href="tel:911"' in confirmation and 'href="tel:988"' in confirmation and 'href="sms:988"' in confirmation

    reference = reference_of(app, description)
    stored = storage.stored(app, "SELECT flagged, warning_signs, flag_words FROM requests")[0]
    assert stored["flagged"] == 1 and stored["warning_signs"] is None
    assert json.loads(stored["flag_words"]) == [
        {"concept": "self_harm", "label": "self-harm", "matched": "thinking of killing myself"}]
    assert list_items(staff.get("/staff").get_data(as_text=True)) == [(reference, True)]

    own = app.extensions["triage"].banner_for(("self_harm",))
    banner = banner_of(staff, reference)
    assert own["heading"] in banner and own["action"] in banner
    assert "The description mentions: <strong>self-harm (thinking of killing myself)</strong>" in banner
    assert app.extensions["triage"].banner["action"] not in banner
    assert csv_rows(staff)[reference]["flag_words"] == "self-harm (thinking of killing myself)"


@pytest.mark.parametrize("error", [DatabaseBusy("database is locked"),
                                   DatabaseError("SELECT", {}, sqlite3.DatabaseError("file is not a database"))])
def test_when_the_database_cannot_say_whether_it_was_flagged_the_confirmation_asks_for_a_call_today(clinic, monkeypatch,
                                                                                                    error):
    # WAL lets readers through any lock another connection holds, so the failed read is made to happen.
    app, _ = clinic
    patient = app.test_client()
    assert submit_request(patient).status_code == 303  # an ordinary request
    def cannot_read(self, reference):
        raise error

    with monkeypatch.context() as patched:
        patched.setattr(RequestStore, "is_flagged", cannot_read)
        page = patient.get("/request/sent")
    assert page.status_code == 200 and "Please call us today" in page.get_data(as_text=True)
    assert "usually within 2 working days" in patient.get("/request/sent").get_data(as_text=True)


def test_a_description_saying_i_cant_feel_my_legs_is_flagged_with_the_concept_and_the_words_it_used(clinic):
    app, staff = clinic
    description = "I can\u2019t feel my legs since yesterday, and they are numb."
    patient = app.test_client()
    assert submit_request(patient, description=description).status_code == 303
    assert "2 working days" not in patient.get("/request/sent").get_data(as_text=True)
    reference = reference_of(app, description)
    banner = banner_of(staff, reference)
    assert "The description mentions: <strong>numbness (can\u2019t feel my legs)</strong>" in banner
    assert app.extensions["triage"].banner["heading"] in banner and "In the guide they reported" not in banner
    assert csv_rows(staff)[reference]["flag_words"] == "numbness (can\u2019t feel my legs)"


def test_a_request_flagged_with_the_phrase_list_of_before_still_shows_its_words(clinic):
    app, staff = clinic
    reference = add_request(app, name="Saved Before")
    conn = db(app)
    run(conn, "UPDATE requests SET flagged = 1, flag_words = :words WHERE reference = :reference",
        words='["numb", "bladder"]', reference=reference)
    conn.close()
    assert list_items(staff.get("/staff").get_data(as_text=True)) == [(reference, True)]
    banner = banner_of(staff, reference)
    assert "The description mentions: <strong>numb, bladder</strong>" in banner
    assert app.extensions["triage"].banner["action"] in banner
    assert csv_rows(staff)[reference]["flag_words"] == "numb, bladder"


def test_an_ordinary_request_is_not_flagged(clinic):
    app, staff = clinic
    patient = app.test_client()
    walk_to_summary(patient, app.extensions["journey"])  # a whole journey with no warning sign
    assert submit_request(patient, description="My leg pain came back a year after my fusion.").status_code == 303
    stored = storage.stored(app, "SELECT reference, flagged, warning_sign_ids, flag_words, answer_values FROM requests")[0]
    assert stored["answer_values"] and (stored["flagged"], stored["warning_sign_ids"], stored["flag_words"]) == (0, None, None)
    page = staff.get("/staff").get_data(as_text=True)
    assert "flag-marker" not in page and "flagged" not in page.lower().replace("not flagged", "")
    assert "flag-banner" not in staff.get(f"/staff/requests/{stored['reference']}").get_data(as_text=True)
    assert csv_rows(staff)[stored["reference"]]["flagged"] == "no"
    assert "usually within 2 working days" in patient.get("/request/sent").get_data(as_text=True)


@pytest.mark.parametrize("tier_rank", [0, 1], ids=["most-urgent-tier", "next-tier"])
def test_each_tier_of_warning_sign_flags_the_request_and_the_banner_names_the_tier(clinic, tier_rank):
    app, staff = clinic
    journey = app.extensions["journey"]
    # The clinic's content has both tiers; a test of each is never skipped (in CI nothing may be).
    assert journey.warning_signs and len(journey.warning_signs.tiers) > tier_rank, "the content lost a warning-sign tier"
    tier = journey.warning_signs.tiers[tier_rank]
    patient = app.test_client()
    route, labels = route_to_warning_sign(journey, target=tier.stop_step)
    for step, form in route[:-1]:
        assert patient.post(f"/journey/{step.id}", data=form).status_code == 303, step.id
    assert submit_request(patient).status_code == 303
    reference = storage.stored(app, "SELECT reference FROM requests")[0]["reference"]
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
    stored = storage.stored(app, "SELECT flagged, warning_sign_ids, answer_values FROM requests")[0]
    assert stored == {"flagged": 0, "warning_sign_ids": None, "answer_values": None}


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
    health_words = {c.label for c in app.extensions["triage"].concepts} | {"legs", "leaks", "warning", "urgent"}
    for label in signs:
        health_words |= {w for w in re.findall(r"[a-z]{4,}", label.lower())}
    health_words -= {"your", "this", "that", "with", "have", "from", "new"}  # words any email may hold
    for word in sorted(health_words):
        assert not re.search(rf"(?<![a-z]){re.escape(word.lower())}(?![a-z])", whole), word


def test_the_patients_receipt_email_is_the_same_flagged_or_not_and_promises_no_2_working_days(clinic, smtp_server):
    # The confirmation page asks a flagged patient to call today; an email promising a reply in 2 working days
    # would contradict it, and an email that differed would tell whoever reads the inbox that it was flagged.
    app, _ = clinic
    app.config["PATIENT_RECEIPT"] = True
    assert submit_request(app.test_client(), description="im thinking of killing myself").status_code == 303
    assert submit_request(app.test_client(), description="My leg pain came back a year after my fusion.").status_code == 303
    assert deliver(app)["sent"] == 4
    receipts = [m for m in map(message_from_bytes, (raw for _, _, raw in smtp_server.messages))
                if m["To"] == "alex@example.com"]
    bodies = {re.sub(r"FBS-[0-9A-Z]{4}", "FBS-XXXX", m.get_payload(decode=True).decode()) for m in receipts}
    assert len(receipts) == 2 and len(bodies) == 1
    [body] = bodies
    assert "working day" not in body and app.extensions["journey"].clinic_phone in body


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
