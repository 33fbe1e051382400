"""Spanish descriptions are flagged like English ones (issue 20 C): the Spanish patterns of content/triage.yaml,
accents folded on both sides, every English behaviour kept (tests/test_flagged.py)."""
import json
import time

import pytest

from blueprints.requests import sign_started
from clinic import triage
from clinic.journey import ContentError
from tests.conftest import ROOT, content_dir
from tests.helpers import PATIENT, form_fields
from tests.support import storage
from tests.support.flagged import ORDINARY, PATIENT_PHRASINGS, banner_of, concepts_in, csv_rows, reference_of
from tests.support.staff import FAST_ARGON2, Clock, create_staff, sign_in


@pytest.fixture(scope="module")
def real_triage():
    return triage.load_triage(ROOT / "content")


# How Spanish-speaking patients write it: without accents, with typos (b for v, s for c), run on, in capitals.
SPANISH_PHRASINGS = [
    # self-harm
    ("quiero hacerme daño", "self_harm"),
    ("a veces quiero hacerme dano", "self_harm"),
    ("quiero aserme daño", "self_harm"),
    ("No quiero vivir así", "self_harm"),
    ("ya no quiero bivir con este dolor", "self_harm"),
    ("he pensado en quitarme la vida", "self_harm"),
    ("me quiero morir", "self_harm"),
    ("mi familia estaria mejor sin mí", "self_harm"),
    ("tengo pensamientos suicidas", "self_harm"),
    ("pienso en el suisidio", "self_harm"),
    ("anoche me tomé todas las pastillas", "self_harm"),
    ("quisiera estar muerta", "self_harm"),
    ("ya no puedo más.", "self_harm"),
    ("quiero acabar con todo", "self_harm"),
    ("no vale la pena vivir asi", "self_harm"),
    ("a veces pienso que seria mejor morirme", "self_harm"),
    ("no le veo sentido a la vida", "self_harm"),
    # weakness
    ("tengo las piernas más débiles", "weakness"),
    ("las piernas mas debiles desde ayer", "weakness"),
    ("siento debilidad en la pierna derecha", "weakness"),
    ("arrastro el pie izquierdo", "weakness"),
    ("se me doblan las rodillas", "weakness"),
    ("no puedo levantar la punta del pie", "weakness"),
    ("no puedo caminar desde esta mañana", "weakness"),
    ("no me puedo parar", "weakness"),
    # bladder and bowel
    ("no puedo orinar", "bladder_bowel"),
    ("NO PUEDO ORINAR DESDE AYER", "bladder_bowel"),
    ("se me sale la orina sin querer", "bladder_bowel"),
    ("perdi el control de la vejiga", "bladder_bowel"),
    ("me orine encima en el trabajo", "bladder_bowel"),
    ("no controlo la orina", "bladder_bowel"),
    # saddle area
    ("tengo adormecida la entrepierna", "saddle"),
    ("no siento las nalgas", "saddle"),
    ("hormigueo entre las piernas", "saddle"),
    ("tengo dormidas las nalgas", "saddle"),
    # chest and breathing
    ("dolor de pecho", "chest_breathing"),
    ("me duele el pecho cuando camino", "chest_breathing"),
    ("me falta el aire", "chest_breathing"),
    ("no puedo respirar bien", "chest_breathing"),
    ("estoy tosiendo sangre", "chest_breathing"),
    # neck surgery, fainting
    ("me cuesta tragar desde la cirugía del cuello", "neck_swallowing"),
    ("me desmayé en la cocina", "fainting"),
    # numbness
    ("no siento las piernas", "numbness"),
    ("No siento el pie", "numbness"),
    ("tengo hormigueo en el pie", "numbness"),
    ("se me adormece la pierna", "numbness"),
    # infection
    ("fiebre", "infection"),
    ("tengo fiebre desde el lunes", "infection"),
    ("tengo 38,5 de temperatura", "infection"),
    ("marca 101 grados", "infection"),
    ("escalofríos toda la noche", "infection"),
    ("está confundido y tiene el cuello rígido", "infection"),
    ("creo que tengo una infecsion", "infection"),
    ("tengo fievre", "infection"),
    # wound
    ("la herida está roja y caliente", "wound"),
    ("le sale pus a la cicatriz", "wound"),
    ("se me abrieron dos puntos", "wound"),
    ("la erida esta roja", "wound"),
    # device, calf, falls
    ("la piel sobre el estimulador está hinchada", "device"),
    ("la bomba de medicina suena una alarma", "device"),
    ("me duele la pantorrilla y está hinchada", "calf"),
    ("me caí en la ducha", "falls"),
    ("pierdo el equilibrio", "falls"),
    # severe pain, headache when upright, very sleepy
    ("tengo un dolor insoportable", "severe_pain"),
    ("el dolor es de 10 de 10", "severe_pain"),
    ("dolor de cabeza que empeora cuando me siento", "headache_upright"),
    ("mi esposo está muy somnoliento y cuesta despertarlo", "very_sleepy"),
]


