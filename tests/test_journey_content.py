"""The journey content in content/: its graph, references, reading level, and the loader's checks."""
import re
import statistics
from pathlib import Path

import pytest
import textstat

from clinic.journey import REQUEST_TARGET, ContentError, all_paths, load_journey
from tests.support import article

ROOT = Path(__file__).resolve().parent.parent
CONTENT = ROOT / "content"


@pytest.fixture(scope="module")
def journey():
    return load_journey(CONTENT)


def test_every_path_ends_at_the_request_page_or_the_urgent_care_page(journey):
    paths = all_paths(journey)
    assert len(paths) >= 3
    for path in paths:
        end = path[-1]
        assert end == REQUEST_TARGET or journey.steps[end].kind == "stop", path


def test_no_path_loops_and_every_step_is_on_some_path(journey):
    on_a_path = set()
    for path in all_paths(journey):
        assert len(path) == len(set(path)), f"loop in {path}"
        on_a_path.update(path)
    assert set(journey.steps) <= on_a_path


def test_the_safety_check_comes_before_anything_else_is_asked(journey):
    for path in all_paths(journey):
        first_questions = [step_id for step_id in path if journey.steps.get(step_id) and journey.steps[step_id].questions]
        screens = journey.warning_signs.screens()
        assert first_questions[0] == screens[0], path
        if path[-1] == REQUEST_TARGET:
            assert first_questions[:len(screens)] == screens, path


def test_all_34_references_are_present_and_numbered_as_in_the_article(journey):
    assert sorted(journey.references) == list(range(1, 35))


def test_every_reference_number_used_in_the_text_resolves(journey):
    used = set()
    for path in sorted((CONTENT / "steps").glob("*.md")):
        for group in re.findall(r"\[ref:\s*([0-9,\s]+)\]", path.read_text(encoding="utf-8")):
            used.update(int(n) for n in re.findall(r"\d+", group))
    assert used, "the steps cite no references"
    assert used <= set(journey.references)


def test_every_figure_in_step_text_links_to_a_reference(journey):
    """A sentence with a percentage carries a reference marker (the research one tap away)."""
    for step in journey.steps.values():
        texts = [step.intro_html] + [b.body_html for b in step.blocks] + [b.research_html for b in step.blocks]
        for html in texts:
            for sentence in re.split(r"(?<=[.!?])\s+", str(html)):
                if re.search(r"\d+(\.\d+)?\s?%", sentence):
                    assert 'class="ref"' in sentence, f"{step.id}: figure without reference: {sentence[:120]}"


def test_main_text_of_every_step_reads_at_grade_8_or_below_with_a_median_of_7(journey):
    grades = {step_id: textstat.flesch_kincaid_grade(step.main_text()) for step_id, step in journey.steps.items()}
    too_hard = {step_id: grade for step_id, grade in grades.items() if grade > 8}
    assert not too_hard, f"steps above grade 8: {too_hard}"
    assert statistics.median(grades.values()) <= 7, grades


def test_research_sections_stay_readable(journey):
    for step in journey.steps.values():
        if step.research_text():
            assert textstat.flesch_kincaid_grade(step.research_text()) <= 12, step.id


def test_site_text_is_written_in_our_own_words_not_copied_from_the_article(journey):
    if article.ARTICLE.exists():  # keep the stored fingerprint in step with the article
        assert article.article_runs() == article.run_hashes(article.words(article.ARTICLE.read_text(encoding="utf-8")))
    for step in journey.steps.values():
        copied = article.copied_runs(step.main_text() + "\n" + step.research_text())
        assert not copied, f"{step.id} copies the article word for word: {copied[:3]}"


# --- the loader stops start-up on broken content, naming file and field -------------


def _edit(path, old, new):
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_fixture_content_loads(fixture_content):
    assert load_journey(fixture_content).first_step == "start"


