"""The declared shape of every content file: which keys each part may have, of what type.

Unknown keys are refused (`extra="forbid"`), so a misspelled `optinal` or `frist_when` stops start-up instead of
being ignored. Types are strict: text must be text (`yes` unquoted is a YAML true, not the word), true/false must be
true or false. Rules that need more than one field or file (a stop page has no next step, a goto names a real step)
are checked by loader.py and checks.py on the validated objects.

To add a field to the content, add it here first, then read it in loader.py.
"""
import difflib
import re
from datetime import date
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StrictStr, ValidationError

from clinic.journey.errors import ContentError
from clinic.journey.model import KINDS, QUESTION_TYPES
from clinic.journey.version import VERSION_PATTERN

QUESTION_ID_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")


def _none_as_empty_list(value):
    return [] if value is None else value


def _one_as_list(value):
    return value if isinstance(value, list) else [value]


def _question_id(value):
    if not QUESTION_ID_PATTERN.match(value):
        raise ValueError("question ids use lowercase letters, digits and underscores")
    return value


Text = Annotated[StrictStr, Field(min_length=1)]
OptionalText = StrictStr | None

# Provenance (issue 17 D): where a block, sign, step text or comparison option comes from. `article` means from
# the clinic's article (claims that are not are listed under `added`); `added: <one-line reason>` means none of it
# is. The review pack lists every added claim for the medical reviewer to approve or change.
SOURCE_ARTICLE = "article"
SOURCE_ADDED = "added:"


def _source(value):
    if value == SOURCE_ARTICLE:
        return value
    if value.startswith(SOURCE_ADDED) and value[len(SOURCE_ADDED):].strip() and "\n" not in value.strip():
        return value
    raise ValueError(f"must be '{SOURCE_ARTICLE}' or '{SOURCE_ADDED} <one-line reason>' (what is not from the "
                     f"article, and why it is here), not '{value}'")


Source = Annotated[StrictStr, AfterValidator(_source)]


def source_reason(value):
    """The reason of `added: <reason>`, or "" for `article`."""
    return value[len(SOURCE_ADDED):].strip() if value and value.startswith(SOURCE_ADDED) else ""


def _one_line(value):
    if "\n" in value.strip():
        raise ValueError("must be one line")
    return value.strip()


OneLine = Annotated[Text, AfterValidator(_one_line)]
# `when: {surgery: [fusion, other]}`; a single answer may be written without the list.
Conditions = Annotated[
    dict[Text, Annotated[list[Text], BeforeValidator(_one_as_list), Field(min_length=1)]],
    Field(min_length=1),
]


def _list_of(item):
    """A list that may also be left empty in the YAML (`questions:` with nothing after it)."""
    return Annotated[list[item], BeforeValidator(_none_as_empty_list)]


