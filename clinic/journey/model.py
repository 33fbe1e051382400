"""The journey as data: steps, questions and rules, and the routing that walks them with a person's answers.

No Flask and no file reading here: the loader builds these objects, the blueprint asks them where to go next.
"""
import calendar
import re
from dataclasses import dataclass, field
from datetime import date

REQUEST_TARGET = "@request"
KINDS = ("question", "info", "stop", "summary")
QUESTION_TYPES = ("single", "multiple", "text")
# Fixed pages under /journey/ (blueprints/journey.py): a step with one of these ids would be shadowed by the page
# (`save`) or set it off (`restart` wipes the journey). tests/test_journey_content.py checks this against the routes.
RESERVED_STEP_IDS = ("continue", "restart", "save")


@dataclass(frozen=True)
class Option:
    value: str
    label: str


@dataclass(frozen=True)
class Question:
    id: str
    type: str
    label: str
    summary_label: str
    hint: str
    optional: bool
    options: tuple
    exclusive: str = ""  # an option that must be checked alone ("None of these" on the warning signs)
    max_length: int = 0  # `text` questions: at most this many characters

    def label_for(self, value):
        for option in self.options:
            if option.value == value:
                return option.label
        return value


# Why a posted answer was refused: message ids that the Flask layer words (blueprints/journey.py), so this module
# holds no sentence in any language.
ANSWER_ERRORS = (
    "choose_one",  # a single choice with nothing chosen
    "unknown_option",  # a single choice that is not one of the options (or more than one)
    "unknown_options",  # tick boxes that are not among the options
    "none_checked",  # a question with a "None of these" box: nothing checked at all
    "exclusive_with_other",  # "None of these" checked together with another box
    "tick_one",  # a required tick-box question with nothing ticked
    "text_missing",  # a required text box left empty
    "text_too_long",  # longer than the question's max_length (`length` says how long)
    "text_repeated",  # a text question sent more than once
)


@dataclass(frozen=True)
class AnswerError:
    """A refused answer to one question: `code` is one of ANSWER_ERRORS."""

    code: str
    question: Question
    length: int = 0  # text_too_long: the characters sent


@dataclass(frozen=True)
class Rule:
    when: dict  # question id -> frozenset of values; empty means always
    goto: str


@dataclass(frozen=True)
class Diagram:
    """A schematic picture from content/diagrams/<name>.svg, with the caption the step gives it."""
    name: str
    svg: str  # the inline SVG markup (role="img", its own <title> and <desc>)
    title: str
    description: str
    labels: str  # the words drawn on the picture, read like any text (the title and description are not shown)
    caption: str


@dataclass(frozen=True)
class Figure:
    """A study's figure as icon arrays (templates/_icon_array.html draws them), with its caveat and reference."""
    id: str  # unique on the page it is shown on: the arrays' title and description ids start with it
    what: str
    caveat: str
    ref: int
    marker: str  # the rendered reference marker
    arrays: tuple  # (shaded, label) pairs, side by side
    in_research: bool = False  # shown inside the block's "What the research says"

    def text(self):
        """The words a person sees under and above the pictures (their title and description are the alternative)."""
        labels = " ".join(f"{label or ''} {shaded}" for shaded, label in self.arrays)
        return f"{labels} {FIGURE_CAPTION} {self.caveat}"


FIGURE_CAPTION = "out of 100 people like those in the study"


@dataclass(frozen=True)
class Block:
    id: str
    heading: str
    body_html: str
    body_text: str
    research_html: str
    research_text: str
    first_when: dict
    diagram: Diagram | None = None
    figure: Figure | None = None
    # Its first paragraph (with a heading before it) and the rest, for a block shown above Continue in part, with
    # "Read more" (reading.layout); empty when the body is one paragraph.
    lead_html: str = ""
    lead_text: str = ""
    more_html: str = ""
    provenance: str = "article"  # `article`, or `added: <reason>` (schema.Source)
    added: tuple = ()  # (claim, reason): claims in an `article` block that the article does not make


