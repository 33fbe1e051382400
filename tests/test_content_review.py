"""The clinical sign-off names the content version it approved; every page says whether what it serves was reviewed."""
import re
import subprocess
import sys

import pytest

from clinic.journey import ContentError, load_journey
from clinic.journey.version import content_version
from tests.conftest import ROOT, sign_off


def edit(path, old, new):
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def footer(make_app, content):
    html = make_app(CONTENT_DIR=str(content)).test_client().get("/").get_data(as_text=True)
    return re.search(r'<p class="source-line">(.*?)</p>', html, re.S).group(1)


# --- the version -------------------------------------------------------------------------------------------
def test_the_version_is_short_readable_and_the_same_for_the_same_content(fixture_content, tmp_path):
    version = content_version(fixture_content)
    assert re.fullmatch(r"[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}", version)
    assert content_version(ROOT / "tests" / "fixtures" / "content") == version
    # A checkout that writes Windows line endings serves the same content: the same version.
    for path in fixture_content.rglob("*.md"):
        path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    assert content_version(fixture_content) == version


@pytest.mark.parametrize("file_name, old, new", [
    ("steps/start.md", "title: Start", "title: Start here"),
    ("references.yaml", "- n: 1", "# a comment\n- n: 1"),
    ("journey.yaml", "disclaimer: This is a test.", "disclaimer: This is a test!"),
])
def test_any_change_to_the_content_makes_a_new_version(fixture_content, file_name, old, new):
    before = content_version(fixture_content)
    edit(fixture_content / file_name, old, new)
    assert content_version(fixture_content) != before


def test_recording_the_sign_off_does_not_change_the_version_it_names(fixture_content):
    before = content_version(fixture_content)
    sign_off(fixture_content, before)
    edit(fixture_content / "journey.yaml", "reviewed_by: a test reviewer", "reviewed_by: the medical director")
    assert content_version(fixture_content) == before
    assert load_journey(fixture_content).review_status() == "reviewed"


# --- what every page says ------------------------------------------------------------------------------------
def test_content_no_one_signed_says_it_is_not_yet_reviewed(make_app, fixture_content):
    line = footer(make_app, fixture_content)
    assert "This guide has not yet been reviewed by a test reviewer." in line and "last reviewed" not in line


def test_signed_content_says_when_and_by_whom_it_was_reviewed(make_app, fixture_content):
    sign_off(fixture_content, content_version(fixture_content))
    line = footer(make_app, fixture_content)
    assert 'This guide was last reviewed on <time datetime="2026-11-20">November 20, 2026</time> by a test reviewer.' in line


def test_content_changed_after_its_sign_off_says_the_changes_are_not_reviewed(make_app, fixture_content):
    sign_off(fixture_content, content_version(fixture_content))
    edit(fixture_content / "steps" / "start.md", "title: Start", "title: Start here")
    line = footer(make_app, fixture_content)
    assert "This guide has changed since a test reviewer reviewed it on" in line
    assert "November 20, 2026" in line and "The changes are not yet reviewed." in line and "last reviewed" not in line


def test_the_real_content_does_not_claim_a_review_no_one_signed():
    journey = load_journey(ROOT / "content")
    assert journey.review_status() == "not reviewed" and journey.reviewed is None


# --- the sign-off fields -------------------------------------------------------------------------------------
@pytest.mark.parametrize("added", ["reviewed: 2026-11-20\n", "reviewed_version: 1a2b-3c4d-5e6f\n"])
def test_a_sign_off_needs_both_its_date_and_the_version_it_approved(fixture_content, added):
    meta = fixture_content / "journey.yaml"
    meta.write_text(meta.read_text() + added)
    with pytest.raises(ContentError, match="reviewed_version"):
        load_journey(fixture_content)


def test_a_misspelt_version_stops_start_up(fixture_content):
    sign_off(fixture_content, "1a2b3c4d5e6f")
    with pytest.raises(ContentError, match="reviewed_version"):
        load_journey(fixture_content)


def test_check_content_prints_the_version_and_whether_it_was_reviewed(fixture_content):
    def check():
        result = subprocess.run([sys.executable, "-m", "clinic.journey", str(fixture_content)], cwd=ROOT,
                                capture_output=True, text=True, timeout=60, check=False)
        assert result.returncode == 0, result.stderr
        return result.stdout

    version = content_version(fixture_content)
    assert f"content version {version}: not yet reviewed" in check()
    sign_off(fixture_content, version)
    assert f"content version {version}: reviewed on 2026-11-20 by a test reviewer" in check()


