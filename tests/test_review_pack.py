"""The medical reviewer's pack: `flask content review-pack OUT.html` from the content the site serves."""
import html as html_lib
import os
import re
import subprocess
import sys

import pytest

from clinic.journey import load_journey
from clinic.journey.review_pack import cited_references, condition_text, step_order
from tests.conftest import ROOT, TEST_SECRET

CONTENT = ROOT / "content"
JOURNEY = load_journey(CONTENT)


@pytest.fixture(scope="module")
def pack(tmp_path_factory):
    """The pack as the README says to make it: the real command line, run from the project folder."""
    folder = tmp_path_factory.mktemp("pack")
    out = folder / "review.html"
    env = {**os.environ, "FLASK_SECRET_KEY": TEST_SECRET, "FLASK_DATABASE": str(folder / "clinic.sqlite3"),
           "FLASK_MAIL_DIR": str(folder / "mail")}
    flask = [sys.executable, "-m", "flask", "--app", "app", "content", "review-pack", str(out)]
    result = subprocess.run(flask, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert f"{len(JOURNEY.steps)} steps, {len(JOURNEY.warning_signs.signs())} warning signs, 34 references" in result.stdout
    return html_lib.unescape(out.read_text(encoding="utf-8"))


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
    assert positions == sorted(positions) and step_order(JOURNEY)[:3] == ["start", "safety", "safety-more"]
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