@dataclass(frozen=True)
class DoctorQuestion:
    text: str
    when: dict


@dataclass(frozen=True)
class ComparisonRow:
    """One option on the comparison page; the four points are rendered HTML (they may cite references)."""
    id: str
    name: str
    page: str
    involves: str
    known: str
    risks: str
    who: str
    text: str  # all of it as plain text, for the reading-level and own-words checks
    figure: Figure | None = None
    provenance: str = "article"
    added: tuple = ()  # (claim, reason)


@dataclass(frozen=True)
class Comparison:
    title: str
    intro_html: str
    intro_text: str
    rows: tuple


@dataclass(frozen=True)
class Step:
    id: str
    title: str
    section: str
    kind: str
    intro_html: str
    intro_text: str
    questions: tuple
    rules: tuple
    blocks: tuple
    doctor_questions: tuple
    source: str
    calls: tuple = ()  # stop pages: (phone number, label, main): `main` is the big button at the top, the rest lines below
    figure: Figure | None = None
    provenance: str | None = None  # of the step's own text: `article`, `added: <reason>`, or None (not stated)
    added: tuple = ()  # (claim, reason) in the step's own text

    @property
    def heading_in_legend(self):
        """A step that asks one choice question shows it as its page heading, in the legend (GOV.UK question page)."""
        return self.kind == "question" and len(self.questions) == 1 and self.questions[0].type != "text"

    @property
    def heading(self):
        """The page's h1 and title: the question on a one-question step, else the step's title."""
        return self.questions[0].label if self.heading_in_legend else self.title

    def main_text(self):
        """The text a patient reads first: measured against the reading-level target."""
        parts = [self.title, self.intro_text]
        for question in self.questions:
            parts += [question.label, question.hint] + [o.label for o in question.options]
        for block in self.blocks:
            parts += [block.heading, block.body_text, block.diagram.caption if block.diagram else ""]
            parts += [block.figure.caveat] if block.figure else []
        parts += [self.figure.caveat] if self.figure else []
        return "\n".join(p for p in parts if p)

    def research_text(self):
        return "\n".join(b.research_text for b in self.blocks if b.research_text)


@dataclass(frozen=True)
class Decision:
    """What the summary says back about the values question and the SURE questions (content/decision.yaml)."""
    values_question: str
    values_heading: str
    lines: dict  # option value -> rendered line tying the value to what the guide said
    lines_text: dict  # the same as plain text
    sure_questions: tuple
    sure_heading: str
    unsure_heading: str
    unsure_html: str
    unsure_text: str
    provenance: str = "article"
    added: tuple = ()  # (claim, reason)

    def values_chosen(self, journey, answers):
        """(label, line) for each value chosen, in the question's order; no line for "I am not sure yet"."""
        question = journey.question(self.values_question)
        chosen = answers.get(self.values_question) or []
        return [(question.label_for(v), self.lines.get(v, "")) for v in chosen]

    def unsure(self, answers):
        """True when any SURE question was answered "no": the summary shows the next step, staff see it."""
        return any(answers.get(q) == "no" for q in self.sure_questions)