def test_a_production_start_with_unsigned_content_says_so_in_the_log(make_app, fixture_content, caplog):
    version = content_version(fixture_content)
    make_app(CONTENT_DIR=str(fixture_content), PRODUCTION=True)
    assert f"Content version {version} has no clinical sign-off" in caplog.text
    caplog.clear()
    sign_off(fixture_content, version)
    make_app(CONTENT_DIR=str(fixture_content), PRODUCTION=True)
    assert "sign-off" not in caplog.text


# --- provenance (issue 17 D): every block, sign and comparison option says where it comes from --------------
CONTENT = ROOT / "content"


def real_content(tmp_path):
    import shutil

    target = tmp_path / "content"
    shutil.copytree(CONTENT, target)
    return target


@pytest.mark.parametrize("old, new, problem", [
    ("    source: article\n", "", "is missing"),
    ("    source: article\n", "    source: clinic\n", "must be 'article' or 'added: <one-line reason>'"),
    ("    source: article\n", "    source: \"added:\"\n", "must be 'article' or 'added: <one-line reason>'"),
    ("    source: article\n", "    source: Article\n", "must be 'article' or 'added: <one-line reason>'"),
])
def test_the_loader_refuses_a_block_without_a_known_source(fixture_content, old, new, problem):
    edit(fixture_content / "steps" / "causes.md", old, new)
    with pytest.raises(ContentError, match=rf"causes.md: field 'blocks\[0\].source': {re.escape(problem)}"):
        load_journey(fixture_content)


@pytest.mark.parametrize("new", ["", "        source: reviewer\n", "        source: \"added:   \"\n"])
def test_the_loader_refuses_a_warning_sign_without_a_known_source(tmp_path, new):
    content = real_content(tmp_path)
    signs = content / "warning_signs.yaml"
    first = re.search(r"        source: \"added: [^\n]*\n", signs.read_text(encoding="utf-8")).group(0)
    edit(signs, first, new)
    with pytest.raises(ContentError, match=r"warning_signs.yaml: field 'groups\[0\].signs\[0\].source'"):
        load_journey(content)


def test_the_loader_refuses_a_comparison_option_without_a_known_source(tmp_path):
    content = real_content(tmp_path)
    edit(content / "comparison.yaml", "conventional\n    source: article\n", "conventional\n    source: ours\n")
    with pytest.raises(ContentError, match=r"comparison.yaml: field 'options\[0\].source': must be 'article'"):
        load_journey(content)


def test_an_added_claim_must_be_in_the_text_it_marks(tmp_path):
    """A reworded sentence left its marker behind: the pack would ask to approve words no one reads."""
    content = real_content(tmp_path)
    edit(content / "steps" / "conventional.md", '      - claim: "The usual risks of surgery."',
         '      - claim: "The usual risks of any surgery."')
    with pytest.raises(ContentError, match=r"conventional.md: field 'blocks\[0\].added\[0\].claim': .* is not in the text"):
        load_journey(content)


def test_a_block_that_is_all_added_lists_no_single_claims(fixture_content):
    edit(fixture_content / "steps" / "causes.md", '    source: "added: a test block"\n',
         '    source: "added: a test block"\n    added:\n      - {claim: "Levels above", reason: "x"}\n')
    with pytest.raises(ContentError, match=r"causes.md: field 'blocks\[1\].added': everything here is added already"):
        load_journey(fixture_content)


def test_every_sign_and_every_block_of_the_real_content_has_a_known_source():
    journey = load_journey(CONTENT)
    assert all(sign.provenance.startswith("added: ") for sign in journey.warning_signs.signs())
    for step in journey.steps.values():
        assert step.provenance, step.id
        for block in step.blocks:
            assert block.provenance == "article" or block.provenance.startswith("added: "), block.id
    assert all(row.provenance for row in journey.comparison.rows)


# --- the next review date -----------------------------------------------------------------------------------
def test_signed_content_says_by_when_it_is_reviewed_next(make_app, fixture_content):
    sign_off(fixture_content, content_version(fixture_content))
    line = footer(make_app, fixture_content)
    assert 'Next review by <time datetime="2027-11-20">November 20, 2027</time>.' in line  # 12 months by default


def test_review_every_months_sets_the_next_review_date(fixture_content):
    meta = fixture_content / "journey.yaml"
    meta.write_text(meta.read_text() + "review_every_months: 6\n")
    sign_off(fixture_content, content_version(fixture_content), day="2026-08-31")
    journey = load_journey(fixture_content)
    from datetime import date

    assert journey.next_review_by() == date(2027, 2, 28)  # August 31 + 6 months: the last day of February
    meta.write_text(meta.read_text().replace("review_every_months: 6", "review_every_months: 0"))
    with pytest.raises(ContentError, match="review_every_months"):
        load_journey(fixture_content)


def test_the_real_content_reviews_every_12_months():
    assert load_journey(CONTENT).review_every_months == 12
