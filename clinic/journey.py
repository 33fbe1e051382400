"""The journey: steps loaded from content/, checked at start-up, and the routing rules between them."""
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import markdown
import yaml
from markupsafe import Markup

REQUEST_TARGET = "@request"
KINDS = ("question", "info", "stop", "summary")
QUESTION_TYPES = ("single", "multiple")
REF_PATTERN = re.compile(r"\[ref:\s*([0-9][0-9,\s]*)\]")
ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


class ContentError(Exception):
    """A content file is wrong; the message names the file and the field."""

    def __init__(self, source, field_name, problem):
        self.source = str(source)
        self.field_name = field_name
        super().__init__(f"{source}: field '{field_name}': {problem}")


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

    def label_for(self, value):
        for option in self.options:
            if option.value == value:
                return option.label
        return value


@dataclass(frozen=True)
class Rule:
    when: dict  # question id -> frozenset of values; empty means always
    goto: str


@dataclass(frozen=True)
class Block:
    id: str
    heading: str
    body_html: str
    body_text: str
    research_html: str
    research_text: str
    first_when: dict


@dataclass(frozen=True)
class DoctorQuestion:
    text: str
    when: dict


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

    def main_text(self):
        """The text a patient reads first: measured against the reading-level target."""
        parts = [self.title, self.intro_text]
        for question in self.questions:
            parts += [question.label, question.hint] + [o.label for o in question.options]
        for block in self.blocks:
            parts += [block.heading, block.body_text]
        return "\n".join(p for p in parts if p)

    def research_text(self):
        return "\n".join(b.research_text for b in self.blocks if b.research_text)


@dataclass
class Journey:
    title: str
    first_step: str
    reviewed: date
    clinic_name: str
    clinic_phone: str
    disclaimer: str
    steps: dict
    references: dict  # number -> citation text
    pages: dict = field(default_factory=dict)  # slug -> (title, html)

    # --- answers ---------------------------------------------------------
    def question(self, question_id):
        for step in self.steps.values():
            for question in step.questions:
                if question.id == question_id:
                    return question
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

    def answer_pairs(self, answers, seen):
        """Readable (question, answer) text pairs for the person's path: sent to staff on request."""
        pairs = []
        for _step, question, answer in self.relevant_answers(answers, seen):
            values = answer if isinstance(answer, list) else [answer]
            text = "; ".join(question.label_for(v) for v in values) or "None of these"
            pairs.append((question.label, text))
        return pairs

    def read_answers(self, step, form):
        """Check a posted step. `form` maps names to lists of strings (like a MultiDict).

        Returns (answers, errors): answers to store, and question id -> message.
        """
        answers, errors = {}, {}
        for question in step.questions:
            allowed = {o.value for o in question.options}
            raw = [v for v in form.get(question.id, []) if isinstance(v, str)]
            if question.type == "single":
                chosen = raw[0] if len(raw) == 1 else None
                if not raw:
                    errors[question.id] = f"Choose an answer: {question.label}"
                elif chosen not in allowed:
                    errors[question.id] = "Choose one of the answers shown"
                else:
                    answers[question.id] = chosen
            else:
                chosen = list(dict.fromkeys(raw))
                if any(v not in allowed for v in chosen):
                    errors[question.id] = "Choose only from the answers shown"
                elif not chosen and not question.optional:
                    errors[question.id] = f"Tick at least one box: {question.label}"
                else:
                    order = [o.value for o in question.options]
                    answers[question.id] = sorted(chosen, key=order.index)
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

    def highlights(self, answers):
        """Blocks anywhere in the journey that were moved to the top for this person."""
        found = []
        for step in self.steps.values():
            for block, first in self.ordered_blocks(step, answers):
                if first:
                    found.append((step, block))
        return found


def conditions_hold(when, answers):
    for question_id, values in when.items():
        answer = answers.get(question_id)
        if answer is None:
            return False
        given = set(answer) if isinstance(answer, list) else {answer}
        if not given & values:
            return False
    return True


# --- loading ---------------------------------------------------------------

