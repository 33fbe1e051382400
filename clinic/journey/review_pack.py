"""What the clinic's medical reviewer signs off, gathered from the loaded journey (the same objects the site serves).

Plain Python, no Flask: `flask content review-pack OUT.html` renders this into one printable file.
"""
import ast
import html as html_lib
import re
from dataclasses import dataclass
from pathlib import Path

from clinic.journey.model import REQUEST_TARGET, all_paths
from clinic.journey.render import REF_PATTERN
from clinic.journey.schema import source_reason


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


# --- issue 17 D: what is not from the article, line by line -------------------------------------------------
@dataclass(frozen=True)
class AddedClaim:
    where: str  # "Common treatments: what is known › Opioid pain pills", "Warning sign (Emergency)", ...
    file: str  # the content file it lives in
    claim: str  # the words, as the patient reads them (a whole block's text when all of it is added)
    reason: str


def added_claims(journey):
    """Every claim in the content that the article does not make: whole steps, blocks, signs and comparison
    options marked `source: added: ...`, and the single claims listed under `added:` in text from the article."""
    found = []
    for step_id in step_order(journey):
        step = journey.steps[step_id]
        file = Path(step.source).name
        if source_reason(step.provenance):
            text = step.main_text() if step.questions else step.intro_text  # a question page: its questions too
            found.append(AddedClaim(f"{step.title} (the page's own text)", file, text, source_reason(step.provenance)))
        found += [AddedClaim(f"{step.title} (the page's own text)", file, claim, reason) for claim, reason in step.added]
        for block in step.blocks:
            where = f"{step.title} › {block.heading}"
            if source_reason(block.provenance):
                found.append(AddedClaim(where, file, block.body_text, source_reason(block.provenance)))
            found += [AddedClaim(where, file, claim, reason) for claim, reason in block.added]
    if journey.warning_signs:
        for sign in journey.warning_signs.signs():
            if source_reason(sign.provenance):
                found.append(AddedClaim(f"Warning sign ({sign.tier.label})", "warning_signs.yaml", sign.label,
                                        source_reason(sign.provenance)))
    if journey.decision:
        found += [AddedClaim("Your summary › what matters to you, and the next step after a 'no'", "decision.yaml",
                             claim, reason) for claim, reason in journey.decision.added]
    for slug, source in journey.page_sources.items():
        if source_reason(source):
            found.append(AddedClaim(f"{journey.pages[slug][0]} (/{slug})", f"pages/{slug}.md",
                                    "The whole page.", source_reason(source)))
    if journey.comparison:
        for row in journey.comparison.rows:
            where = f"Compare the options › {row.name}"
            if source_reason(row.provenance):
                found.append(AddedClaim(where, "comparison.yaml", row.text, source_reason(row.provenance)))
            found += [AddedClaim(where, "comparison.yaml", claim, reason) for claim, reason in row.added]
    return found


# --- patient-facing sentences that live in templates, not in content/ -----------------------------------
# The templates whose words a patient reads and that say something clinical: the reply promise, "free to ask",
# the summary's headings, the reminders, the stop pages' frame, the footer's disclaimer and review line.
PATIENT_TEMPLATES = (
    "journey/_summary.html", "journey/_warning_reminder.html", "journey/_stop.html", "requests/_new.html",
    "requests/_crisis_line.html", "requests/_form.html", "requests/_sent.html", "requests/_not_sent.html",
    "requests/mail/patient_receipt.txt", "layout.html", "_review_line.html",
)
_BLOCK_TAGS = r"p|li|h[1-6]|dt|dd|div|section|summary|legend|label|ol|ul|tr|td|th|br|footer|nav|details|article|fieldset|span"


def template_values(journey):
    """What a `{{ ... }}` in a patient template shows, for the sentences read from the templates."""
    return {"site.clinic_phone": journey.clinic_phone, "clinic_phone": journey.clinic_phone,
            "site.clinic_name": journey.clinic_name, "clinic_name": journey.clinic_name,
            "site.disclaimer": journey.disclaimer, "site.reviewed_by": journey.reviewed_by,
            "site.article_by": journey.article_by, "site.conflict_of_interest": journey.conflict_of_interest}


