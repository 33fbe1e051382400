"""The Spanish guide's reading gates (issue 20 C): complete, easy to read, in its own words, short enough.

textstat's language is global (`set_lang` changes how it counts syllables for every later call), so this module
sets "es" for its own tests only and puts English back after them; the English gates are in
tests/test_journey_content.py and tests/test_reading.py.
"""
import re
import statistics
from pathlib import Path

import pytest
import textstat

from clinic.journey import reading
from clinic.journey.loader import load_journey, load_journeys
from tests.support.article import SPANISH_WORD, copied_runs

ROOT = Path(__file__).resolve().parent.parent
CONTENT = ROOT / "content"
FERNANDEZ_HUERTA_EACH = 60  # every step: "fairly easy" and above on the Fernández-Huerta scale
FERNANDEZ_HUERTA_MEDIAN = 70


@pytest.fixture(scope="module")
def spanish_text():
    textstat.set_lang("es")
    try:
        yield
    finally:
        textstat.set_lang("en_US")


@pytest.fixture(scope="module")
def journeys():
    """What the site serves (loaded once per process and content version, so shared with the apps of other tests)."""
    problems = {}
    served = load_journeys(CONTENT, problems=problems)
    if "es" in problems:
        raise problems["es"]  # a Spanish file differs from the English: its file and key
    return served


@pytest.fixture(scope="module")
def english(journeys):
    return journeys["en"]


@pytest.fixture(scope="module")
def spanish(journeys):
    return journeys.get("es") or load_journey(CONTENT, language="es")


def test_the_spanish_content_is_complete(spanish):
    """Spanish is served only when every file is there: this fails until the translation is whole."""
    assert spanish.missing == (), f"Spanish files still missing: {spanish.missing}"


def test_the_syllables_are_counted_as_spanish(spanish_text):
    # In English rules "murciélago" has 3 syllables; in Spanish 4 (mur-cié-la-go). A gate that measured Spanish
    # with English syllables would pass texts it should not.
    assert textstat.syllable_count("murciélago") == 4


def test_every_spanish_step_reads_at_fernandez_huerta_60_or_more_with_a_median_of_70(spanish, spanish_text):
    scores = {step_id: textstat.fernandez_huerta(step.main_text()) for step_id, step in spanish.steps.items()}
    too_hard = {step_id: score for step_id, score in scores.items() if score < FERNANDEZ_HUERTA_EACH}
    assert not too_hard, f"Spanish steps below Fernández-Huerta {FERNANDEZ_HUERTA_EACH}: {too_hard}"
    assert statistics.median(scores.values()) >= FERNANDEZ_HUERTA_MEDIAN, scores


def test_the_spanish_research_sections_stay_readable(spanish, spanish_text):
    # Like the English (grade 12 at most for research): Fernández-Huerta 50 is "somewhat hard", no worse.
    for step in spanish.steps.values():
        if step.research_text():
            assert textstat.fernandez_huerta(step.research_text()) >= 50, step.id


def test_the_spanish_text_does_not_copy_the_article(spanish):
    """The article is English: Spanish text must not carry its sentences over, untranslated or half translated."""
    texts = {step.id: step.main_text() + "\n" + step.research_text() for step in spanish.steps.values()}
    if spanish.comparison:
        texts["comparison"] = "\n".join(row.text for row in spanish.comparison.rows)
    texts.update({f"page {slug}": html for slug, (_title, html) in spanish.pages.items()})
    for name, text in texts.items():
        copied = copied_runs(re.sub(r"<[^>]+>", " ", text), SPANISH_WORD)
        assert not copied, f"{name} copies the article word for word: {copied[:3]}"


def _texts(step):
    items = [step.title, step.intro_text]
    for question in step.questions:
        items += [question.label, question.hint] + [o.label for o in question.options]
    for block in step.blocks:
        items += [block.heading, block.body_text, block.research_text]
    return items


def test_no_spanish_text_is_left_in_english(english, spanish):
    """A field the translator has not done yet (the English text pasted in) passes the structure checks: not this."""
    left = [(step_id, text[:60]) for step_id, step in english.steps.items()
            for text, other in zip(_texts(step), _texts(spanish.steps[step_id]), strict=True)
            if len(text.split()) >= 4 and text == other]
    assert not left, f"Spanish fields still in English: {left[:5]}"


def test_every_typical_spanish_path_shows_at_most_1800_words(spanish):
    assert reading.word_limit(spanish) == 1800
    words = {answer: reading.path_words(spanish, answers) for answer, answers in reading.longest_paths(spanish).items()}
    assert max(words.values()) <= 1800, f"Spanish words on the longest path per surgery answer: {words}"


def test_the_start_page_gives_the_minutes_of_the_spanish_words(english, spanish):
    counts = [reading.path_words(spanish, answers) for answers in reading.complete_answers(spanish)]
    low, high = spanish.reading_minutes
    assert (low, high) == (max(1, min(counts) // reading.WORDS_PER_MINUTE),
                           -(-max(counts) // reading.WORDS_PER_MINUTE))
    start = spanish.steps[spanish.first_step]
    assert reading.reading_time_text((low, high), "es") in start.intro_text
    assert "minutos" in start.intro_text and "minutes" not in start.intro_text
    # computed from the Spanish words, not the English ones
    assert counts != [reading.path_words(english, answers) for answers in reading.complete_answers(english)]


def test_the_spanish_interface_words_counted_are_the_catalog_s():
    """reading.py counts the Spanish of a few template words ("What the research says", "or" ...): the same words
    translations/es gives the templates."""
    from babel.messages.pofile import read_po

    with (ROOT / "translations" / "es" / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        catalog = read_po(handle)
    for key in ("research", "also", "or", "optional", "read_more", "figure_caption"):
        message = catalog[reading.INTERFACE["en"][key]]
        assert message is not None and message.string == reading.INTERFACE["es"][key], key
