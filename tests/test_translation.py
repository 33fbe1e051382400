"""content/es/ over the English structure (issue 20 C): text only, and refused where it differs from the English.

Most checks are on overlay() with small data (fast); a few load a copy of the content with a translation written
from the English (tests/support/translations.py), break one key of one file and expect the loader to name both.
"""
import copy
import re
import shutil
from pathlib import Path

import pytest
import yaml

from clinic.journey import translation
from clinic.journey.errors import ContentError
from clinic.journey.loader import load_journey, load_journeys
from clinic.journey.translation import overlay
from clinic.journey.version import content_version
from tests.support.translations import dump, shaped, translatable, write_translation

ROOT = Path(__file__).resolve().parent.parent
CONTENT = ROOT / "content"
SMALL = ROOT / "tests" / "fixtures" / "content"

STEP_EN = {
    "title": "What have you tried?", "section": "Treatment options", "kind": "question", "source": "article",
    "questions": [{"id": "tried", "type": "multiple", "label": "Which of these have you tried?",
                   "hint": "Check all that apply.",
                   "options": [{"value": "opioids", "label": "Opioid pills"}, {"value": "exercise", "label": "Exercise"}]}],
    "blocks": [{"id": "pills", "heading": "Pills", "source": "article",
                "body": "## What it is\n\nA review of 12 studies [ref:21]. Do not stop on your own.",
                "added": [{"claim": "Do not stop on your own.", "reason": "safety advice"}]}],
    "doctor_questions": [{"text": "What are my options?"}, {"text": "How long does it take?",
                                                            "when": {"tried": ["opioids"]}}],
    "next": [{"goto": "conventional"}],
    "body": "Tell us what you tried [ref:3].",
}
STEP_ES = {
    "title": "¿Qué ha probado?", "section": "Opciones de tratamiento",
    "questions": {"tried": {"label": "¿Cuáles de estas ha probado?", "hint": "Marque todas las que correspondan.",
                            "options": {"opioids": "Pastillas opioides", "exercise": {"label": "Ejercicio"}}}},
    "blocks": {"pills": {"heading": "Pastillas",
                         "body": "## Qué es\n\nUna revisión de 12 estudios [ref:21]. No las deje por su cuenta.",
                         "added": ["No las deje por su cuenta."]}},
    "doctor_questions": ["¿Cuáles son mis opciones?", "¿Cuánto tiempo lleva?"],
    "body": "Díganos qué ha probado [ref:3].",
}


def es(**changes):
    """STEP_ES with keys replaced: `questions__tried__hint="..."` or a value of None to drop the key."""
    data = copy.deepcopy(STEP_ES)
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        target = data
        for key in parents:
            target = target[int(key)] if isinstance(target, list) else target[key]
        if value is None:
            del target[last]
        else:
            target[last] = value
    return data


def refused(translated, key, words, english=STEP_EN, spec=translation.STEP):
    with pytest.raises(ContentError) as caught:
        overlay(english, translated, spec, "content/es/steps/tried.md")
    assert caught.value.source == "content/es/steps/tried.md"
    assert caught.value.field_name == key, str(caught.value)
    assert re.search(words, caught.value.problem), str(caught.value)


def test_the_text_is_laid_over_the_english_structure():
    merged = overlay(STEP_EN, STEP_ES, translation.STEP, "es/tried.md")
    assert merged["kind"] == "question" and merged["next"] == STEP_EN["next"] and merged["source"] == "article"
    question = merged["questions"][0]
    assert question["id"] == "tried" and question["type"] == "multiple"
    assert [(o["value"], o["label"]) for o in question["options"]] == [("opioids", "Pastillas opioides"),
                                                                        ("exercise", "Ejercicio")]
    block = merged["blocks"][0]
    assert block["id"] == "pills" and block["source"] == "article"
    assert block["added"] == [{"claim": "No las deje por su cuenta.", "reason": "safety advice"}]  # reason: English
    assert merged["doctor_questions"][1] == {"text": "¿Cuánto tiempo lleva?", "when": {"tried": ["opioids"]}}
    assert merged["body"].startswith("Díganos")