# Interface text is in gettext calls (README "Interface text in each language"): the pack shows their English.
_TRANS_BLOCK = re.compile(r"\{%-?\s*trans\b(.*?)-?%\}(.*?)\{%-?\s*endtrans\s*-?%\}", re.S)
_PLURALIZE = re.compile(r"\{%-?\s*pluralize\b.*?-?%\}", re.S)
_STRING = r"""("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')"""
_MESSAGE = re.compile(rf"\b(?:_|gettext|ngettext)\(\s*{_STRING}(?:\s*,\s*{_STRING})?")


def _trans_text(match):
    """A {% trans name=expr %}...{% endtrans %} block as its (plural) English, each {{ name }} as {{ expr }}."""
    names = dict(re.findall(r"(\w+)\s*=\s*([^,]+?)\s*(?:,|$)", match.group(1).strip()))
    body = _PLURALIZE.split(match.group(2))[-1]
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: "{{ " + names.get(m.group(1), m.group(1)) + " }}", body)


def _expression_text(expression, values):
    """What a {{ ... }} shows: the English of the messages in it (placeholders as their values, or "…"), else the
    value of the expression from `values`, else "…"."""
    found = _MESSAGE.findall(expression)
    if not found:
        return values.get(expression.split("|")[0].strip(), "…")
    names = dict(re.findall(r"(\w+)\s*=\s*([\w.]+)", expression))
    texts = [ast.literal_eval(plural or single) for single, plural in found]
    return "\n".join(re.sub(r"%\((\w+)\)[sd]", lambda m: values.get(names.get(m.group(1), ""), "…"), text)
                     for text in texts)


def template_sentences(template_dir, values, names=PATIENT_TEMPLATES):
    """[(template name, [sentence, ...])]: the visible text of each template, line by line, with `{{ ... }}` shown as
    the value it takes (`values`: expression -> text) or "…". Read from the files when the pack is made, so the pack
    follows every change to the templates."""
    found = []
    for name in names:
        path = Path(template_dir) / name
        if not path.exists():
            continue
        text = path.read_text(encoding="utf-8")
        text = re.sub(r"\{#.*?#\}", " ", text, flags=re.S)
        text = _TRANS_BLOCK.sub(_trans_text, text)  # the English of {% trans %} blocks, their names as expressions
        text = re.sub(r"\{%.*?%\}", "\n", text, flags=re.S)
        text = re.sub(r"\{\{(.*?)\}\}", lambda m: _expression_text(m.group(1), values), text, flags=re.S)
        text = re.sub(r'aria-label="([^"]*)"', r"> \1 <", text)  # a link's spoken name is part of its sentence
        text = re.sub(r"<(script|style)\b.*?</\1>", " ", text, flags=re.S)
        text = re.sub(rf"</?({_BLOCK_TAGS})\b[^>]*>", "\n", text)
        text = html_lib.unescape(re.sub(r"<[^>]+>", "", text))
        lines = []
        for line in (" ".join(raw.split()) for raw in text.split("\n")):
            if len(re.findall(r"[A-Za-z]{2,}", line)) >= 3 and line not in lines:
                lines.append(line)
        if lines:
            found.append((name, lines))
    return found


# --- the staff flag, as clinic/triage.py's loader reads it -------------------------------------------------
def _shown(value):
    if isinstance(value, re.Pattern):
        return value.pattern
    if isinstance(value, dict):
        return "; ".join(f"{key}: {_shown(item)}" for key, item in value.items())
    if isinstance(value, (list, tuple, set, frozenset)):
        # (the text as written, its compiled form): the reviewer reads the text once
        if any(isinstance(item, re.Pattern) for item in value) and any(isinstance(item, str) for item in value):
            return next(item for item in value if isinstance(item, str))
        return "  |  ".join(_shown(item) for item in value)
    return str(value)


