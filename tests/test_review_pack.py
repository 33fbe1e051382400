"""The medical reviewer's pack: `flask content review-pack OUT.html` from the content the site serves."""
import html as html_lib
import os
import re
import subprocess
import sys

import pytest

from clinic.journey import load_journey
from clinic.journey.review_pack import (
    PATIENT_TEMPLATES,
    added_claims,
    cited_references,
    condition_text,
    flag_banner,
    flag_concepts,
    step_order,
    template_sentences,
    template_values,
)
from clinic.triage import load_triage
from tests.conftest import ROOT, TEST_SECRET, migrated_database

CONTENT = ROOT / "content"
JOURNEY = load_journey(CONTENT)


@pytest.fixture(scope="module")
def pack(tmp_path_factory):
    """The pack as the README says to make it: the real command line, run from the project folder."""
    folder = tmp_path_factory.mktemp("pack")
    out = folder / "review.html"
    env = {**os.environ, "FLASK_SECRET_KEY": TEST_SECRET, "FLASK_DATABASE": str(migrated_database(folder / "clinic.sqlite3")),
           "FLASK_MAIL_DIR": str(folder / "mail")}
    flask = [sys.executable, "-m", "flask", "--app", "app", "content", "review-pack", str(out)]
    result = subprocess.run(flask, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert f"{len(JOURNEY.steps)} steps, {len(JOURNEY.warning_signs.signs())} warning signs, 34 references" in result.stdout
    return html_lib.unescape(out.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def pack_file(pack, tmp_path_factory):
    """The pack as a file again (unescaped text is enough for the printer: it holds no markup from patients)."""
    path = tmp_path_factory.mktemp("pack-print") / "review.html"
    path.write_text(pack, encoding="utf-8")
    return path


def part(pack, part_id):
    return pack.split(f'<section class="part" id="{part_id}"', 1)[1].split('<section class="part"', 1)[0]


def test_every_step_every_warning_sign_and_every_reference_is_in_the_pack(pack):
    assert set(step_order(JOURNEY)) == set(JOURNEY.steps)
    for step_id, step in JOURNEY.steps.items():
        assert f'id="step-{step_id}"' in pack and step.title in pack, step_id
    for sign in JOURNEY.warning_signs.signs():
        row = re.search(rf"<tr><td>{re.escape(sign.label)}<br><code>{sign.id}</code></td>.*?</tr>", pack, re.S)
        assert row and sign.tier.label in row.group(0), sign.id
    for number, text in JOURNEY.references.items():
        assert f'<li id="ref-{number}" value="{number}">{text}' in pack, number


def test_steps_come_in_journey_order_with_questions_rules_blocks_and_doctor_questions(pack):
    positions = [pack.index(f'id="step-{step_id}"') for step_id in step_order(JOURNEY)]
    assert positions == sorted(positions) and step_order(JOURNEY)[:1 + len(JOURNEY.warning_signs.screens())] == [
        "start", *JOURNEY.warning_signs.screens()]
    assert "Question <code>surgery</code>" in pack and "<code>fusion</code>: Spinal fusion" in pack
    assert f"I'm not sure → “{JOURNEY.steps['hardware'].title}” (hardware)" in pack
    assert "always → “Why can pain remain after surgery?” (causes)" in pack
    for step in JOURNEY.steps.values():
        for block in step.blocks:
            assert block.heading in pack, block.id
            if block.first_when:
                assert condition_text(JOURNEY, block.first_when) in pack
        for item in step.doctor_questions:
            assert item.text in pack
    assert "What would another operation fix" in pack and "Tried or offered: Another operation was suggested." in pack


def test_the_pack_has_the_sign_off_box_and_the_review_date_and_role_on_its_first_page(pack):
    first_page = pack.split('class="part"')[0]
    assert "Sign-off" in first_page and "Reviewer's name" in first_page and "Signature" in first_page
    assert f'<strong class="pack-version">{JOURNEY.version}</strong>' in first_page
    assert f"reviewed_version: {JOURNEY.version}" in first_page and JOURNEY.reviewed_by in first_page
    assert "This guide has not yet been reviewed by" in first_page  # what every page says now
    assert "February 14, 2021" in first_page and JOURNEY.conflict_of_interest in first_page


def test_the_pack_stands_alone_and_prints(pack):
    assert "<script" not in pack and "<link" not in pack and not re.search(r'src="(https?:)?//', pack)
    assert 'href="/' not in pack  # reference markers and the comparison link point into the pack itself
    assert "--brand:" in pack and "@media print" in pack and "break-before: page" in pack


def test_citing_steps_are_read_from_the_content_files():
    cited = {ref.number: ref.cited_by for ref in cited_references(JOURNEY, CONTENT)}
    assert "causes" in cited[13] and "comparison" in cited[28] and "regenerative" in cited[28]
    assert all(cited[number] for number in range(2, 35)), [n for n, steps in cited.items() if not steps]


# --- issue 17 D: a pack a medical director signs line by line ---------------------------------------------------
def _marked_in_files():
    """How many added claims the content files mark, counted from the files' own text (not through the loader)."""
    count = 0
    for path in [*sorted((CONTENT / "steps").glob("*.md")), CONTENT / "warning_signs.yaml", CONTENT / "comparison.yaml",
                 CONTENT / "decision.yaml", *sorted((CONTENT / "pages").glob("*.md"))]:
        text = path.read_text(encoding="utf-8")
        count += len(re.findall(r'^\s*source: "added: ', text, re.M)) + len(re.findall(r"^\s*- claim: ", text, re.M))
    return count


def test_every_added_claim_is_listed_on_one_page_with_an_approve_or_change_box(pack):
    claims = added_claims(JOURNEY)
    assert len(claims) == _marked_in_files() >= 60
    added = part(pack, "added")
    rows = re.findall(r"<tr><td>\d+</td>.*?</tr>", added, re.S)
    assert len(rows) == len(claims)
    for row, claim in zip(rows, claims, strict=True):
        assert " ".join(claim.claim.split()) in " ".join(row.split()), claim
        assert claim.reason in row and "Approve" in row and "Change" in row
    # The kinds of claim the issue names are all there.
    everything = " ".join(c.claim for c in claims)
    for words in ("Insurance may not cover", "Our clinic does not offer pumps", "Pain specialists.", "collapsed lung",
                  "an overdose can kill", "Sleepiness and falls, slowed breathing, and overdose", "Chest pain"):
        assert words in everything, words
    assert 'source: "added: ..."' in added


def test_every_warning_sign_has_agree_or_change_and_the_signs_left_out_are_listed(pack):
    signs = part(pack, "signs")
    for sign in JOURNEY.warning_signs.signs():
        row = re.search(rf"<tr><td>{re.escape(sign.label)}<br><code>{sign.id}</code></td>.*?</tr>", signs, re.S)
        assert row and "Agree" in row.group(0) and "Change" in row.group(0), sign.id
    assert len(JOURNEY.warning_signs.left_out) >= 3
    left_out = signs.split('id="left-out"')[1]
    for label, reason in JOURNEY.warning_signs.left_out:
        assert label in left_out and reason in left_out and "Agree" in left_out


def test_the_two_stop_pages_are_shown_as_the_patient_sees_them(pack):
    stops = part(pack, "stop-pages")
    for tier in JOURNEY.warning_signs.tiers:
        stop = JOURNEY.steps[tier.stop_step]
        box = stops.split(f'id="stop-{stop.id}"')[1].split('<div class="pack-patient"')[0]
        assert stop.title in box and html_lib.unescape(str(stop.intro_html)) in box
        assert "If you checked a sign by mistake" in box  # the stop page template's own frame
    urgent, same_day = (stops.split(f'id="stop-{s}"')[1].split('<div class="pack-patient"')[0] for s in ("urgent", "same-day"))
    assert 'class="button button-call" href="tel:911"' in urgent and "button-call" not in same_day


def test_every_staff_flag_concept_with_its_patterns_and_the_banner_is_in_the_pack(pack):
    """Read through clinic/triage.py's own loader: the pack shows what the matcher uses, concepts or phrases."""
    triage = load_triage(CONTENT)
    flag = part(pack, "flag")
    concepts = flag_concepts(triage)
    assert concepts
    for name, fields in concepts:
        assert name in flag
        for key, text in fields:
            assert f"<strong>{key}</strong>: {text}" in flag, (name, key)
    for key, text in flag_banner(triage).items():
        assert text in flag, key
    assert "Contact this person today" in flag


def test_the_patient_sentences_in_templates_the_disclaimer_and_the_privacy_page_are_in_the_pack(pack):
    text = part(pack, "template-text")
    assert JOURNEY.disclaimer in text
    read = dict(template_sentences(ROOT / "templates", {}))
    assert set(read) == set(PATIENT_TEMPLATES)  # every listed template still exists and has text
    for name, lines in template_sentences(ROOT / "templates", template_values(JOURNEY)):
        section = text.split(f"<code>templates/{name}</code>")[1].split("<h3>")[0]
        for line in lines:
            assert f"<li>{line}</li>" in section, (name, line)
    # The sentences the issue names, wherever they live today.
    templates = "\n".join((ROOT / "templates" / name).read_text(encoding="utf-8") for name in PATIENT_TEMPLATES)
    for words in ("working days", "free to ask", "don't wait for us", "Questions for your doctor", "Your answers"):
        if words in templates.replace("&#39;", "'"):
            assert words in text, words
    assert "working days" in text and "free to ask" in text  # the reply promise and "free to ask" today
    title, body = JOURNEY.pages["privacy"]
    assert title in text and html_lib.unescape(str(body)) in text


def test_every_patient_template_that_gives_crisis_numbers_or_a_reply_promise_is_in_the_pack():
    """A new template with 911, 988 or a reply time cannot stay out of the pack unnoticed."""
    clinical = re.compile(r"\b(911|988)\b|working days|free to ask|emergency|warning sign")
    for path in sorted((ROOT / "templates").rglob("*")):
        name = path.relative_to(ROOT / "templates").as_posix()
        if not path.is_file() or name.startswith(("staff/", "review/", "errors/")) or "staff_notification" in name:
            continue
        if clinical.search(path.read_text(encoding="utf-8")):
            assert name in PATIENT_TEMPLATES or name.startswith("pages/_about"), name


def test_the_first_page_has_the_next_review_date_and_the_contents(pack):
    first_page = pack.split('class="part"')[0]
    assert "Next review by: 12 months after the date reviewed" in first_page
    assert re.search(r"if signed on \w+ \d+, \d{4},\s+<strong>\w+ \d+, \d{4}</strong>", first_page)
    contents = first_page.split('id="contents-title"')[1]
    parts = re.findall(r'<section class="part" id="([a-z-]+)"', pack)
    assert re.findall(r'<li><a href="#([a-z-]+)">', contents) == parts and len(parts) >= 10


def _pages(pdf):
    return len(re.findall(rb"/Type\s*/Page\b(?!s)", pdf))


@pytest.mark.browser
def test_printed_at_letter_size_page_1_holds_the_sign_off_and_the_contents(browser, pack_file):
    """Chromium prints the pack (page.pdf, Letter): the sign-off box and the contents alone make one page, and
    part 1 starts on page 2, so page 1 is neither cut nor half empty with the rest on page 2."""
    import shutil

    page = browser.new_page()
    try:
        page.goto(pack_file.as_uri())
        page.emulate_media(media="print")  # the site's print styles hide nav and buttons: not the pack's
        assert page.is_visible(".pack-contents") and page.is_visible(".signoff") and page.is_visible(".button-call")
        whole = page.pdf(format="Letter", prefer_css_page_size=True)
        page.evaluate("() => document.querySelectorAll('main > :not(.pack-first)').forEach(e => e.remove())")
        first_only = page.pdf(format="Letter", prefer_css_page_size=True)
    finally:
        page.close()
    assert _pages(first_only) == 1, "the sign-off and the contents do not fit on one Letter page"
    assert _pages(whole) > 10
    if shutil.which("pdftotext"):  # poppler-utils: read the printed pages themselves
        pdf = pack_file.with_suffix(".pdf")
        pdf.write_bytes(whole)

        def page_text(number):
            return subprocess.run(["pdftotext", "-f", str(number), "-l", str(number), str(pdf), "-"],
                                  capture_output=True, text=True, check=True).stdout

        one, two = page_text(1), page_text(2)
        assert "Sign-off" in one and "Reviewer" in one and "Changes" in one and "Contents" in one
        assert "References and the steps that cite them" in one and JOURNEY.version in one
        assert "Each line below is in the guide but not in" not in one
        assert two.lstrip().startswith("1. What is not from the article")
        everything = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
        stops = everything.split("3. The two stop pages as the patient sees them\n")[-1].split("4. The staff flag")[0]
        assert "Call 911\n" in stops  # the emergency page's big button prints, as the patient sees it


def test_the_spanish_text_is_beside_the_english_with_a_translator_box_and_its_own_sign_off(pack):
    from clinic.journey.loader import load_journey as load

    spanish = load(CONTENT, language="es")
    assert spanish.missing == ()
    first = pack.split('<section class="part"', 1)[0]
    assert f'Spanish beside the English; its own sign-off</a> (<span class="pack-translation-version">{spanish.version}' in first
    side = part(pack, "tr-es")
    box = side.split('<table class="pack-side"', 1)[0]
    assert "Spanish sign-off" in box and spanish.version in box
    assert "Qualified medical translator who checked the Spanish" in box and "Medical director" in box
    assert f"reviewed_version: {spanish.version}" in box and "translator:" in box
    assert "not yet reviewed" in box  # no one has signed the Spanish yet: its pages say so too
    for step_id in step_order(JOURNEY):
        english, other = JOURNEY.steps[step_id], spanish.steps[step_id]
        table = side.split(f'id="tr-es-{step_id}"', 1)[1].split("</table>", 1)[0]
        assert f"<td>{english.title}</td><td lang=\"es\">{other.title}</td>" in table
        for question, translated in zip(english.questions, other.questions, strict=True):
            assert translated.label in table and all(o.label in table for o in translated.options)
        assert all(block.heading in table for block in other.blocks)
    signs = side.split('id="tr-es-signs"', 1)[1].split("</table>", 1)[0]
    for sign, other_sign in zip(JOURNEY.warning_signs.signs(), spanish.warning_signs.signs(), strict=True):
        assert f"<td>{sign.label}</td><td lang=\"es\">{other_sign.label}</td>" in signs



def test_the_spanish_of_the_patient_template_sentences_is_beside_their_english(pack):
    from clinic.journey.review_pack import template_translations

    table = part(pack, "tr-es").split('id="tr-es-templates"', 1)[1].split("</table>", 1)[0]
    pairs = template_translations(ROOT / "templates", ROOT / "translations" / "es" / "LC_MESSAGES" / "messages.po")
    assert {name for name, _ in pairs} >= {"requests/_crisis_line.html", "journey/_stop.html", "requests/_sent.html"}
    for _name, messages in pairs:
        for english, spanish in messages:
            assert spanish != "(not translated)", english
            assert f"<td>{english}</td><td lang=\"es\">{spanish}</td>" in table