def load_journey(content_dir, reference_url="/references#ref-{n}"):
    """Read and check everything under content_dir. Raises ContentError naming file and field."""
    content_dir = Path(content_dir)
    meta_file = content_dir / "journey.yaml"
    meta = _read_yaml(meta_file)
    references = _load_references(content_dir / "references.yaml")
    renderer = _Renderer(references, reference_url)

    steps = {}
    step_files = sorted((content_dir / "steps").glob("*.md"))
    if not step_files:
        raise ContentError(content_dir / "steps", "files", "no step files found")
    for path in step_files:
        step = _load_step(path, renderer)
        steps[step.id] = step

    for key in ("title", "first_step", "reviewed", "clinic_name", "clinic_phone", "disclaimer"):
        if not meta.get(key):
            raise ContentError(meta_file, key, "is missing")
    if meta["first_step"] not in steps:
        raise ContentError(meta_file, "first_step", f"unknown step '{meta['first_step']}'")
    reviewed = meta["reviewed"]
    if not isinstance(reviewed, date):
        try:
            reviewed = date.fromisoformat(str(reviewed))
        except ValueError:
            raise ContentError(meta_file, "reviewed", "must be a date like 2026-11-25") from None

    pages = {}
    for path in sorted((content_dir / "pages").glob("*.md")):
        front, body = _split_front_matter(path)
        if not front.get("title"):
            raise ContentError(path, "title", "is missing")
        pages[path.stem] = (front["title"], renderer.html(body, path, "body"))

    journey = Journey(
        title=meta["title"], first_step=meta["first_step"], reviewed=reviewed,
        clinic_name=meta["clinic_name"], clinic_phone=str(meta["clinic_phone"]),
        disclaimer=meta["disclaimer"], steps=steps, references=references, pages=pages,
    )
    _check_graph(journey)
    return journey


def _read_yaml(path):
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ContentError(path, "file", "does not exist") from None
    except yaml.YAMLError as exc:
        raise ContentError(path, "yaml", str(exc).replace("\n", " ")) from None
    return data


def _split_front_matter(path):
    text = Path(path).read_text(encoding="utf-8")
    if not text.startswith("---"):
        raise ContentError(path, "front matter", "the file must start with a '---' line")
    try:
        _, front, body = text.split("---", 2)
    except ValueError:
        raise ContentError(path, "front matter", "no closing '---' line") from None
    try:
        data = yaml.safe_load(front) or {}
    except yaml.YAMLError as exc:
        raise ContentError(path, "front matter", str(exc).replace("\n", " ")) from None
    if not isinstance(data, dict):
        raise ContentError(path, "front matter", "must be a mapping of keys to values")
    return data, body.strip()


def _load_references(path):
    data = _read_yaml(path)
    if not isinstance(data, list) or not data:
        raise ContentError(path, "references", "must be a non-empty list")
    references = {}
    for index, item in enumerate(data):
        if not isinstance(item, dict) or not isinstance(item.get("n"), int) or not item.get("text"):
            raise ContentError(path, f"[{index}]", "each reference needs a number 'n' and a 'text'")
        if item["n"] in references:
            raise ContentError(path, f"[{index}].n", f"reference {item['n']} appears twice")
        references[item["n"]] = str(item["text"])
    expected = list(range(1, len(references) + 1))
    if sorted(references) != expected:
        raise ContentError(path, "n", "references must be numbered 1, 2, 3 ... without gaps")
    return references


class _Renderer:
    def __init__(self, references, reference_url):
        self.references = references
        self.reference_url = reference_url

    def _check_refs(self, text, source, field_name):
        for match in REF_PATTERN.finditer(text):
            for number in _numbers(match.group(1)):
                if number not in self.references:
                    raise ContentError(source, field_name, f"reference [ref:{number}] does not exist")

    def html(self, text, source, field_name):
        text = str(text or "")
        self._check_refs(text, source, field_name)

        def link(match):
            numbers = _numbers(match.group(1))
            links = ", ".join(
                f'<a class="ref" href="{self.reference_url.format(n=n)}" '
                f'aria-label="Reference {n}">{n}</a>' for n in numbers
            )
            return f"<sup>[{links}]</sup>"

        # Content files are written by the clinic, never by patients: their HTML is trusted.
        return Markup(markdown.markdown(REF_PATTERN.sub(link, text), extensions=["sane_lists"]))  # noqa: S704  # nosec B704

    @staticmethod
    def plain(text):
        """Text without Markdown marks or reference numbers: what readability is measured on."""
        text = REF_PATTERN.sub("", str(text or ""))
        text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
        text = re.sub(r"^\s{0,3}(#+|[-*+]|\d+\.)\s+", "", text, flags=re.M)
        text = re.sub(r"[*_`>]", "", text)
        return text.strip()


