"""Relevance first and the reading time: which blocks a step shows in full, and the words a path shows."""
import math
from dataclasses import replace

from clinic.journey import Block, Step, load_journey, reading
from clinic.journey.model import conditions_hold
from tests.conftest import ROOT
from tests.helpers import info_steps_with_every_box_combination

FIXTURE = ROOT / "tests" / "fixtures" / "content"


def block(block_id, words, when=None):
    body = " ".join(["word"] * words)
    return Block(id=block_id, heading=block_id.title(), body_html=body, body_text=body, research_html="",
                 research_text="", first_when=when or {})


def info_step(*blocks, intro_words=10):
    intro = " ".join(["intro"] * intro_words)
    return Step(id="info", title="Info", section="Info", kind="info", intro_html=intro, intro_text=intro,
                questions=(), rules=(), blocks=blocks, doctor_questions=(), source="info.md")


FUSION = {"surgery": frozenset({"fusion"})}


def ids(pairs):
    return [b.id for b, _fits in pairs]


def test_blocks_that_fit_the_answers_are_shown_and_the_others_wait_one_tap_away():
    step = info_step(block("general", 20), block("fusion", 20, FUSION), block("other", 20, {"surgery": frozenset({"disc"})}))
    layout = reading.layout(step, {"surgery": "fusion"})
    assert ids(layout.shown) == ["fusion"]
    assert [fits for _b, fits in layout.shown] == [True]
    assert ids(layout.also) == ["general", "other"]  # for everyone, or written for another answer: one tap away


def test_when_no_block_fits_the_answers_the_first_one_for_everyone_is_shown():
    step = info_step(block("general", 20), block("fusion", 20, FUSION), block("more", 20))
    layout = reading.layout(step, {"surgery": "laminectomy"})
    assert ids(layout.shown) == ["general"] and ids(layout.also) == ["fusion", "more"]


def test_blocks_stop_being_shown_in_full_once_the_next_one_would_pass_the_word_budget():
    budget = reading.SHOWN_WORDS - 10
    step = info_step(block("first", budget - 50), block("long", 60), block("short", 5))
    layout = reading.layout(step, {})
    # "short" would still fit, but the page keeps its order: everything after "long" waits below.
    assert ids(layout.shown) == ["first"] and ids(layout.also) == ["long", "short"]


def test_a_block_that_fits_the_answers_but_passes_the_budget_shows_its_first_paragraph_above_continue():
    long = replace(block("fusion", reading.SHOWN_WORDS * 2, FUSION), lead_html="<p>First.</p>", lead_text="First.",
                   more_html="<p>More.</p>")
    step = info_step(block("general", 10), long, block("later", 10, FUSION))
    layout = reading.layout(step, {"surgery": "fusion"})
    assert layout.lead is long and ids(layout.shown) == []
    assert [(b.id, fits) for b, fits in layout.also] == [("later", True), ("general", False)]
    journey = load_journey(FIXTURE)
    # Title (1) + intro (10) + the lead's heading, paragraph and "Read more" (1 + 1 + 2) + the closed blocks' headings
    # (2) + "Also on this page" (4).
    assert reading.step_words(journey, step, {"surgery": "fusion"}) == 1 + 10 + 4 + 2 + 4


def test_a_block_of_one_paragraph_that_fits_the_answers_is_shown_whole_even_past_the_budget():
    step = info_step(block("general", 10), block("fusion", reading.SHOWN_WORDS * 2, FUSION))
    layout = reading.layout(step, {"surgery": "fusion"})
    assert layout.lead is None and ids(layout.shown) == ["fusion"] and ids(layout.also) == ["general"]


def test_also_on_this_page_lists_blocks_that_fit_the_answers_first():
    step = info_step(block("general", 10), block("a", reading.SHOWN_WORDS - 20, FUSION), block("b", 30, FUSION))
    layout = reading.layout(step, {"surgery": "fusion"})
    assert ids(layout.shown) == ["a"]
    assert [(b.id, fits) for b, fits in layout.also] == [("b", True), ("general", False)]


def test_step_words_count_what_is_shown_and_only_the_headings_of_closed_blocks():
    step = info_step(block("general", 20), block("other", 50, {"surgery": frozenset({"disc"})}), intro_words=10)
    journey = load_journey(FIXTURE)
    # Title (1) + intro (10) + "General" and its body (1 + 20) + the closed block's heading (1) + "Also on this page".
    assert reading.step_words(journey, step, {"surgery": "fusion"}) == 1 + 10 + 21 + 1 + 4


def test_the_reading_time_is_computed_from_the_typical_paths_and_written_where_the_content_asks():
    journey = load_journey(ROOT / "content")
    counts = [reading.path_words(journey, a) for a in reading.complete_answers(journey, "typical")]
    low, high = journey.reading_minutes
    assert low == max(1, math.floor(min(counts) / 200)) and high == math.ceil(max(counts) / 200)
    start = journey.steps[journey.first_step]
    # In the HTML, and in the plain text that words are counted on (where Markdown marks such as _ are gone).
    assert reading.reading_time_text((low, high)) in start.intro_html
    assert reading.reading_time_text((low, high)) in start.intro_text
    assert "{{" not in start.intro_html and "{{" not in start.intro_text


def test_every_surgery_answer_reaches_the_summary_in_the_typical_paths():
    journey = load_journey(ROOT / "content")
    answers = reading.complete_answers(journey, "typical")
    assert {a["surgery"] for a in answers} == {o.value for o in journey.question("surgery").options}
    # Stop pages end a walk: no answer set with a warning sign reaches the summary.
    assert all(not journey.warning_signs_in(a) for a in answers)


def test_no_path_shows_more_than_1500_words_with_research_and_other_blocks_closed():
    journey = load_journey(ROOT / "content")
    longest = reading.longest_paths(journey)
    assert set(longest) == {o.value for o in journey.question("surgery").options}
    words = {answer: reading.path_words(journey, answers) for answer, answers in longest.items()}
    assert max(words.values()) <= reading.PATH_WORD_LIMIT, f"words on the longest path per surgery answer: {words}"


def test_the_longest_path_is_the_longest_of_the_typical_paths_for_that_answer():
    journey = load_journey(ROOT / "content")
    longest = reading.longest_paths(journey)
    for answers in reading.complete_answers(journey, "typical"):
        assert reading.path_words(journey, answers) <= reading.path_words(journey, longest[answers["surgery"]])


def test_with_every_box_combination_an_info_step_shows_the_first_block_that_fits_above_continue():
    """Relevance first: the blocks written for a person's answers are why the step exists for them. Found: on
    `conventional`, a laminectomy with the stimulator ticked showed nothing in full, the stimulator block waiting
    after Continue (the tests ticked only the first box of each question)."""
    journey = load_journey(ROOT / "content")
    missing, tried = set(), 0
    for step, answers in info_steps_with_every_box_combination(journey):
        tried += 1
        fitting = [b for b in step.blocks if b.first_when and conditions_hold(b.first_when, answers)]
        layout = reading.layout(step, answers)
        above = [b.id for b, _fits in layout.shown] + ([layout.lead.id] if layout.lead else [])
        if fitting and fitting[0].id not in above:
            missing.add((step.id, fitting[0].id))
    assert tried > 1000
    assert not missing, f"the first block that fits is not above Continue: {sorted(missing)}"