def test_at_least_40_spanish_phrasings_10_of_them_self_harm():
    assert len(SPANISH_PHRASINGS) >= 40
    assert sum(concept == "self_harm" for _, concept in SPANISH_PHRASINGS) >= 10
    # every concept has at least one Spanish phrasing here
    assert {c for _, c in SPANISH_PHRASINGS} == {c for _, c in PATIENT_PHRASINGS}


@pytest.mark.parametrize("text, concept", SPANISH_PHRASINGS, ids=[t for t, _ in SPANISH_PHRASINGS])
def test_how_spanish_speaking_patients_write_a_warning_sign_is_flagged_with_its_concept(real_triage, text, concept):
    found = real_triage.assess([], text)
    assert found.flagged and concept in concepts_in(found.words), [str(m) for m in found.words]


# What people write in Spanish about pain that has come back, with nothing that needs a call today; several lean
# on words a pattern looks for ("año" reads "ano", "me cayó bien", "inestabilidad", "no quiero hacerme daño al").
ORDINARY_ES = [
    "El dolor de la pierna volvió un año después de la fusión.",
    "Me operaron hace dos años y el dolor regresó",
    "Tengo dolor de espalda casi todos los días, peor en la tarde.",
    "No puedo caminar mucho sin descansar",
    "No puedo caminar más de dos cuadras por el dolor",
    "Me lastimé la espalda levantando una caja hace años",
    "La terapia física me ayudó un poco",
    "Quisiera saber si la proloterapia me puede ayudar",
    "Tomo ibuprofeno y me ayuda un poco",
    "Me cuesta dormir por el dolor",
    "Estoy confundida con tantas opciones de tratamiento",
    "El cirujano dijo que hay inestabilidad en la columna",
    "El doctor me cayó muy bien",
    "Mi esposa dice que pida una segunda opinión",
    "Estar sentado todo el día me pone la espalda rígida",
    "Trabajo medio tiempo y quiero volver a tiempo completo",
    "¿Qué es la prueba del estimulador?",
    "Me quitaron la vesícula en 2019",
    "El dolor me baja por la pierna hasta la rodilla",
    "Mi dolor es como un 6 de 10",
    "El dolor ha empeorado con los años",
    "No tengo la sensación de que mejore",
    "No quiero hacerme daño al hacer ejercicio",
    "Tengo miedo de hacerme daño otra vez",
    "Me pusieron tornillos en la espalda",
    "Hace un año me pusieron un estimulador y no me ayudó",
    "Tomé muchas pastillas este año y no me ayudaron",
    "No he dormido bien por el dolor en las nalgas",
    "Me cuesta trabajo subir las escaleras por el dolor de espalda.",
    "Siento el cuello tenso por el estrés.",
    "Me siento frustrado porque nada funciona.",
    "Tengo miedo de otra operación.",
]


def test_at_least_20_ordinary_spanish_descriptions():
    assert len(ORDINARY_ES) >= 20


@pytest.mark.parametrize("text", ORDINARY_ES)
def test_an_ordinary_spanish_description_is_not_flagged(real_triage, text):
    found = real_triage.assess([], text)
    assert not found.flagged, [str(m) for m in found.words]


@pytest.mark.parametrize("text", [t for t in ORDINARY if t])
def test_the_spanish_patterns_do_not_flag_an_ordinary_english_description(real_triage, text):
    spanish_only = triage.Matcher([triage.Concept(c.id, c.label, c.patterns_es, c.examples_es, None)
                                   for c in real_triage.concepts])
    assert spanish_only.find(text) == [], text


def test_accents_are_folded_on_both_sides_and_staff_read_the_words_as_the_patient_wrote_them(real_triage):
    for text in ("quiero hacerme daño", "quiero hacerme dano", "QUIERO HACERME DAÑO", "quiero hacerme da\u0303no"):
        assert [m.concept for m in real_triage.assess([], text).words] == ["self_harm"], text
    found = real_triage.assess([], "Tengo las piernas MÁS débiles\ny no puedo orinar")
    assert [str(m) for m in found.words] == ["bladder and bowel (no puedo orinar)", "weakness (débiles)"]
    assert triage.plain("Débil, año")[0] == "debil, ano"