def test_unknown_next_step_stops_start_up_naming_file_and_field(fixture_content):
    _edit(fixture_content / "steps" / "surgery.md", "goto: summary", "goto: nowhere")
    with pytest.raises(ContentError) as error:
        load_journey(fixture_content)
    assert error.value.source.endswith("surgery.md")
    assert "next[1].goto" in str(error.value) and "nowhere" in str(error.value)


def test_unreachable_step_stops_start_up(fixture_content):
    (fixture_content / "steps" / "orphan.md").write_text(
        "---\ntitle: Orphan\nsection: X\nkind: info\nnext:\n  - goto: summary\n---\nAlone.\n", encoding="utf-8")
    with pytest.raises(ContentError, match="orphan.md.*cannot be reached"):
        load_journey(fixture_content)


def test_question_without_options_stops_start_up(fixture_content):
    _edit(fixture_content / "steps" / "safety.md",
          '    options:\n      - {value: "yes", label: "Yes"}\n      - {value: "no", label: "No"}\n', "    options: []\n")
    with pytest.raises(ContentError, match=r"safety.md: field 'questions\[0\].options'"):
        load_journey(fixture_content)


def test_unknown_reference_number_stops_start_up(fixture_content):
    _edit(fixture_content / "steps" / "start.md", "[ref:1]", "[ref:99]")
    with pytest.raises(ContentError, match=r"start.md: field 'body': reference \[ref:99\] does not exist"):
        load_journey(fixture_content)


def test_a_loop_stops_start_up(fixture_content):
    _edit(fixture_content / "steps" / "causes.md", "  - goto: summary", "  - goto: start")
    with pytest.raises(ContentError, match="loop"):
        load_journey(fixture_content)


def test_a_condition_on_an_unknown_answer_stops_start_up(fixture_content):
    _edit(fixture_content / "steps" / "surgery.md", "when: {surgery: [fusion]}", "when: {surgery: [fuson]}")
    with pytest.raises(ContentError, match="has no answer"):
        load_journey(fixture_content)


def test_the_app_refuses_to_start_with_broken_content(make_app, fixture_content):
    _edit(fixture_content / "steps" / "surgery.md", "goto: summary", "goto: nowhere")
    with pytest.raises(ContentError, match="surgery.md"):
        make_app(CONTENT_DIR=str(fixture_content))


# --- the declared content schema (issue 10, findings 2-4) ---------------------------


@pytest.mark.parametrize(("file_name", "old", "new", "field"), [
    ("causes.md", "    first_when: {surgery: [fusion]}", "    frist_when: {surgery: [fusion]}", "blocks[1].frist_when"),
    ("surgery.md", "    optional: true", "    optinal: true", "questions[1].optinal"),
    ("safety.md", "    label: Bladder trouble?", "    label: Bladder trouble?\n    hnit: Leaking", "questions[0].hnit"),
    ("start.md", "kind: info", "kind: info\nsectoin: About", "sectoin"),
    ("summary.md", "  - text: Always asked?", "  - text: Always asked?\n    wehn: {surgery: [fusion]}",
     "doctor_questions[0].wehn"),
    ("surgery.md", "  - goto: summary", "  - goto: summary\n    wehn: {surgery: [other]}", "next[1].wehn"),
    ("safety.md", '      - {value: "no", label: "No"}', '      - {value: "no", label: "No", lable: "Nope"}',
     "questions[0].options[1].lable"),
])
def test_a_misspelled_key_stops_start_up_naming_file_and_field(fixture_content, file_name, old, new, field):
    """Finding 2: `optinal` used to be ignored, silently making an optional question compulsory."""
    _edit(fixture_content / "steps" / file_name, old, new)
    with pytest.raises(ContentError) as error:
        load_journey(fixture_content)
    assert error.value.source.endswith(file_name)
    assert f"field '{field}'" in str(error.value)
    assert "not a known field" in str(error.value)