def flag_concepts(triage):
    """[(name, [(field, text)])] for each concept the staff flag looks for in a description, as the loader gives
    them (every field of each concept: its patterns, its banner). Content with a flat phrase list shows it as one
    entry. Nothing here knows the triage file's layout: the pack shows what the matcher uses."""
    concepts = getattr(triage, "concepts", None)
    if concepts is None:
        phrases = getattr(triage, "phrases", None)
        items = getattr(phrases, "phrases", phrases) or ()
        return [("Phrases (one list, no concepts)", [("phrases", _shown(items))])]
    if isinstance(concepts, dict):
        concepts = list(concepts.values())
    shown = []
    for concept in concepts:
        fields = vars(concept) if hasattr(concept, "__dict__") else {
            name: getattr(concept, name) for name in getattr(concept, "__dataclass_fields__", {})}
        name = str(fields.get("label") or fields.get("name") or fields.get("id") or concept)
        shown.append((name, [(key, _shown(value)) for key, value in fields.items() if value not in (None, "", (), [])]))
    return shown


def flag_banner(triage):
    """The banner texts staff see on a flagged request, as {key: text}."""
    banner = getattr(triage, "banner", None) or {}
    return {key: _shown(value) for key, value in (banner.items() if isinstance(banner, dict) else vars(banner).items())}


# --- issue 20 C: a translation beside the English, for the qualified medical translator and the reviewer ----------
@dataclass(frozen=True)
class SideBySide:
    title: str  # "1. Is anything urgent? (safety)"
    anchor: str  # an id in the pack
    rows: tuple  # (what, English, translation): text, or rendered HTML for Markdown fields


def _text_rows(english, other):
    """(what, English, translation) for every text field two parallel steps show, in page order."""
    rows = [("Title", english.title, other.title), ("Part", english.section, other.section)]
    if english.intro_text:
        rows.append(("Text", english.intro_html, other.intro_html))
    for question, translated in zip(english.questions, other.questions, strict=True):
        rows.append((f"Question {question.id}", question.label, translated.label))
        if question.summary_label != question.label:
            rows.append(("On the summary", question.summary_label, translated.summary_label))
        if question.hint:
            rows.append(("Hint", question.hint, translated.hint))
        rows += [(f"Answer {option.value}", option.label, theirs.label)
                 for option, theirs in zip(question.options, translated.options, strict=True)]
    for block, translated in zip(english.blocks, other.blocks, strict=True):
        rows.append((f"Block {block.id}", block.heading, translated.heading))
        if block.diagram:
            rows.append(("Picture", f"{block.diagram.title}. {block.diagram.labels}. {block.diagram.caption}",
                         f"{translated.diagram.title}. {translated.diagram.labels}. {translated.diagram.caption}"))
        rows.append(("Text", block.body_html, translated.body_html))
        if block.figure:
            rows.append(("Figure", block.figure.caveat, translated.figure.caveat))
        if block.research_html:
            rows.append(("What the research says", block.research_html, translated.research_html))
        rows += [("Added claim", claim, theirs) for (claim, _), (theirs, _) in zip(block.added, translated.added, strict=True)]
    rows += [("Doctor question", item.text, theirs.text)
             for item, theirs in zip(english.doctor_questions, other.doctor_questions, strict=True)]
    rows += [("Call button", label, theirs) for (_, label, _), (_, theirs, _) in zip(english.calls, other.calls, strict=True)]
    return rows


