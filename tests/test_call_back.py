"""Call-back details on the request form (issue 23 A): times to call, voicemail with phone contact, language and
interpreter, validated on the server, stored as ids, shown to staff and in the CSV; the consent text's version."""
import csv
import io

import pytest

from clinic import callback
from tests.conftest import content_dir
from tests.helpers import submit_request
from tests.support.staff import FAST_ARGON2, create_staff, sign_in
from tests.support.storage import execute, stored

pytestmark = pytest.mark.both_databases


@pytest.fixture
def app(make_app):
    return make_app(CONTENT_DIR=str(content_dir()), REQUEST_RATE_LIMIT="1000 per minute", STAFF_ARGON2=FAST_ARGON2,
                    CLINIC_TIMEZONE="America/Chicago", WTF_CSRF_ENABLED=False)


def staff_client(app):
    create_staff(app)
    client = app.test_client()
    assert sign_in(client).status_code == 303
    return client


BY_PHONE = {"contact_by": "phone", "phone": "(555) 010-0199", "voicemail": "no",
            "call_times": ["weekday_mornings", "weekends"], "language": "es", "interpreter": "y"}


def test_call_back_details_are_stored_as_ids_with_the_consent_version_and_time(client, app):
    assert submit_request(client, **BY_PHONE).status_code == 303
    [row] = stored(app, "SELECT call_times, voicemail, language, language_other, interpreter, consent_version,"
                        " consent_at, created_at FROM requests")
    assert row["call_times"] == '["weekday_mornings", "weekends"]'
    assert (row["voicemail"], row["language"], row["language_other"], row["interpreter"]) == ("no", "es", None, 1)
    assert row["consent_version"] == callback.consent_version(callback.CONSENT_TEXT)
    assert row["consent_version"].startswith("sha256:") and row["consent_at"] == row["created_at"]
    [text] = stored(app, "SELECT text FROM consent_texts WHERE version = :version", version=row["consent_version"])
    assert text["text"] == callback.CONSENT_TEXT


def test_a_changed_consent_text_is_a_new_version_and_both_texts_are_kept():
    assert callback.consent_version("I agree.") != callback.consent_version("I agree")
    assert callback.consent_version("I agree.") == callback.consent_version("I agree.")


def test_the_voicemail_question_must_be_answered_with_phone_contact_and_is_ignored_with_email(client, app):
    html = submit_request(client, **{**BY_PHONE, "voicemail": None}).get_data(as_text=True)
    assert "Choose yes or no: may we leave a voicemail" in html
    assert 'href="#voicemail-0"' in html  # the summary links to the first option
    # What was typed and ticked is kept
    assert 'value="weekends" checked' in html or 'checked id="call_times-3"' in html
    assert 'value="(555) 010-0199"' in html
    assert stored(app, "SELECT id FROM requests") == []
    # With email contact the question is not asked: a value a browser still sends is not stored
    assert submit_request(client, contact_by="email", voicemail="yes").status_code == 303
    assert stored(app, "SELECT voicemail FROM requests") == [{"voicemail": None}]


@pytest.mark.parametrize("field, value, message", [
    ("voicemail", "maybe", "Choose yes or no"),
    ("call_times", ["weekday_mornings", "midnight"], "Choose times to call from the list"),
    ("language", "fr", "Choose a language from the list"),
    ("language_other", "x" * 61, "The language must be 60 characters or fewer"),
])
def test_values_no_form_offers_are_refused_next_to_the_field_and_in_the_summary(client, app, field, value, message):
    html = submit_request(client, **{**BY_PHONE, field: value}).get_data(as_text=True)
    assert html.count(message) == 2, html  # the error summary and beside the field
    assert "Error:" in html and stored(app, "SELECT id FROM requests") == []


def test_another_language_keeps_its_name_and_all_call_back_fields_are_optional_with_email(client, app):
    assert submit_request(client, language="other", language_other="Tagalog").status_code == 303
    assert submit_request(client, language_other="Somali").status_code == 303  # typed without the radio: 'other'
    assert submit_request(client).status_code == 303  # nothing at all
    rows = stored(app, "SELECT language, language_other, call_times, interpreter FROM requests ORDER BY id")
    assert rows == [{"language": "other", "language_other": "Tagalog", "call_times": None, "interpreter": 0},
                    {"language": "other", "language_other": "Somali", "call_times": None, "interpreter": 0},
                    {"language": None, "language_other": None, "call_times": None, "interpreter": 0}]


def test_the_form_says_the_times_are_in_the_clinics_zone(client):
    html = client.get("/request").get_data(as_text=True)
    assert "Times are Central Time, the clinic&#39;s time zone." in html or "Times are Central Time, the clinic's" in html
    assert 'data-shown-with="contact_by=phone"' in html
    assert "Only if you choose to be contacted by phone" in html  # the words that say when it applies, without JS


def test_staff_see_call_back_details_in_the_clinics_zone_words_and_the_consent_text(app):
    patient = app.test_client()
    assert submit_request(patient, **BY_PHONE).status_code == 303
    [row] = stored(app, "SELECT reference, consent_version FROM requests")
    staff = staff_client(app)
    html = staff.get(f"/staff/requests/{row['reference']}").get_data(as_text=True)
    assert "Weekday mornings (8 AM to noon Central Time); Weekends (9 AM to 5 PM Central Time)" in html
    assert "No: do not leave a voicemail" in html
    assert "Spanish, would like an interpreter" in html
    assert callback.CONSENT_TEXT in html and row["consent_version"] in html

    body = staff.post("/staff/export.csv").get_data(as_text=True)
    [exported] = list(csv.DictReader(io.StringIO(body.lstrip("\ufeff"))))
    assert exported["call_times"] == "Weekday mornings (8 AM to noon Central Time); Weekends (9 AM to 5 PM Central Time)"
    assert (exported["voicemail"], exported["language"], exported["interpreter"]) == ("no", "Spanish", "yes")
    assert exported["consent_version"] == row["consent_version"] and exported["consent_utc"]


def test_zone_words_for_a_clinic_elsewhere():
    assert callback.zone_words("America/New_York") == "Eastern Time"
    assert callback.zone_words("Europe/London") == "London time"
    assert callback.call_times_for_staff(["weekday_evenings", "unknown"], "America/Los_Angeles") == [
        "Weekday evenings (5 PM to 8 PM Pacific Time)", "unknown"]


def test_a_request_saved_before_call_back_details_reads_as_not_given(app):
    execute(app, "INSERT INTO requests (reference, submission_id, created_at, name, email, phone, contact_by, description)"
                 " VALUES ('FBS-2D2D', 'old-submission-0001', 1, 'Old', 'old@example.com', '5550100199', 'phone', 'd')")
    html = staff_client(app).get("/staff/requests/FBS-2D2D").get_data(as_text=True)
    assert "Not asked (sent before this question): do not leave one" in html
    assert "Sent before the consent text was recorded" in html
