"""What a request keeps of the guide (ids, never wording), and the labelled rows staff read from it. No Flask here.

A request stores question ids with option values, warning-sign ids, free text, the content version and the
language of the guide the answers were given in (`COLUMNS`; `answers_language`, apart from `language`, the one
the patient wants to be called back in). Words come from the content loaded now, in English for staff, when a
page, the CSV or an export is drawn: a wording change, a second language and an export all work from the same
ids. Requests saved before ids were kept (their `content_version` is NULL) show the text they stored then
(`journey_answers` pairs, `warning_signs` label and tier), as they are.
"""
import json
from dataclasses import dataclass, field

from clinic import triage

DEFAULT_LANGUAGE = "en"
# The request columns this module writes and reads (migration 0008); `stored_columns` gives their values.
COLUMNS = ("answer_values", "warning_sign_ids", "free_text", "content_version", "answers_language")


@dataclass(frozen=True)
class StoredAnswers:
    """What a new request stores of the guide; `from_journey` builds it. Empty `values` and `free_text`: no answers
    were sent ("Include my answers" unticked, or no journey), but the version and language are still kept."""

    values: dict = field(default_factory=dict)  # question id -> [option values], in the order of the path
    free_text: dict = field(default_factory=dict)  # question id -> text typed (questions without options)
    content_version: str = ""  # the content version the person answered (Journey.version)
    language: str = DEFAULT_LANGUAGE


def from_journey(journey, answers=None, seen=(), *, language=DEFAULT_LANGUAGE):
    """The ids of the answers on the person's path (what "Include my answers" sends), with the content version.
    `answers` None: nothing sent, only the version and language."""
    values, free_text = {}, {}
    for _step, question, answer in journey.relevant_answers(answers or {}, seen):
        if question.options:
            # A question skipped (an optional single choice) is kept as [] so staff see it was asked.
            values[question.id] = [v for v in (answer if isinstance(answer, list) else [answer]) if v]
        elif answer:  # an optional text box left empty tells staff nothing
            free_text[question.id] = str(answer)
    return StoredAnswers(values=values, free_text=free_text, content_version=journey.version, language=language)


def stored_columns(stored, sign_ids=()):
    """{column: value} for the INSERT into requests (every name in COLUMNS). The warning-sign ids come from the
    request's flag (clinic/triage.py), worked out from the same answers."""
    def as_json(value):
        return json.dumps(value, ensure_ascii=False) if value else None

    return {"answer_values": as_json(stored.values), "warning_sign_ids": as_json(list(sign_ids)),
            "free_text": as_json(stored.free_text), "content_version": stored.content_version,
            "answers_language": stored.language}


# --- reading: ids to labelled rows ----------------------------------------------------------------------------
@dataclass(frozen=True)
class AnswerRow:
    """One answered question as staff read it. `values` are the stored ids (empty for a legacy row)."""

    question_id: str  # "" for a row stored as text
    question: str  # the question's label now ("" would never be shown: an unknown id shows itself)
    values: tuple  # option values stored
    answers: tuple  # their labels now, in the same order; the typed text for a free-text answer
    known: bool = True  # False when the loaded content no longer has this question or one of these options
    typed: bool = False  # free text the person typed: patient text
    kind: str = ""  # the question's type (single, multiple, text): how to word an empty answer; "" when unknown

    @property
    def text(self):
        return "; ".join(self.answers)


@dataclass(frozen=True)
class RequestAnswers:
    """What a request says about the guide, for the staff page, the CSV and exports."""

    rows: tuple  # AnswerRow, in the order of the path
    signs: tuple  # triage.WarningSign (id, label, tier label), in stored (content) order
    stored_as: str  # "ids", or "text" for a request saved before ids were kept
    content_version: str | None  # the version the request was saved with (None for "text")
    language: str | None
    labels_version: str  # the version of the content the labels come from (the one loaded)
    values: dict = field(default_factory=dict)  # the stored ids themselves: {question id: [values]}
    free_text: dict = field(default_factory=dict)
    # The version served now in the language the patient answered in (a Spanish request's version is the Spanish
    # content's, clinic.journey.version); the labels themselves are always the English content's.
    current_version: str = ""

    @property
    def legacy(self):
        return self.stored_as == "text"

    @property
    def version_differs(self):
        """True when the content changed since the request was saved: the labels are today's wording."""
        return not self.legacy and self.content_version != (self.current_version or self.labels_version)


def _stored(raw, kind):
    try:
        value = json.loads(raw) if raw else kind()
    except (TypeError, ValueError):
        return kind()
    return value if isinstance(value, kind) else kind()


def _column(row, name):
    try:
        return row[name]
    except (KeyError, IndexError):
        return None


