"""FHIR R4 for records systems: the guide's Questionnaire, built from content/, and requests as collection Bundles
(Patient + QuestionnaireResponse) built from the ids a request stores. Plain dicts as JSON; no Flask here.

Codes are the guide's own: each question has a code system `<base>/fhir/CodeSystem/<question id>` whose codes are
its option values; warning signs have `<base>/fhir/CodeSystem/warning-signs` with the sign ids. `check_response`
is the project's own check on top of FHIR's structure: every linkId is an item of the Questionnaire, every coded
answer one of that item's options.
"""
import uuid
from datetime import UTC, datetime

from sqlalchemy import text

from clinic import callback, request_answers

QUESTIONNAIRE_ID = "fbss-journey"
OPTION_EXCLUSIVE = "http://hl7.org/fhir/StructureDefinition/questionnaire-optionExclusive"
BCP47 = "urn:ietf:bcp:47"
DESCRIPTION_ID = "description"  # the request form's free text, an item of its own
SIGNS_ID = "warning-signs"
SIGNS_SYSTEM = "warning-signs"
MEDIA_TYPE = "application/fhir+json"


def _base(base_url):
    return base_url.rstrip("/") + "/fhir"


def questionnaire_url(base_url):
    return f"{_base(base_url)}/Questionnaire/{QUESTIONNAIRE_ID}"


def code_system(base_url, name):
    return f"{_base(base_url)}/CodeSystem/{name}"