def test_a_misspelled_key_in_journey_yaml_or_references_stops_start_up(fixture_content):
    meta = fixture_content / "journey.yaml"
    meta.write_text(meta.read_text(encoding="utf-8") + "disclamer: typo\n", encoding="utf-8")
    with pytest.raises(ContentError, match=r"journey.yaml: field 'disclamer': not a known field"):
        load_journey(fixture_content)


def test_a_misspelled_key_in_references_stops_start_up(fixture_content):
    _edit(fixture_content / "references.yaml", "- n: 1\n", "- n: 1\n  txt: typo\n")
    with pytest.raises(ContentError, match=r"references.yaml: field '\[0\].txt': not a known field"):
        load_journey(fixture_content)


def test_a_misspelled_key_suggests_the_known_one(fixture_content):
    _edit(fixture_content / "steps" / "surgery.md", "    optional: true", "    optinal: true")
    with pytest.raises(ContentError, match="did you mean 'optional'"):
        load_journey(fixture_content)


def test_a_value_of_the_wrong_type_names_the_field(fixture_content):
    _edit(fixture_content / "steps" / "surgery.md", "    optional: true", "    optional: sometimes")
    with pytest.raises(ContentError, match=r"surgery.md: field 'questions\[1\].optional': must be true or false"):
        load_journey(fixture_content)


def test_front_matter_ends_only_at_a_whole_dashes_line(fixture_content):
    """Finding 3: `title: Pain --- and sleep` was cut at the dashes."""
    _edit(fixture_content / "steps" / "start.md", "title: Start", "title: Pain --- and sleep")
    _edit(fixture_content / "steps" / "causes.md", "Causes intro.", "Causes intro.\n\nOne --- two.")
    journey = load_journey(fixture_content)
    assert journey.steps["start"].title == "Pain --- and sleep"
    assert "One --- two." in journey.steps["causes"].intro_text


def test_a_thematic_break_in_the_body_stays_in_the_body(fixture_content):
    _edit(fixture_content / "steps" / "causes.md", "Causes intro.", "Causes intro.\n\n---\n\nAfter the line.")
    step = load_journey(fixture_content).steps["causes"]
    assert "After the line." in step.intro_text and "<hr" in step.intro_html


def test_front_matter_without_a_closing_line_stops_start_up(fixture_content):
    path = fixture_content / "steps" / "urgent.md"
    path.write_text("---\ntitle: Get help today --- now\nsection: Safety\nkind: stop\nGo now.\n", encoding="utf-8")
    with pytest.raises(ContentError, match=r"urgent.md: field 'front matter': no closing '---' line"):
        load_journey(fixture_content)


@pytest.mark.parametrize("step_id", ["save", "restart", "continue"])
def test_a_step_id_that_is_a_route_stops_start_up(fixture_content, step_id):
    """Finding 4: a step `save` was shadowed by the continue-later page; `restart` would wipe the journey."""
    (fixture_content / "steps" / f"{step_id}.md").write_text(
        "---\ntitle: Odd\nsection: X\nkind: info\nnext:\n  - goto: summary\n---\nText.\n", encoding="utf-8")
    _edit(fixture_content / "steps" / "causes.md", "  - goto: summary", f"  - goto: {step_id}")
    with pytest.raises(ContentError, match=rf"{step_id}.md: field 'file name': .*'{step_id}'.* is a page of the site"):
        load_journey(fixture_content)


def test_reserved_step_ids_cover_every_journey_route(app):
    """The declared list is checked against the routes the app really has under /journey/."""
    from clinic.journey import RESERVED_STEP_IDS

    static_segments = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/journey/"):
            first = rule.rule.removeprefix("/journey/").split("/")[0]
            if not first.startswith("<"):
                static_segments.add(first)
    assert static_segments, "no fixed routes under /journey/ found: the test lost its subject"
    assert static_segments <= set(RESERVED_STEP_IDS)
