"""What a patient takes to their doctor: the summary and the comparison printed by Chromium (page.pdf), read back
with pdftotext, hold every answer, every warning sign and every doctor question, and no buttons or navigation."""
import re
import shutil
import subprocess
import unicodedata

import pytest
from markupsafe import Markup

from clinic.journey import reading
from tests.conftest import ROOT
from tests.helpers import post_answers
from tests.support.tools import require_tool

pytestmark = pytest.mark.browser


@pytest.fixture
def app(make_app):
    return make_app(CONTENT_DIR=str(ROOT / "content"), WTF_CSRF_ENABLED=False)


def pdf_text(pdf, tmp_path):
    """The PDF's text, its lines joined and spaces collapsed, so a label wrapped over two lines still matches."""
    if not shutil.which("pdftotext"):
        require_tool("pdftotext not found (apt-get install poppler-utils; .ci/run installs it)")
    path = tmp_path / "printed.pdf"
    path.write_bytes(pdf)
    text = subprocess.run(["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True, check=True, text=True).stdout
    return flat(text)


def flat(text):
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text)).strip()


def fullest_fusion_answers(journey):
    """A fusion path that reaches the summary with the most boxes ticked: the most answers to print."""
    paths = [a for a in reading.complete_answers(journey, "all") if a.get("surgery") == "fusion"]
    return max(paths, key=lambda a: sum(len(v) if isinstance(v, list) else 1 for v in a.values()))


def test_the_printed_summary_of_a_fusion_path_holds_every_answer_warning_sign_and_doctor_question(
        live_server, phone, app, tmp_path):
    journey = app.extensions["journey"]
    answers = fullest_fusion_answers(journey)
    context = phone(js=True)
    page = context.new_page()
    page.goto(post_answers(context, live_server.url, journey, answers))
    assert page.get_by_role("button", name="Print or save as PDF").is_visible(), "the script shows the button"
    printed = pdf_text(page.pdf(format="Letter"), tmp_path)

    seen = {s for s in journey.expected_route(answers) if journey.steps[s].kind == "info"}
    expected = []
    for _owner, question, answer in journey.relevant_answers(answers, seen):
        expected.append(question.summary_label)
        values = answer if isinstance(answer, list) else [answer]
        expected += [question.label_for(v) for v in values] or [journey.warning_signs.none_label]
    expected += [sign.label for sign in journey.warning_signs.signs()]
    expected += journey.doctor_questions(answers)
    assert len(journey.doctor_questions(answers)) >= 4 and len(expected) > 40
    missing = [text for text in expected if flat(text) not in printed]
    assert not missing, f"not in the printed summary: {missing}"

    # Headed by the clinic's name, phone and the date; no buttons, navigation or Change links on paper.
    assert printed.startswith(flat(f"{journey.clinic_name} · Phone {journey.clinic_phone} · Printed")), printed[:200]
    # The person's own answers may hold these words ("Back to work or daily tasks"): look only at what is left.
    rest = printed.replace("changed since", "")
    for text in sorted(expected, key=len, reverse=True):
        rest = rest.replace(flat(text), " ")
    for absent in ("Print or save as PDF", "Ask for a second opinion", "Change", "Save and continue later", "Back"):
        assert absent not in rest, absent


def test_the_printed_comparison_holds_every_option_and_opens_every_disclosure(live_server, phone, app, tmp_path):
    journey = app.extensions["journey"]
    page = phone(js=True).new_page()
    page.goto(live_server.url + "/compare")
    assert page.get_by_role("button", name="Print or save as PDF").is_visible()
    # Any disclosure on the page prints open, even one closed on screen.
    page.evaluate("""() => { const d = document.createElement('details');
        d.innerHTML = '<summary>Closed on screen</summary><p>Printed anyway</p>';
        document.querySelector('.compare-list').after(d); }""")
    printed = pdf_text(page.pdf(format="Letter"), tmp_path)
    assert printed.startswith(flat(f"{journey.clinic_name} · Phone {journey.clinic_phone} · Printed"))
    for row in journey.comparison.rows:
        for text in (row.name, row.involves, row.known, row.risks, row.who):
            for part in re.split(r'<span class="refs">.*?</span>', str(text)):  # the text between markers
                assert flat(Markup(part).striptags()) in printed, part
    assert "Printed anyway" in printed
    assert "Print or save as PDF" not in printed and "Compare the options" not in printed.split(journey.comparison.title, 1)[1]