@pytest.mark.parametrize(("translated", "key", "words"), [
    # ids, options and the block set are the English ones
    (es(questions={"tries": STEP_ES["questions"]["tried"]}), "questions", r"missing \['tried'\].*not in the English \['tries'\]"),
    (es(questions__tried__options={"opioids": "Opioides"}), "questions.tried.options", r"missing \['exercise'\]"),
    (es(questions__tried__options={"exercise": "Ejercicio", "opioids": "Opioides"}), "questions.tried.options",
     "in the English order"),
    (es(blocks={}), "blocks", "is missing"),
    (es(blocks={"pills": STEP_ES["blocks"]["pills"], "pump": {"heading": "Bomba", "body": "Texto."}}), "blocks",
     r"not in the English \['pump'\]"),
    (es(doctor_questions=["¿Cuáles son mis opciones?"]), "doctor_questions", "has 1 entries; the English has 2"),
    # text fields: the same ones, and nothing but text
    (es(questions__tried__hint=None), "questions.tried.hint", "is missing"),
    (es(questions__tried__summary_label="Probado"), "questions.tried.summary_label", "the English file has none"),
    (es(next=[{"goto": "summary"}]), "next", "is not text: it stays in the English file"),
    (es(questions__tried__type="single"), "questions.tried.type", "is not text"),
    (es(blocks__pills__first_when={"tried": ["opioids"]}), "blocks.pills.first_when", "is not text"),
    (es(questions__tried__optinal=True), "questions.tried.optinal", "is not in the English file"),
    (es(title=["¿Qué ha probado?"]), "title", "must be text"),
    (es(body=None), "body", "is missing"),
    # references, figures, headings
    (es(body="Díganos qué ha probado."), "body", r"\[ref:N\] markers differ.*\[3\] in English, \[\] here"),
    (es(blocks__pills__body="## Qué es\n\nUna revisión de 12 estudios [ref:12]. No las deje por su cuenta."),
     "blocks.pills.body", r"\[ref:N\] markers differ"),
    (es(blocks__pills__body="## Qué es\n\nUna revisión de 13 estudios [ref:21]. No las deje por su cuenta."),
     "blocks.pills.body", r"figures \(numbers\) differ from the English: \[12\] in English, \[13\] here"),
    (es(blocks__pills__body="Qué es. Una revisión de 12 estudios [ref:21]. No las deje por su cuenta."),
     "blocks.pills.body", "Markdown headings differ"),
    (es(blocks__pills__added=["No las deje.", "Otra."]), "blocks.pills.added", "has 2 entries; the English has 1"),
])
def test_a_translation_that_differs_from_the_english_is_refused_naming_the_key(translated, key, words):
    refused(translated, key, words)


def test_figures_and_the_988_spanish_line():
    english = {"title": "Call 988", "body": "About 1,000 people; 100.4 °F (38 °C)."}
    spec = translation.PAGE
    overlay(english, {"title": "Llame al 988, oprima 2", "body": "Unas 1.000 personas; 100.4 °F (38 °C)."}, spec, "p")
    refused({"title": "Llame al 998", "body": "Unas 1000 personas; 100.4 °F (38 °C)."}, "title",
            r"\[988\] in English, \[998\] here", english, spec)
    refused({"title": "Llame al 988", "body": "Unas 1000 personas; 100 °F (38 °C)."}, "body", "figures", english, spec)


def test_warning_signs_are_keyed_by_their_english_ids():
    english = {"tiers": [{"id": "emergency", "label": "Emergency", "stop_step": "urgent"}], "none_label": "None",
               "groups": [{"id": "nerves", "step": "safety", "label": "Nerves",
                           "signs": [{"id": "leg_weakness", "tier": "emergency", "label": "Weak legs",
                                      "source": "added: x"}]}]}
    good = {"tiers": {"emergency": "Emergencia"}, "none_label": "Ninguna",
            "groups": {"nerves": {"label": "Nervios", "signs": {"leg_weakness": "Piernas débiles"}}}}
    merged = overlay(english, good, translation.WARNING_SIGNS, "es/warning_signs.yaml")
    assert merged["groups"][0]["signs"][0] == {"id": "leg_weakness", "tier": "emergency", "label": "Piernas débiles",
                                               "source": "added: x"}
    moved = yaml.safe_load(yaml.safe_dump(good))
    moved["groups"]["nerves"]["signs"] = {"leg_weakness": {"label": "Piernas débiles", "tier": "same_day"}}
    refused(moved, "groups.nerves.signs.leg_weakness.tier", "is not text", english, translation.WARNING_SIGNS)


