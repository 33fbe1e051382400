"""What the clinic's medical reviewer signs off, gathered from the loaded journey (the same objects the site serves).

Plain Python, no Flask: `flask content review-pack OUT.html` renders this into one printable file.
"""
from dataclasses import dataclass
from pathlib import Path

from clinic.journey.model import REQUEST_TARGET, all_paths
from clinic.journey.render import REF_PATTERN


@dataclass(frozen=True)
class CitedReference:
    number: int
    text: str
    cited_by: tuple  # step ids (and "comparison") that cite it, in journey order


def step_order(journey):
    """Every step once: the route taken when no answer sends anyone elsewhere, then the branches (stop pages too)."""
    order = list(journey.expected_route({}))
    for path in all_paths(journey):
        order += [step_id for step_id in path if step_id != REQUEST_TARGET and step_id not in order]
    return order


def condition_text(journey, when):
    """{question id: answers} in the reviewer's words: "Your operation is Spinal fusion or Laminectomy"."""
    if not when:
        return "always"
    parts = []
    for question_id, values in when.items():
        question = journey.question(question_id)
        labels = [question.label_for(value) for value in sorted(values, key=[o.value for o in question.options].index)]
        parts.append(f"{question.summary_label}: {' or '.join(labels)}")
    return "; and ".join(parts)


def first_blocks(journey):
    """(step, block, condition) for every block that some answers put first."""
    return [(journey.steps[step_id], block, condition_text(journey, block.first_when))
            for step_id in step_order(journey) for block in journey.steps[step_id].blocks if block.first_when]


def doctor_questions(journey):
    return [(journey.steps[step_id], item.text, condition_text(journey, item.when))
            for step_id in step_order(journey) for item in journey.steps[step_id].doctor_questions]


def sign_table(journey):
    """(sign, screen step, group label, tier, stop page) for every warning sign, in the order they are asked."""
    signs = journey.warning_signs
    if not signs:
        return []
    return [(sign, journey.steps[group.step], group.label, sign.tier, journey.steps[sign.tier.stop_step])
            for group in signs.groups for sign in group.signs]


def cited_references(journey, content_dir):
    """Every reference with the steps that cite it, read from the content files themselves."""
    content_dir = Path(content_dir)
    sources = [(step_id, Path(journey.steps[step_id].source)) for step_id in step_order(journey)]
    sources += [("comparison", content_dir / "comparison.yaml")]
    sources += [(f"page: {path.stem}", path) for path in sorted((content_dir / "pages").glob("*.md"))]
    cited = {number: [] for number in journey.references}
    for name, path in sources:
        if not path.exists():
            continue
        for match in REF_PATTERN.finditer(path.read_text(encoding="utf-8")):
            for number in (int(n) for n in match.group(1).replace(",", " ").split()):
                if name not in cited[number]:
                    cited[number].append(name)
    return [CitedReference(number, journey.references[number], tuple(cited[number])) for number in sorted(cited)]