def read(journey, row):
    """The labelled answers and warning signs of one stored request (a `requests` row, any mapping of it).

    `journey` is the loaded content (None labels nothing: each id shows itself). Ids the content no longer has
    show themselves too, marked `known=False`, so a request never loses an answer because the wording moved on.
    """
    labels_version = getattr(journey, "version", "") or ""
    if _column(row, "content_version") is None:
        rows = tuple(AnswerRow("", question, (), (answer,)) for question, answer in legacy_pairs(_column(row, "journey_answers")))
        return RequestAnswers(rows=rows, signs=triage.read_signs(_column(row, "warning_signs")), stored_as="text",
                              content_version=None, language=None, labels_version=labels_version)
    values = {str(k): [str(v) for v in vs] for k, vs in _stored(_column(row, "answer_values"), dict).items()
              if isinstance(vs, list)}
    free_text = {str(k): str(v) for k, v in _stored(_column(row, "free_text"), dict).items()}
    sign_ids = [str(s) for s in _stored(_column(row, "warning_sign_ids"), list)]
    language = _column(row, "answers_language")
    current = (getattr(journey, "versions", None) or {}).get(language, labels_version)
    return RequestAnswers(
        rows=tuple(answer_rows(journey, values, free_text)), signs=tuple(sign_labels(journey, sign_ids)),
        stored_as="ids", content_version=_column(row, "content_version"), language=language,
        labels_version=labels_version, values=values, free_text=free_text, current_version=current)


def _questions(journey):
    """{question id: Question} of the loaded content (Journey.question looks through every step each time)."""
    return {question.id: question for step in journey.steps.values() for question in step.questions} if journey else {}


def answer_rows(journey, values, free_text=None):
    """AnswerRow per stored answer, labelled from `journey`, in the order its routing walks them."""
    questions = _questions(journey)
    rows = []
    for question_id, chosen in values.items():
        question = questions.get(question_id)
        if question is None:
            rows.append(AnswerRow(question_id, question_id, tuple(chosen), tuple(chosen), known=False))
            continue
        options = {option.value: option.label for option in question.options}
        rows.append(AnswerRow(question_id, question.label, tuple(chosen), tuple(options.get(v, v) for v in chosen),
                              known=all(v in options for v in chosen), kind=question.type))
    for question_id, text in (free_text or {}).items():
        question = questions.get(question_id)
        rows.append(AnswerRow(question_id, question.label if question else question_id, (), (text,),
                              known=question is not None, typed=True, kind="text"))
    return _in_path_order(journey, questions, rows)


def _in_path_order(journey, questions, rows):
    """Rows in the order the loaded content's routing walks them (free text among the options); any the path
    does not reach (the content changed since) keep their stored order after those."""
    if journey is None:
        return rows
    answers = {}
    for row in rows:
        question = questions.get(row.question_id)
        if question is None:
            continue
        if row.typed:
            answers[row.question_id] = row.answers[0]
        elif question.type == "multiple":
            answers[row.question_id] = list(row.values)
        else:
            answers[row.question_id] = row.values[0] if row.values else ""
    for question in questions.values():  # questions without a stored answer: walked past by their default rule
        answers.setdefault(question.id, [] if question.type == "multiple" else "")
    every_info_step = {step_id for step_id, step in journey.steps.items() if step.kind == "info"}
    walked = [question.id for _step, question, _answer in journey.relevant_answers(answers, every_info_step)]
    position = {question_id: index for index, question_id in enumerate(walked)}
    return sorted(rows, key=lambda row: position.get(row.question_id, len(position)))  # stable: the rest keep order


def sign_labels(journey, sign_ids):
    """triage.WarningSign (id, label, tier label) per stored sign id, from the loaded content."""
    signs = []
    for sign_id in sign_ids:
        sign = journey.warning_signs.sign(sign_id) if journey is not None and journey.warning_signs else None
        if sign is not None:
            signs.append(triage.WarningSign(id=sign_id, label=sign.label, tier=sign.tier.label))
            continue
        question_id, _, value = sign_id.partition(triage.ROUTED_SIGN_SEPARATOR)
        question = journey.question(question_id) if journey is not None and value else None
        if question is not None:
            label = question.summary_label if question.type == "single" else question.label_for(value)
            signs.append(triage.WarningSign(id=sign_id, label=label, tier=""))
        else:
            signs.append(triage.WarningSign(id=sign_id, label=sign_id, tier=""))
    return signs


def legacy_pairs(raw):
    """The stored JSON list of [question, answer] text pairs (requests saved before ids) as text tuples."""
    readable = []
    for pair in _stored(raw, list):
        if isinstance(pair, list | tuple) and len(pair) == 2:
            question, answer = pair
            if isinstance(answer, list):
                answer = ", ".join(str(a) for a in answer)
            readable.append((str(question), str(answer)))
    return readable