def _numbers(group):
    return [int(n) for n in re.findall(r"\d+", group)]


def _conditions(raw, source, field_name):
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not raw:
        raise ContentError(source, field_name, "must map question ids to lists of answers")
    parsed = {}
    for question_id, values in raw.items():
        values = values if isinstance(values, list) else [values]
        parsed[str(question_id)] = frozenset(str(v) for v in values)
    return parsed


def _load_step(path, renderer):
    front, body = _split_front_matter(path)
    step_id = path.stem
    if not ID_PATTERN.match(step_id):
        raise ContentError(path, "file name", "step ids use lowercase letters, digits and hyphens")
    kind = front.get("kind", "question")
    if kind not in KINDS:
        raise ContentError(path, "kind", f"must be one of {', '.join(KINDS)}")
    for key in ("title", "section"):
        if not front.get(key):
            raise ContentError(path, key, "is missing")

    questions = []
    for index, raw in enumerate(front.get("questions") or []):
        questions.append(_load_question(raw, path, f"questions[{index}]", renderer))
    if kind == "question" and not questions:
        raise ContentError(path, "questions", "a question step needs at least one question")
    if kind != "question" and questions:
        raise ContentError(path, "questions", f"a {kind} step cannot ask questions")

    rules = []
    raw_next = front.get("next") or []
    if not isinstance(raw_next, list):
        raise ContentError(path, "next", "must be a list of rules")
    for index, raw in enumerate(raw_next):
        name = f"next[{index}]"
        if not isinstance(raw, dict) or not raw.get("goto"):
            raise ContentError(path, name, "each rule needs a 'goto'")
        rules.append(Rule(when=_conditions(raw.get("when"), path, f"{name}.when"), goto=str(raw["goto"])))
    if kind == "stop" and rules:
        raise ContentError(path, "next", "a stop page ends the journey and has no next step")
    if kind != "stop":
        if not rules:
            raise ContentError(path, "next", "is missing")
        if rules[-1].when:
            raise ContentError(path, f"next[{len(rules) - 1}]", "the last rule must have no 'when' (it is the default)")

    blocks = []
    for index, raw in enumerate(front.get("blocks") or []):
        name = f"blocks[{index}]"
        if not isinstance(raw, dict) or not raw.get("id") or not raw.get("heading") or not raw.get("body"):
            raise ContentError(path, name, "each block needs an 'id', a 'heading' and a 'body'")
        blocks.append(Block(
            id=str(raw["id"]), heading=str(raw["heading"]),
            body_html=renderer.html(raw["body"], path, f"{name}.body"),
            body_text=renderer.plain(raw["body"]),
            research_html=renderer.html(raw.get("research"), path, f"{name}.research") if raw.get("research") else "",
            research_text=renderer.plain(raw.get("research")),
            first_when=_conditions(raw.get("first_when"), path, f"{name}.first_when"),
        ))

    doctor_questions = []
    for index, raw in enumerate(front.get("doctor_questions") or []):
        if not isinstance(raw, dict) or not raw.get("text"):
            raise ContentError(path, f"doctor_questions[{index}]", "needs a 'text'")
        doctor_questions.append(DoctorQuestion(
            text=str(raw["text"]), when=_conditions(raw.get("when"), path, f"doctor_questions[{index}].when")))

    return Step(
        id=step_id, title=str(front["title"]), section=str(front["section"]), kind=kind,
        intro_html=renderer.html(body, path, "body"), intro_text=renderer.plain(body),
        questions=tuple(questions), rules=tuple(rules), blocks=tuple(blocks),
        doctor_questions=tuple(doctor_questions), source=str(path),
    )


