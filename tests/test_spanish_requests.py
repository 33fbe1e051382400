"""A request from the Spanish guide (issue 20 C): stored as the same ids, read by staff in English labels with
"Preferred language: Spanish" in the list, on the request page and in the CSV; staff mail English and free of
health details, the patient's receipt in Spanish."""
import csv
import io

import pytest

from clinic import callback, request_answers
from clinic.journey import reading
from clinic.notifications import build_message
from tests.conftest import content_dir
from tests.support.staff import FAST_ARGON2, add_request, create_staff, sign_in

SPANISH_WORDS = ("¿", "á", "é", "í", "ó", "ú", "ñ", " usted", " su ")


@pytest.fixture
def staff_app(make_app):
    return make_app(CONTENT_DIR=str(content_dir()), WTF_CSRF_ENABLED=False, STAFF_ARGON2=FAST_ARGON2)


@pytest.fixture
def journeys(staff_app):
    return staff_app.extensions["journeys"]


def _typical(journey):
    """A typical answer set with a warning-sign screen passed, a few boxes ticked and a text typed."""
    answers = dict(next(a for a in reading.complete_answers(journey) if any(isinstance(v, list) and v for v in a.values())))
    for step in journey.steps.values():
        for question in step.questions:
            if question.type == "text":
                answers[question.id] = "Mi propio texto"
    return answers


def test_staff_read_the_same_english_labels_whichever_language_the_patient_used(journeys):
    english, spanish = journeys["en"], journeys["es"]
    answers = _typical(english)
    seen = {s for s, step in english.steps.items() if step.kind == "info"}
    from_en = request_answers.from_journey(english, answers, seen, language=english.language)
    from_es = request_answers.from_journey(spanish, answers, seen, language=spanish.language)
    assert (from_es.values, from_es.free_text) == (from_en.values, from_en.free_text) and from_en.values
    assert (from_en.language, from_es.language) == ("en", "es")
    assert from_es.content_version == spanish.version != english.version

    def staff_read(stored):
        row = {**request_answers.stored_columns(stored), "journey_answers": None, "warning_signs": None}
        return request_answers.read(english, row)

    read_en, read_es = staff_read(from_en), staff_read(from_es)
    assert [(r.question, r.answers) for r in read_es.rows] == [(r.question, r.answers) for r in read_en.rows]
    english_labels = {q.label for s in english.steps.values() for q in s.questions}
    assert all(r.question in english_labels for r in read_es.rows)
    # Each request is compared with the content now served in its own language: neither has changed.
    assert not read_en.version_differs and not read_es.version_differs
    stale = {**request_answers.stored_columns(from_es), "content_version": "0000-0000-0000"}
    assert request_answers.read(english, stale).version_differs


def test_the_preferred_language_is_the_call_back_choice_else_the_guide_language():
    assert callback.preferred_language(None, answers_language="es") == "Spanish"
    assert callback.preferred_language("en", answers_language="es") == "English"  # what they chose wins
    assert callback.preferred_language("es", interpreter=True, answers_language="en") == \
        "Spanish, would like an interpreter"
    assert callback.preferred_language(None, answers_language="en") is None
    assert callback.preferred_language(None) is None


@pytest.mark.both_databases
def test_a_spanish_request_shows_staff_preferred_language_spanish_in_the_list_the_page_and_the_csv(staff_app, journeys):
    spanish = journeys["es"]
    seen = {s for s, step in spanish.steps.items() if step.kind == "info"}
    stored = request_answers.from_journey(spanish, _typical(spanish), seen, language="es")
    assert stored.values
    reference = add_request(staff_app, answers=stored, description="Todavía me duele la pierna.")
    english_ref = add_request(staff_app, answers=request_answers.from_journey(journeys["en"], {}, language="en"))
    create_staff(staff_app)
    client = staff_app.test_client()
    assert sign_in(client).status_code == 303
    listing = client.get("/staff").get_data(as_text=True)
    row = listing[listing.index(reference):]
    assert "Preferred language: Spanish" in row[:row.index("</li>")]
    other = listing[listing.index(english_ref):]
    assert "Preferred language" not in other[:other.index("</li>")]
    page = client.get(f"/staff/requests/{reference}").get_data(as_text=True)
    assert "<dt>Preferred language</dt><dd>Spanish</dd>" in page
    assert "<dt>Read the guide in</dt><dd>Spanish (answers below in English)</dd>" in page
    english = journeys["en"]
    question = english.question(next(iter(stored.values)))
    assert f"<dt>{question.label}</dt>" in page or question.summary_label in page
    exported = {r["reference"]: r for r in csv.DictReader(io.StringIO(
        client.post("/staff/export.csv").get_data(as_text=True).lstrip("\ufeff")))}
    assert exported[reference]["preferred_language"] == "Spanish"
    assert exported[reference]["answers_language"] == "es"
    assert exported[english_ref]["preferred_language"] == ""
    assert question.label in exported[reference]["journey_answers"]
    labels = exported[reference]["journey_answers"]
    assert not any(word in labels for word in ("¿", "ñ")), labels  # English labels only (the typed text aside)


def _message(kind, language):
    return build_message(kind=kind, outbox_id=1, reference="FBS-ABCD", created_at=1_780_000_000,
                         mail_from="Clinic <site@clinic.test>", recipients=("p@example.org",),
                         base_url="https://clinic.test", clinic_name="Caring Medical Florida",
                         clinic_phone="(239) 308-4701", language=language)


def test_the_receipt_is_in_the_patients_language_and_the_staff_email_stays_english():
    receipt = _message("patient_receipt", "es")
    body = receipt.get_content()
    assert receipt["Subject"] == "Hemos recibido su solicitud"
    assert "Su número de referencia es FBS-ABCD." in body and "(239) 308-4701" in body
    assert "received" not in body and "reference is" not in body
    english = _message("patient_receipt", "en")
    assert english["Subject"] == "We have received your request" and "Your reference is FBS-ABCD." in english.get_content()
    staff = _message("staff_notification", "es")  # the language of the request never reaches staff mail
    assert staff["Subject"] == "New second-opinion request"
    assert not any(word in staff.get_content() for word in SPANISH_WORDS)