def test_a_pattern_written_with_accents_reads_like_one_without(tmp_path):
    (tmp_path / "triage.yaml").write_text(
        "concepts:\n  - id: weakness\n    label: weakness\n    patterns: ['weak\\w*']\n    examples: [weak]\n"
        "    patterns_es: ['más débil(?:es)?']\n    examples_es: [las piernas mas debiles, las piernas más débiles]\n"
        "banner: {heading: a, action: b, signs_intro: c, words_intro: d}\n", encoding="utf-8")
    loaded = triage.load_triage(tmp_path)
    assert concepts_in(loaded.matcher.find("mas debil")) == ["weakness"]


def test_the_more_urgent_concept_keeps_the_shared_words_in_spanish_too(real_triage):
    # "adormecimiento en las nalgas" is the saddle area, not numbness too; "pie caído" is weakness, not a fall.
    assert concepts_in(real_triage.assess([], "adormecimiento en las nalgas").words) == ["saddle"]
    assert concepts_in(real_triage.assess([], "tengo el pie caído").words) == ["weakness"]
    text = "Se me duerme el pie. Me caí la semana pasada, no puedo orinar y a veces pienso en el suicidio."
    assert [str(m) for m in real_triage.assess([], text).words] == [
        "self-harm (suicidio)", "bladder and bowel (no puedo orinar)", "numbness (Se me duerme el pie)",
        "falls (Me caí)"]


@pytest.mark.parametrize("field, text", [
    ("concepts[0].examples_es[1]", "    patterns_es: ['debil\\w*']\n    examples_es: [debil, piernas flojas]\n"),
    ("concepts[0].patterns_es[0]", "    patterns_es: ['Débil']\n    examples_es: [debil]\n"),
    ("concepts[0].patterns_es[0]", "    patterns_es: ['debil(']\n    examples_es: [debil]\n"),
])
def test_a_spanish_example_not_found_or_a_bad_spanish_pattern_stops_start_up_naming_the_field(tmp_path, field, text):
    (tmp_path / "triage.yaml").write_text(
        "concepts:\n  - id: weakness\n    label: weakness\n    patterns: ['weak\\w*']\n    examples: [weak]\n" + text
        + "banner: {heading: a, action: b, signs_intro: c, words_intro: d}\n", encoding="utf-8")
    with pytest.raises(ContentError) as caught:
        triage.load_triage(tmp_path)
    assert caught.value.field_name == field, str(caught.value)


def test_every_concept_has_spanish_patterns_and_examples(real_triage):
    for concept in real_triage.concepts:
        assert concept.patterns_es and concept.examples_es, concept.id


@pytest.mark.both_databases
def test_a_spanish_request_is_flagged_like_an_english_one(make_app, smtp_server):
    app = make_app(CONTENT_DIR=str(content_dir()), WTF_CSRF_ENABLED=False, STAFF_ARGON2=FAST_ARGON2,
                   STAFF_CLOCK=Clock(), **smtp_server.config())
    create_staff(app)
    staff = app.test_client()
    assert sign_in(staff).status_code == 303
    patient = app.test_client()
    description = "El dolor no se quita y a veces quiero hacerme daño"
    # Sent from the Spanish guide's form (/es/request), as a Spanish-speaking patient sends it.
    page = patient.get("/es/request")
    assert page.status_code == 200 and 'lang="es"' in page.get_data(as_text=True)
    hidden = form_fields(page.get_data(as_text=True))
    hidden["started"] = sign_started(time.time() - 60, app.config["SECRET_KEY"])
    sent = patient.post("/es/request", data={**hidden, **PATIENT, "description": description})
    assert sent.status_code == 303 and sent.headers["Location"].endswith("/es/request/sent")
    confirmation = patient.get("/es/request/sent").get_data(as_text=True)
    assert app.extensions["journey"].clinic_phone in confirmation and 'href="tel:988"' in confirmation
    reference = reference_of(app, description)
    stored = storage.stored(app, "SELECT flagged, flag_words, answers_language FROM requests")[0]
    assert stored["flagged"] == 1 and stored["answers_language"] == "es"
    assert json.loads(stored["flag_words"]) == [
        {"concept": "self_harm", "label": "self-harm", "matched": "quiero hacerme daño"}]
    own = app.extensions["triage"].banner_for(("self_harm",))
    banner = banner_of(staff, reference)
    assert own["heading"] in banner and "self-harm (quiero hacerme daño)" in banner
    assert csv_rows(staff)[reference]["flag_words"] == "self-harm (quiero hacerme daño)"