@pytest.fixture
def small(tmp_path):
    """A copy of the small test journey with a whole Spanish translation written from it (each text + " (es)")."""
    content = tmp_path / "content"
    shutil.copytree(SMALL, content)
    write_translation(content, "es", lambda text: text + " (es)")
    return content


def test_a_complete_translation_is_served_with_the_english_structure(small):
    english, spanish = load_journey(small), load_journey(small, language="es")
    assert spanish.language == "es" and spanish.missing == ()
    assert list(spanish.steps) == list(english.steps)
    for step_id, step in english.steps.items():
        other = spanish.steps[step_id]
        assert (other.kind, other.rules) == (step.kind, step.rules)
        assert [(q.id, q.type, [o.value for o in q.options]) for q in other.questions] == \
            [(q.id, q.type, [o.value for o in q.options]) for q in step.questions]
        assert [b.id for b in other.blocks] == [b.id for b in step.blocks]
    assert all(step.title.endswith(" (es)") for step in spanish.steps.values())  # the Spanish text is shown
    assert all(q.label.endswith(" (es)") for s in spanish.steps.values() for q in s.questions)
    assert 'href="/es/references?cite=' in "".join(s.intro_html for s in spanish.steps.values())
    assert spanish.version != english.version
    assert set(load_journeys(small)) == {"en", "es"}


def test_a_translated_file_that_differs_is_refused_naming_the_spanish_file_and_key(small):
    path = small / "es" / "steps" / "surgery.md"
    path.write_text(path.read_text(encoding="utf-8").replace("fusion:", "fusión:"), encoding="utf-8")
    with pytest.raises(ContentError) as caught:
        load_journey(small, language="es")
    assert caught.value.source == str(path)
    assert caught.value.field_name == "questions.surgery.options" and "fusion" in caught.value.problem
    # At start-up the English site stays up, without Spanish, and the caller gets the error to log.
    problems = {}
    assert set(load_journeys(small, problems=problems)) == {"en"}
    assert str(problems["es"]) == str(caught.value)


def test_a_start_up_with_a_refused_translation_serves_english_and_logs_why(small, make_app, caplog):
    path = small / "es" / "steps" / "surgery.md"
    path.write_text(path.read_text(encoding="utf-8").replace("fusion:", "fusión:"), encoding="utf-8")
    app = make_app(CONTENT_DIR=str(small))
    assert list(app.extensions["journeys"]) == ["en"]
    assert "The es content is not served, English only" in caplog.text and "questions.surgery.options" in caplog.text


def test_a_check_across_files_names_the_spanish_file(small):
    # A step's translated section that is none of the translated parts: the English passed, so the Spanish is named.
    relative = "steps/causes.md"
    data = shaped(small, relative)
    data["section"] = "Otra parte"
    dump(small / "es" / relative, data)
    with pytest.raises(ContentError) as caught:
        load_journey(small, language="es")
    assert caught.value.source in (str(small / "es" / relative), str(small / "es" / "journey.yaml")), str(caught.value)
    assert "Otra parte" in str(caught.value) or "section" in caught.value.field_name + caught.value.problem


def test_a_missing_file_leaves_the_language_unserved_and_the_rest_still_checked(small):
    (small / "es" / "steps" / "causes.md").unlink()
    spanish = load_journey(small, language="es")
    assert spanish.missing == ("steps/causes.md",)
    assert set(load_journeys(small)) == {"en"}  # never a half-Spanish site
    broken = small / "es" / "steps" / "start.md"
    broken.write_text(broken.read_text(encoding="utf-8").replace("title:", "kind: info\ntitle:"), encoding="utf-8")
    with pytest.raises(ContentError, match=r"es/steps/start.md: field 'kind': is not text"):
        load_journey(small, language="es")