class ContentModel(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Option(ContentModel):
    value: Text
    label: Text


class Question(ContentModel):
    id: Annotated[Text, AfterValidator(_question_id)]
    type: Literal[QUESTION_TYPES] = "single"
    label: Text
    summary_label: OptionalText = None  # shorter label on the summary page; the label when absent
    hint: OptionalText = None
    optional: bool = False  # `multiple`: ticking nothing is an answer; `single`: it may be skipped; `text`: left empty
    exclusive: OptionalText = None  # `multiple` only: the option that must be checked alone ("I am not sure yet")
    max_length: Annotated[int, Field(ge=1, le=2000)] | None = None  # `text` only: at most this many characters
    options: _list_of(Option) = []  # none for `text`, at least one for the others (loader.py)


class NextRule(ContentModel):
    when: Conditions | None = None  # absent: always (the last rule is the default)
    goto: Text  # a step id, or "@request"


class BlockDiagram(ContentModel):
    """`diagram: {name: fusion, caption: ...}`: content/diagrams/fusion.svg shown in the block, with a one-line caption."""
    name: Text
    caption: Annotated[Text, Field(max_length=160)]


class IconArray(ContentModel):
    """One picture of 100 small people, `shaded` of them filled."""
    shaded: Annotated[int, Field(ge=0, le=100)]
    label: OptionalText = None  # above the picture when several stand side by side ("After 1 month")


class Figure(ContentModel):
    """`figure:` a study's figure as icon arrays (up to three side by side, for time points), with the words a
    reader needs to weigh it. The caption "out of 100 people like those in the study" and the marker are added."""
    what: Text  # what the shaded people had, after "N out of 100 people": "had pain that lasted"
    caveat: Annotated[Text, Field(max_length=200)]  # who was in the study and what was measured, in words
    ref: Annotated[int, Field(ge=1)]
    arrays: Annotated[list[IconArray], Field(min_length=1, max_length=3)]
    in_research: bool = False  # a block's figure inside "What the research says" instead of after its text


class AddedClaim(ContentModel):
    """A claim, inside text that is otherwise from the article, that the article does not make."""
    claim: OneLine  # the words exactly as the text has them (the loader checks they are there)
    reason: OneLine  # why it is here, for the medical reviewer


class Block(ContentModel):
    id: Text
    heading: Text
    source: Source  # required: `article`, or `added: <reason>`
    added: _list_of(AddedClaim) = []  # claims in an `article` block that the article does not make
    body: Text
    research: OptionalText = None
    first_when: Conditions | None = None  # shown first, marked "Most relevant to you"
    diagram: BlockDiagram | None = None
    figure: Figure | None = None  # icon arrays after the body


class DoctorQuestion(ContentModel):
    text: Text
    when: Conditions | None = None


class Call(ContentModel):
    """A tap-to-call button on a stop page."""
    number: Text  # a phone number, or `clinic` for clinic_phone in journey.yaml
    label: Text
    main: bool = False  # the one big button at the top; the others are lines below the text


class StepFront(ContentModel):
    """The front matter of content/steps/<id>.md."""

    title: Text
    section: Text
    kind: Literal[KINDS] = "question"
    questions: _list_of(Question) = []
    next: _list_of(NextRule) = []
    blocks: _list_of(Block) = []
    doctor_questions: _list_of(DoctorQuestion) = []
    calls: _list_of(Call) = []  # stop pages only
    figure: Figure | None = None  # icon arrays after the step's text
    source: Source | None = None  # the step's own text (below the front matter); blocks carry their own
    added: _list_of(AddedClaim) = []


class PageFront(ContentModel):
    """The front matter of content/pages/<slug>.md."""

    title: Text
    source: Source | None = None  # `added: <reason>` for a page that is the clinic's own (the review pack says so)


class JourneyMeta(ContentModel):
    """content/journey.yaml."""

    title: Text
    first_step: Text
    # The last clinical sign-off: its date and the content version it approved (`make check-content` prints the
    # version now served). Both or neither; without them every page says the guide is not yet reviewed.
    reviewed: Annotated[date | None, Field(strict=False)] = None  # YAML reads 2026-11-25 as a date
    reviewed_version: Annotated[Text | None, Field(pattern=VERSION_PATTERN)] = None
    # content/<lang>/journey.yaml only: the qualified medical translator who checked that language's text.
    translator: OptionalText = None
    clinic_name: Text
    clinic_phone: Text  # a production start refuses a placeholder (clinic.production.clinic_phone_problem)
    clinic_address: OptionalText = None  # one line, shown on the request page
    clinic_insurance: OptionalText = None  # the clinic's network status in plain words, shown on the request page
    review_every_months: Annotated[int, Field(ge=1, le=36)] = 12  # "Next review by": this long after a sign-off
    article_by: OptionalText = None  # who wrote the article (the source line); the clinic's name when left out
    disclaimer: Text
    article_updated: Annotated[date, Field(strict=False)]  # the article's own "last updated" date
    article_title: OptionalText = None  # the About page names the article and its authors
    article_authors: OptionalText = None
    next_review: Annotated[date | None, Field(strict=False)] = None  # the next planned clinical review (About page)
    reviewed_by: Text  # the role of the person who reviews the content (the source line on every page)
    conflict_of_interest: Text  # one line on every page: the clinic offers some of the treatments described
    # The journey's parts in order, each a step `section`: progress reads "Part 2 of 5: Your surgery".
    parts: _list_of(Text) = []
    report_questions: list[Text] = []  # single-choice questions the staff journey report counts answers to


class WarningTier(ContentModel):
    id: Annotated[Text, AfterValidator(_question_id)]
    label: Text
    stop_step: Text  # the stop page in steps/


class WarningSign(ContentModel):
    id: Annotated[Text, AfterValidator(_question_id)]
    label: Text
    tier: Text  # exactly one tier id: a list is refused
    source: Source  # required: the signs are the medical reviewer's, not the article's


class LeftOutSign(ContentModel):
    """A sign that was considered and left out, with why: the reviewer agrees or asks for it."""
    label: Text
    reason: OneLine


class WarningSignGroup(ContentModel):
    id: Annotated[Text, AfterValidator(_question_id)]
    step: Text  # the safety step that asks this group
    label: Text
    summary_label: OptionalText = None
    hint: OptionalText = None
    signs: Annotated[list[WarningSign], Field(min_length=1)]


class WarningSignsFile(ContentModel):
    """content/warning_signs.yaml: tiers most urgent first, then the groups of signs."""

    tiers: Annotated[list[WarningTier], Field(min_length=1)]
    none_label: Text
    groups: Annotated[list[WarningSignGroup], Field(min_length=1)]
    left_out: _list_of(LeftOutSign) = []  # considered and left out (shown in the review pack only)


class ComparisonOption(ContentModel):
    """One option in content/comparison.yaml: the same four points for every treatment."""

    id: Text
    name: Text
    page: Text  # the step that tells more about it
    source: Source  # required: `article`, or `added: <reason>`
    added: _list_of(AddedClaim) = []  # claims in the cells that the article does not make
    involves: Text
    known: Text
    risks: Text
    who: Text
    figure: Figure | None = None  # icon arrays under "What is known"


class ComparisonFile(ContentModel):
    """content/comparison.yaml: the side-by-side comparison of all options at /compare."""

    title: Text
    intro: Text
    options: Annotated[list[ComparisonOption], Field(min_length=1)]


class DecisionFile(ContentModel):
    """content/decision.yaml: what the summary says back about the values step and the SURE questions."""

    values_question: Text  # the check-all-that-apply question "What matters to you?"
    values_heading: Text
    # Option value -> one line tying that value to what the guide said (never advice). Every option of the
    # values question but the exclusive one needs a line.
    lines: Annotated[dict[Text, Text], Field(min_length=1)]
    sure_questions: Annotated[list[Text], Field(min_length=1)]  # yes/no questions; "no" is the unsure answer
    sure_heading: Text
    unsure_heading: Text  # shown with unsure_body when any of them is answered "no"
    unsure_body: Text
    source: Source  # of the lines; the next step after a "no" is the guide's own, listed under `added`
    added: _list_of(AddedClaim) = []


class Reference(ContentModel):
    """One entry of content/references.yaml."""

    n: Annotated[int, Field(ge=1)]
    text: Text


MODELS = (Option, Question, NextRule, BlockDiagram, IconArray, Figure, DecisionFile,
          Block, DoctorQuestion, Call, StepFront, PageFront, JourneyMeta, Reference,
          WarningTier, WarningSign, WarningSignGroup, WarningSignsFile, ComparisonOption, ComparisonFile)
MODELS = (Option, Question, NextRule, BlockDiagram, Block, DoctorQuestion, Call, StepFront, PageFront, JourneyMeta, Reference,
          WarningTier, WarningSign, WarningSignGroup, WarningSignsFile, ComparisonOption, ComparisonFile, AddedClaim,
          LeftOutSign)
KNOWN_FIELDS = sorted({name for model in MODELS for name in model.model_fields})

_PROBLEMS = {
    "missing": "is missing",
    "string_type": "must be text (put it in quotes)",
    "string_too_short": "is empty",
    "bool_type": "must be true or false",
    "int_type": "must be a whole number",
    "greater_than_equal": "must be 1 or more",
    "list_type": "must be a list",
    "dict_type": "must be a mapping of keys to values",
    "model_type": "must be a mapping of keys to values",
    "model_attributes_type": "must be a mapping of keys to values",
    "date_type": "must be a date like 2026-11-25",
    "date_from_datetime_parsing": "must be a date like 2026-11-25",
    "date_parsing": "must be a date like 2026-11-25",
}


def field_path(loc):
    """('questions', 0, 'optinal') -> "questions[0].optinal"."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += ("." if path else "") + str(part)
    return path


def describe(error):
    """(field, problem) in words an editor of the content understands, for pydantic's first error."""
    kind, loc = error["type"], error["loc"]
    if kind == "extra_forbidden":
        problem = "not a known field"
        name = str(loc[-1]) if loc else ""
        close = difflib.get_close_matches(name, KNOWN_FIELDS, n=1, cutoff=0.6)
        if close:
            problem += f" (did you mean '{close[0]}'?)"
        return field_path(loc), problem
    if kind == "string_type" and error.get("input") is None:
        return field_path(loc), "is empty"
    if kind == "too_short":
        return field_path(loc), "needs at least one entry"
    if kind == "literal_error":
        return field_path(loc), f"must be one of {error['ctx']['expected']}"
    if kind == "value_error":
        return field_path(loc), str(error["ctx"]["error"])
    return field_path(loc), _PROBLEMS.get(kind, error["msg"])


def validate(model, data, source, field_prefix=""):
    """`model` validated from `data`, or ContentError naming `source` and the field of the first problem."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        field, problem = describe(exc.errors()[0])
        if field_prefix:
            field = field_prefix + ("" if not field or field.startswith("[") else ".") + field
        raise ContentError(source, field or "file", problem) from None