@dataclass
class Journey:
    title: str
    first_step: str
    reviewed: date | None
    clinic_name: str
    clinic_phone: str
    disclaimer: str
    steps: dict
    references: dict  # number -> citation text
    pages: dict = field(default_factory=dict)  # slug -> (title, html)
    report_questions: tuple = ()  # single-choice questions whose answers the staff report counts
    reading_minutes: tuple = None  # (fewest, most) minutes a typical path takes to read: reading.py computes it
    warning_signs: object = None  # clinic.journey.warning_signs.WarningSigns, from content/warning_signs.yaml
    parts: tuple = ()  # section names in journey order (content/journey.yaml `parts`)
    article_updated: date | None = None
    reviewed_by: str = ""
    version: str = ""  # the content version served (clinic.journey.version)
    reviewed_version: str | None = None  # the content version the last sign-off approved
    conflict_of_interest: str = ""
    comparison: Comparison | None = None  # content/comparison.yaml, shown at /compare
    clinic_address: str = ""
    clinic_insurance: str = ""  # the clinic's network status, in plain words
    article_by: str = ""  # who wrote the article, for the source line
    article_title: str = ""
    article_authors: str = ""
    next_review: date | None = None
    decision: Decision | None = None  # content/decision.yaml: the summary's "what matters to you" and SURE parts
    page_sources: dict = field(default_factory=dict)  # page slug -> `added: <reason>`, or None
    review_every_months: int = 12  # a sign-off holds this long: "Next review by" on every page and in the pack
    language: str = "en"  # the text's language: "en" from content/, "es" from content/es/ over the English
    translator: str = ""  # a translation's qualified medical translator (content/<lang>/journey.yaml)
    missing: tuple = ()  # a translation's files not written yet ("steps/tried.md"): such a journey is never served
    versions: dict = field(default_factory=dict)  # language -> the version served in it (load_journeys sets it)

    def next_review_by(self, signed_on=None):
        """The date the content must be reviewed again by: `review_every_months` after the sign-off (or after
        `signed_on`, for the pack's "if signed today"); before any sign-off, the planned `next_review` (or None)."""
        start = signed_on or self.reviewed
        if start is None:
            return self.next_review
        months = start.month - 1 + self.review_every_months
        year, month = start.year + months // 12, months % 12 + 1
        # January 31 plus one month is the last day of February.
        return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))

    def review_status(self):
        """"reviewed" when the last sign-off approved the content served now; "changed" when the content changed
        after it; "not reviewed" when there was none."""
        if not self.reviewed_version:
            return "not reviewed"
        return "reviewed" if self.reviewed_version == self.version else "changed"

    def progress(self, step):
        """(part number, number of parts, part name) for a step, or None where no progress is shown.

        Parts come from the content, not from the steps left on today's route, so the count never jumps
        when an answer adds or skips a step.
        """
        if step.kind == "stop" or step.section not in self.parts:
            return None
        return self.parts.index(step.section) + 1, len(self.parts), step.section

    # --- warning signs ---------------------------------------------------
    def warning_signs_in(self, answers):
        """The warning signs a journey's answers contain, in content order; each has .id, .label and .tier."""
        return self.warning_signs.in_answers(answers) if self.warning_signs else []

    def warning_tier(self, answers):
        """The most urgent tier among those signs (it decides the stop page), or None."""
        return self.warning_signs.top_tier(answers) if self.warning_signs else None

    def emergency_signs(self):
        """The signs of the most urgent tier: the reminder on the summary and confirmation pages."""
        return self.warning_signs.most_urgent() if self.warning_signs else []

    def signs_by_tier(self):
        """[(tier, its signs)], most urgent first: every sign, listed on the summary (and so on its printout)."""
        if not self.warning_signs:
            return []
        signs = self.warning_signs.signs()
        return [(tier, [s for s in signs if s.tier.id == tier.id]) for tier in self.warning_signs.tiers]

    # --- answers ---------------------------------------------------------
    def question(self, question_id):
        for step in self.steps.values():
            for question in step.questions:
                if question.id == question_id:
                    return question
        return None

    def step_of(self, question_id):
        """The step that asks a question."""
        for step in self.steps.values():
            if any(question.id == question_id for question in step.questions):
                return step
        return None

    def is_complete(self, step, answers, seen):
        if step.kind == "question":
            return all(q.id in answers for q in step.questions)
        if step.kind == "info":
            return step.id in seen
        return False  # stop and summary pages end the walk

    def next_step(self, step, answers):
        for rule in step.rules:
            if conditions_hold(rule.when, answers):
                return rule.goto
        return None

    def path(self, answers, seen):
        """Steps the person has reached, in order; the last one is where they are now."""
        walked = []
        current = self.first_step
        while current != REQUEST_TARGET and current not in walked:
            walked.append(current)
            step = self.steps[current]
            if not self.is_complete(step, answers, seen):
                break
            current = self.next_step(step, answers)
        return walked

    def expected_route(self, answers):
        """The whole route with today's answers, guessing the default for unanswered steps."""
        route = []
        current = self.first_step
        while current and current != REQUEST_TARGET and current not in route:
            route.append(current)
            step = self.steps[current]
            if not step.rules:
                break
            current = self.next_step(step, answers) or step.rules[-1].goto
        return route

    def relevant_answers(self, answers, seen):
        """(step, question, answer) for every answered question on the person's path."""
        rows = []
        for step_id in self.path(answers, seen):
            for question in self.steps[step_id].questions:
                if question.id in answers:
                    rows.append((self.steps[step_id], question, answers[question.id]))
        return rows

    def read_answers(self, step, form):
        """Check a posted step. `form` maps names to lists of strings (like a MultiDict).

        Returns (answers, errors): answers to store, and question id -> AnswerError (worded by the Flask layer).
        """
        answers, errors = {}, {}
        for question in step.questions:
            allowed = {o.value for o in question.options}
            raw = [v for v in form.get(question.id, []) if isinstance(v, str)]
            refused = None
            if question.type == "text":
                text = one_line(raw[0]) if len(raw) == 1 else ""
                if len(raw) > 1:
                    refused = AnswerError("text_repeated", question)
                elif question.max_length and len(text) > question.max_length:
                    refused = AnswerError("text_too_long", question, length=len(text))
                elif not text and not question.optional:
                    refused = AnswerError("text_missing", question)
                else:
                    answers[question.id] = text
            elif question.type == "single":
                chosen = raw[0] if len(raw) == 1 else None
                if not raw and question.optional:
                    answers[question.id] = ""  # skipped: answered, with nothing chosen
                elif not raw:
                    refused = AnswerError("choose_one", question)
                elif chosen not in allowed:
                    refused = AnswerError("unknown_option", question)
                else:
                    answers[question.id] = chosen
            else:
                chosen = list(dict.fromkeys(raw))
                if any(v not in allowed for v in chosen):
                    refused = AnswerError("unknown_options", question)
                elif question.exclusive and not chosen:
                    refused = AnswerError("none_checked", question)
                elif question.exclusive and question.exclusive in chosen and len(chosen) > 1:
                    refused = AnswerError("exclusive_with_other", question)
                elif not chosen and not question.optional:
                    refused = AnswerError("tick_one", question)
                else:
                    order = [o.value for o in question.options]
                    answers[question.id] = sorted(chosen, key=order.index)
            if refused is not None:
                errors[question.id] = refused
        return answers, errors

    def ordered_blocks(self, step, answers):
        """Blocks that match the person's answers come first, the rest keep their order."""
        first = [b for b in step.blocks if b.first_when and conditions_hold(b.first_when, answers)]
        rest = [b for b in step.blocks if b not in first]
        return [(b, True) for b in first] + [(b, False) for b in rest]

    def doctor_questions(self, answers):
        rows = []
        for step in self.steps.values():
            rows += [d.text for d in step.doctor_questions if conditions_hold(d.when, answers)]
        return rows



_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def one_line(text):
    """Typed text as one line: line breaks and tabs become spaces, other control characters go."""
    return " ".join(_CONTROL.sub(" ", text).split())


def conditions_hold(when, answers):
    for question_id, values in when.items():
        answer = answers.get(question_id)
        if answer is None:
            return False
        given = set(answer) if isinstance(answer, list) else {answer}
        if not given & values:
            return False
    return True


def all_paths(journey):
    """Every route through the graph, following every rule (for tests and the README)."""
    paths = []

    def walk(step_id, trail):
        if step_id == REQUEST_TARGET:
            paths.append(trail + [REQUEST_TARGET])
            return
        step = journey.steps[step_id]
        if not step.rules:
            paths.append(trail + [step_id])
            return
        for goto in dict.fromkeys(rule.goto for rule in step.rules):
            walk(goto, trail + [step_id])

    walk(journey.first_step, [])
    return paths