def test_a_translated_file_without_an_english_one_is_refused(small):
    (small / "es" / "steps" / "caueses.md").write_text("---\ntitle: x\n---\n", encoding="utf-8")
    with pytest.raises(ContentError, match=r"caueses.md: field 'file name': there is no English file"):
        load_journey(small, language="es")


def test_the_english_version_ignores_the_translations_and_each_translation_has_its_own(small):
    english, spanish = content_version(small), content_version(small, "es")
    path = small / "es" / "steps" / "start.md"
    path.write_text(path.read_text(encoding="utf-8") + " ", encoding="utf-8")
    assert content_version(small) == english and content_version(small, "es") != spanish
    path = small / "steps" / "start.md"
    path.write_text(path.read_text(encoding="utf-8") + " ", encoding="utf-8")
    assert content_version(small) != english


def test_the_translation_has_its_own_sign_off(small):
    meta = small / "es" / "journey.yaml"
    data = yaml.safe_load(meta.read_text(encoding="utf-8"))
    english_meta = yaml.safe_load((small / "journey.yaml").read_text(encoding="utf-8"))
    assert not any(key in data for key in translation.OWN_REVIEW_FIELDS)
    version = content_version(small, "es")
    unsigned = load_journey(small, language="es")
    assert unsigned.review_status() == "not reviewed" and unsigned.translator == ""
    data.update(reviewed="2026-11-25", reviewed_version=version, translator="Ana Pérez, CMI-Spanish")
    meta.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    signed = load_journey(small, language="es")
    assert content_version(small, "es") == version  # signing does not change what it signs
    assert signed.review_status() == "reviewed" and signed.translator == "Ana Pérez, CMI-Spanish"
    assert load_journey(small).review_status() == ("reviewed" if english_meta.get("reviewed_version") else "not reviewed")


def test_every_file_of_the_real_content_can_be_translated(tmp_path):
    """The specs cover every text field of the real content: a translation written from it loads."""
    content = tmp_path / "content"
    shutil.copytree(CONTENT, content, ignore=shutil.ignore_patterns("es"))
    write_translation(content, "es", lambda text: re.sub(r"\bthe\b", "la", text))
    assert {"journey.yaml", "warning_signs.yaml", "steps/tried.md", "diagrams/fusion.yaml"} <= set(translatable(content))
    spanish = load_journey(content, language="es")
    assert spanish.missing == ()
    assert "la" in spanish.steps["conventional"].blocks[0].body_text.split()


def _spanish_fragment(msgid):
    """The longest fixed part of a message's Spanish (between its placeholders), from the committed catalog."""
    from babel.messages.pofile import read_po

    with (ROOT / "translations" / "es" / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        message = read_po(handle)[msgid]
    assert message is not None and message.string, msgid
    return max(re.split(r"%\([a-z_]+\)s", message.string), key=len).strip()


def test_each_language_says_not_yet_reviewed_until_its_own_version_is_signed(small, make_app):
    from tests.conftest import sign_off

    not_yet = _spanish_fragment("This guide has not yet been reviewed by %(reviewer)s.")
    reviewed = _spanish_fragment("This guide was last reviewed on %(reviewed)s by %(reviewer)s. Next review by "
                                 "%(next_review)s.")
    sign_off(small)  # the English only
    app = make_app(CONTENT_DIR=str(small))
    client = app.test_client()
    english, spanish = client.get("/").get_data(as_text=True), client.get("/es/").get_data(as_text=True)
    assert "This guide was last reviewed on" in english
    assert not_yet in spanish and reviewed not in spanish
    meta = small / "es" / "journey.yaml"
    meta.write_text(meta.read_text(encoding="utf-8") + f"reviewed: 2026-11-25\nreviewed_version: "
                    f"{content_version(small, 'es')}\ntranslator: Ana Pérez\n", encoding="utf-8")
    spanish = make_app(CONTENT_DIR=str(small)).test_client().get("/es/").get_data(as_text=True)
    assert reviewed in spanish and "25 de noviembre de 2026" in spanish and not_yet not in spanish