def _load_question(raw, path, name, renderer):
    if not isinstance(raw, dict):
        raise ContentError(path, name, "must be a mapping")
    for key in ("id", "label"):
        if not raw.get(key):
            raise ContentError(path, f"{name}.{key}", "is missing")
    if not re.match(r"^[a-z][a-z0-9_]*$", str(raw["id"])):
        raise ContentError(path, f"{name}.id", "question ids use lowercase letters, digits and underscores")
    qtype = raw.get("type", "single")
    if qtype not in QUESTION_TYPES:
        raise ContentError(path, f"{name}.type", f"must be one of {', '.join(QUESTION_TYPES)}")
    options = []
    for index, option in enumerate(raw.get("options") or []):
        if not isinstance(option, dict) or not option.get("value") or not option.get("label"):
            raise ContentError(path, f"{name}.options[{index}]", "each option needs a 'value' and a 'label'")
        options.append(Option(value=str(option["value"]), label=str(option["label"])))
    if not options:
        raise ContentError(path, f"{name}.options", "a question needs at least one answer option")
    values = [o.value for o in options]
    if len(set(values)) != len(values):
        raise ContentError(path, f"{name}.options", "two options share a value")
    for text_field in ("label", "hint"):
        renderer._check_refs(str(raw.get(text_field) or ""), path, f"{name}.{text_field}")
    return Question(
        id=str(raw["id"]), type=qtype, label=str(raw["label"]),
        summary_label=str(raw.get("summary_label") or raw["label"]), hint=str(raw.get("hint") or ""),
        optional=bool(raw.get("optional", False)), options=tuple(options),
    )


def _check_graph(journey):
    steps = journey.steps
    question_owner = {}
    for step in steps.values():
        for question in step.questions:
            if question.id in question_owner:
                owner = question_owner[question.id]
                raise ContentError(step.source, "questions", f"question id '{question.id}' is also used in step '{owner}'")
            question_owner[question.id] = step.id

    def check_conditions(when, source, field_name):
        for question_id, values in when.items():
            question = journey.question(question_id)
            if question is None:
                raise ContentError(source, field_name, f"unknown question '{question_id}'")
            unknown = values - {o.value for o in question.options}
            if unknown:
                raise ContentError(source, field_name, f"question '{question_id}' has no answer {sorted(unknown)}")

    for step in steps.values():
        for index, rule in enumerate(step.rules):
            if rule.goto != REQUEST_TARGET and rule.goto not in steps:
                raise ContentError(step.source, f"next[{index}].goto", f"unknown next step '{rule.goto}'")
            check_conditions(rule.when, step.source, f"next[{index}].when")
        for index, block in enumerate(step.blocks):
            check_conditions(block.first_when, step.source, f"blocks[{index}].first_when")
        for index, item in enumerate(step.doctor_questions):
            check_conditions(item.when, step.source, f"doctor_questions[{index}].when")

    # Every step reachable, no loops: depth-first over every rule, whatever its condition.
    reachable, on_stack = set(), []

    def visit(step_id):
        if step_id == REQUEST_TARGET:
            return
        if step_id in on_stack:
            loop = " -> ".join(on_stack[on_stack.index(step_id):] + [step_id])
            raise ContentError(steps[step_id].source, "next", f"the steps loop: {loop}")
        if step_id in reachable:
            return
        on_stack.append(step_id)
        for rule in steps[step_id].rules:
            visit(rule.goto)
        on_stack.pop()
        reachable.add(step_id)

    visit(journey.first_step)
    for step_id, step in steps.items():
        if step_id not in reachable:
            raise ContentError(step.source, "id", f"step '{step_id}' cannot be reached from '{journey.first_step}'")


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


if __name__ == "__main__":  # python -m clinic.journey [content-dir]: check the content
    import sys

    loaded = load_journey(sys.argv[1] if len(sys.argv) > 1 else "content")
    print(f"{len(loaded.steps)} steps, {len(loaded.references)} references, {len(all_paths(loaded))} paths: OK")
