"""Reading content/: journey.yaml, references.yaml, steps/*.md and pages/*.md into a checked Journey."""
import re
from datetime import date
from pathlib import Path

import yaml

from clinic.journey.checks import check_graph
from clinic.journey.errors import ContentError
from clinic.journey.model import (
    KINDS,
    QUESTION_TYPES,
    Block,
    DoctorQuestion,
    Journey,
    Option,
    Question,
    Rule,
    Step,
)
from clinic.journey.render import Renderer

ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


def load_journey(content_dir, reference_url="/references#ref-{n}"):
    """Read and check everything under content_dir. Raises ContentError naming file and field."""
    content_dir = Path(content_dir)
    meta_file = content_dir / "journey.yaml"
    meta = _read_yaml(meta_file)
    references = _load_references(content_dir / "references.yaml")
    renderer = Renderer(references, reference_url)

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
    check_graph(journey)
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
        renderer.check_refs(str(raw.get(text_field) or ""), path, f"{name}.{text_field}")
    return Question(
        id=str(raw["id"]), type=qtype, label=str(raw["label"]),
        summary_label=str(raw.get("summary_label") or raw["label"]), hint=str(raw.get("hint") or ""),
        optional=bool(raw.get("optional", False)), options=tuple(options),
    )