def side_by_side(english, other):
    """Every text the patient reads in `other` (a translation's Journey) beside the English it was written from:
    the steps in order, the warning signs, the summary's lines, the comparison, the pages and the site's lines.
    Both journeys have the same structure (the loader refused anything else), so each text is paired by its id."""
    sections = []
    for index, step_id in enumerate(step_order(english), start=1):
        step = english.steps[step_id]
        sections.append(SideBySide(f"{index}. {step.title} ({step_id})", f"tr-{other.language}-{step_id}",
                                   tuple(_text_rows(step, other.steps[step_id]))))
    if english.warning_signs:
        signs, theirs = english.warning_signs, other.warning_signs
        rows = [(f"Tier {tier.id}", tier.label, other_tier.label)
                for tier, other_tier in zip(signs.tiers, theirs.tiers, strict=True)]
        rows.append(("None of these", signs.none_label, theirs.none_label))
        for group, other_group in zip(signs.groups, theirs.groups, strict=True):
            rows.append((f"Group {group.id}", group.label, other_group.label))
            if group.hint:
                rows.append(("Hint", group.hint, other_group.hint))
            rows += [(f"Sign {sign.id} ({sign.tier.label})", sign.label, other_sign.label)
                     for sign, other_sign in zip(group.signs, other_group.signs, strict=True)]
        sections.append(SideBySide("Warning signs", f"tr-{other.language}-signs", tuple(rows)))
    if english.decision:
        rows = [(f"Line {value}", english.decision.lines[value], other.decision.lines[value]) for value in english.decision.lines]
        rows += [("After a “no”", english.decision.unsure_html, other.decision.unsure_html)]
        sections.append(SideBySide("What matters to you (the summary)", f"tr-{other.language}-decision", tuple(rows)))
    if english.comparison:
        rows = []
        for row, theirs in zip(english.comparison.rows, other.comparison.rows, strict=True):
            rows.append((f"Option {row.id}", row.name, theirs.name))
            rows += [(point, getattr(row, key), getattr(theirs, key)) for key, point in (
                ("involves", "What it involves"), ("known", "What is known"), ("risks", "Main risks"), ("who", "Who offers it"))]
        sections.append(SideBySide("Compare the options", f"tr-{other.language}-comparison", tuple(rows)))
    for slug, (title, body) in english.pages.items():
        other_title, other_body = other.pages[slug]
        sections.append(SideBySide(f"Page /{slug}", f"tr-{other.language}-page-{slug}",
                                   (("Title", title, other_title), ("Text", body, other_body))))
    sections.append(SideBySide("On every page", f"tr-{other.language}-site", (
        ("Guide title", english.title, other.title), ("Disclaimer", english.disclaimer, other.disclaimer),
        ("Conflict of interest", english.conflict_of_interest, other.conflict_of_interest),
        ("Reviewer (role)", english.reviewed_by, other.reviewed_by),
        ("Insurance", english.clinic_insurance, other.clinic_insurance),
        ("Parts", " · ".join(english.parts), " · ".join(other.parts)))))
    return sections


def template_translations(template_dir, catalog_path, names=PATIENT_TEMPLATES):
    """[(template name, [(English, translation)])]: each message the patient templates of part 5 pass through
    gettext, with its translation from a committed catalog (translations/<lang>/LC_MESSAGES/messages.po), tags
    shown as text. A message the catalog lacks shows "(not translated)": the missing-translation test fails then."""
    from babel.messages.extract import extract_from_file
    from babel.messages.pofile import read_po
    from jinja2.ext import babel_extract

    with Path(catalog_path).open("rb") as handle:
        catalog = read_po(handle)

    def plain(text):
        return " ".join(html_lib.unescape(re.sub(r"<[^>]+>", "", text)).split())

    found = []
    for name in names:
        path = Path(template_dir) / name
        if not path.exists():
            continue
        pairs = []
        for _line, message, _comments, _context in extract_from_file(
                babel_extract, str(path), options={"extensions": "jinja2.ext.do"}):
            msgid = message[0] if isinstance(message, tuple) else message
            entry = catalog.get(msgid)
            string = entry.string if entry is not None else ""
            string = string[0] if isinstance(string, tuple) else string
            pair = (plain(msgid), plain(string) if string else "(not translated)")
            if len(re.findall(r"[A-Za-z]{2,}", pair[0])) >= 2 and pair not in pairs:
                pairs.append(pair)
        if pairs:
            found.append((name, pairs))
    return found