def _instant(seconds):
    return datetime.fromtimestamp(int(seconds), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _questions(journey):
    """Every question of the guide once, in the order of its steps."""
    seen, found = set(), []
    for step in journey.steps.values():
        for question in step.questions:
            if question.id not in seen:
                seen.add(question.id)
                found.append(question)
    return found


def _sign_options(journey):
    """(id, label) of every warning sign a request can carry: content/warning_signs.yaml's, or for content without
    it the answers its routing sends to a stop page ("question:value", clinic/triage.py)."""
    if journey.warning_signs:
        return [(sign.id, sign.label) for sign in journey.warning_signs.signs()]
    options = []
    for step in journey.steps.values():
        for rule in step.rules:
            target = journey.steps.get(rule.goto)
            if target is None or target.kind != "stop":
                continue
            for question_id, values in rule.when.items():
                question = journey.question(question_id)
                for option in question.options:
                    code = f"{question_id}:{option.value}"
                    label = option.label if question.type == "multiple" else question.summary_label
                    if option.value in values and code not in [c for c, _ in options]:
                        options.append((code, label))
    return options


def build_questionnaire(journey, base_url):
    """The Questionnaire resource for the content loaded now (its `version` is the content version)."""
    items = []
    for question in _questions(journey):
        if not question.options:  # a typed answer
            items.append({"linkId": question.id, "text": question.label, "type": "string",
                          **({"maxLength": question.max_length} if question.max_length else {})})
            continue
        system = code_system(base_url, question.id)
        options = []
        for option in question.options:
            entry = {"valueCoding": {"system": system, "code": option.value, "display": option.label}}
            if question.exclusive and option.value == question.exclusive:
                entry["extension"] = [{"url": OPTION_EXCLUSIVE, "valueBoolean": True}]
            options.append(entry)
        items.append({"linkId": question.id, "text": question.label, "type": "choice",
                      "repeats": question.type == "multiple", "answerOption": options})
    signs_system = code_system(base_url, SIGNS_SYSTEM)
    items.append({"linkId": SIGNS_ID, "text": "Warning signs in the answers (worked out by the guide)", "type": "choice",
                  "repeats": True, "readOnly": True,
                  "answerOption": [{"valueCoding": {"system": signs_system, "code": code, "display": label}}
                                   for code, label in _sign_options(journey)]})
    items.append({"linkId": DESCRIPTION_ID, "text": "The back problem, in the patient's own words", "type": "text"})
    return {
        "resourceType": "Questionnaire",
        "id": QUESTIONNAIRE_ID,
        "url": questionnaire_url(base_url),
        "version": journey.version,
        "name": "FailedBackSurgeryJourney",
        "title": journey.title,
        "status": "active",
        "subjectType": ["Patient"],
        "item": items,
    }


def _resource_id(reference, kind):
    """A stable id per request and resource kind (the same export twice gives the same ids)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"fbss-journey:{reference}:{kind}"))


def build_patient(row, patient_id):
    telecom = [{"system": "email", "value": row["email"], "rank": 1 if row["contact_by"] == "email" else 2}]
    if row["phone"]:
        telecom.append({"system": "phone", "value": row["phone"], "rank": 1 if row["contact_by"] == "phone" else 2})
    patient = {"resourceType": "Patient", "id": patient_id, "name": [{"text": row["name"]}], "telecom": telecom}
    language = row["language"]
    if language:
        words = callback.language_words(language, row["language_other"])
        coding = [{"system": BCP47, "code": language, "display": words}] if language != "other" else []
        patient["communication"] = [{"language": {**({"coding": coding} if coding else {}), "text": words},
                                     "preferred": True}]
    return patient


def build_response(row, journey, base_url, patient_url, response_id):
    """The QuestionnaireResponse of one stored request, from its stored ids (labels only as `display`)."""
    stored = request_answers.read(journey, row)
    questions = {question.id: question for question in _questions(journey)}
    items = []
    for question_id, values in stored.values.items():
        question = questions.get(question_id)
        labels = {o.value: o.label for o in question.options} if question else {}
        answers = [{"valueCoding": {"system": code_system(base_url, question_id), "code": value,
                                    **({"display": labels[value]} if value in labels else {})}} for value in values]
        item = {"linkId": question_id, **({"text": question.label} if question else {})}
        if answers:
            item["answer"] = answers
        items.append(item)
    for question_id, typed in stored.free_text.items():
        items.append({"linkId": question_id, "answer": [{"valueString": typed}]})
    if stored.signs:
        items.append({"linkId": SIGNS_ID, "answer": [
            {"valueCoding": {"system": code_system(base_url, SIGNS_SYSTEM), "code": sign.id, "display": sign.label}}
            for sign in stored.signs if sign.id]})
    items.append({"linkId": DESCRIPTION_ID, "answer": [{"valueString": row["description"]}]})
    version = stored.content_version or journey.version
    return {
        "resourceType": "QuestionnaireResponse",
        "id": response_id,
        "identifier": {"system": f"{_base(base_url)}/request-reference", "value": row["reference"]},
        "questionnaire": f"{questionnaire_url(base_url)}|{version}",
        "status": "completed",
        "subject": {"reference": patient_url, "display": row["name"]},
        "authored": _instant(row["created_at"]),
        "item": [item for item in items if item.get("answer")],  # a question skipped has no item (FHIR: no empty items)
    }


def build_bundle(rows, journey, base_url, now):
    """A `collection` Bundle: for each request a Patient and its QuestionnaireResponse."""
    entries = []
    for row in rows:
        patient_id, response_id = _resource_id(row["reference"], "patient"), _resource_id(row["reference"], "response")
        patient_url = f"urn:uuid:{patient_id}"
        entries.append({"fullUrl": patient_url, "resource": build_patient(row, patient_id)})
        entries.append({"fullUrl": f"urn:uuid:{response_id}",
                        "resource": build_response(row, journey, base_url, patient_url, response_id)})
    return {"resourceType": "Bundle", "id": str(uuid.uuid4()), "type": "collection", "timestamp": _instant(now),
            "entry": entries}


def check_response(questionnaire, response):
    """The project's own checks of a QuestionnaireResponse against the Questionnaire: [] or the problems."""
    items = {item["linkId"]: item for item in questionnaire.get("item", [])}
    problems = []
    for answered in response.get("item", []):
        item = items.get(answered.get("linkId"))
        if item is None:
            problems.append(f"linkId {answered.get('linkId')!r} is not an item of the Questionnaire")
            continue
        answers = answered.get("answer", [])
        if len(answers) > 1 and not item.get("repeats"):
            problems.append(f"{item['linkId']}: {len(answers)} answers to a question that takes one")
        allowed = {(o["valueCoding"]["system"], o["valueCoding"]["code"]) for o in item.get("answerOption", [])}
        for answer in answers:
            coding = answer.get("valueCoding")
            if coding is None:
                if item["type"] == "choice":
                    problems.append(f"{item['linkId']}: a choice answered without a code")
                continue
            if (coding.get("system"), coding.get("code")) not in allowed:
                problems.append(f"{item['linkId']}: code {coding.get('code')!r} is not one of the question's options")
    return problems


def select_rows(conn, *, reference=None, received_from=None, received_to=None):
    """The requests to export (never suspected spam): one by reference, or those received in [from, to)."""
    sql, args = "SELECT * FROM requests WHERE status != 'spam'", {}
    if reference is not None:
        sql += " AND reference = :reference"
        args["reference"] = reference
    if received_from is not None:
        sql += " AND created_at >= :received_from"
        args["received_from"] = int(received_from)
    if received_to is not None:
        sql += " AND created_at < :received_to"
        args["received_to"] = int(received_to)
    return conn.execute(text(sql + " ORDER BY created_at, id"), args).mappings().all()
