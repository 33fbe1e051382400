"""Reading content/: journey.yaml, references.yaml, steps/*.md and pages/*.md into a checked Journey.

Each file is first validated against its declared shape (schema.py), then turned into the journey's objects
(model.py) with the rules that span several fields; checks.py then checks the journey as a whole.
"""
import re
from pathlib import Path

import yaml
from markupsafe import Markup

from clinic.journey import schema, translation
from clinic.journey.checks import check_graph
from clinic.journey.diagrams import load_diagrams, translate_diagram
from clinic.journey.errors import ContentError
from clinic.journey.model import (
    RESERVED_STEP_IDS,
    Block,
    Comparison,
    ComparisonRow,
    Decision,
    Diagram,
    DoctorQuestion,
    Figure,
    Journey,
    Option,
    Question,
    Rule,
    Step,
)
from clinic.journey.reading import fill_reading_time
from clinic.journey.render import Renderer
from clinic.journey.translation import DEFAULT_LANGUAGE, LANGUAGES, spec_for
from clinic.journey.version import content_version
from clinic.journey.warning_signs import attach_to_steps, build_warning_signs, check_routes

ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
# Front matter: a first line that is exactly `---`, then everything up to the next line that is exactly `---`.
# Dashes inside a line (`title: Pain --- and sleep`) are text; a later `---` line in the body is a Markdown rule.
FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(?P<front>.*?)^---[ \t]*(?:\r?\n|\Z)(?P<body>.*)\Z", re.S | re.M)


def load_journey(content_dir, reference_url=None, language=DEFAULT_LANGUAGE, english=None):
    """Read and check everything under content_dir. Raises ContentError naming file and field.

    language "es": the English journey is loaded and checked first, then content/es/ is laid over it (text only,
    see translation.py). A Spanish file that is missing leaves the English text in its place and is listed in the
    journey's `missing`: such a journey is for checking (`make check-content`), never served (load_journeys)."""
    content_dir = Path(content_dir)
    if language == DEFAULT_LANGUAGE:
        return _build(content_dir, _Files(), reference_url or "/references#ref-{n}", language)
    if language not in LANGUAGES:
        raise ValueError(f"no content language '{language}'")
    if english is None:
        load_journey(content_dir)  # the structure is the English one: it must be sound first
    files = _Translated(content_dir, language)
    files.check_names()
    try:
        journey = _build(content_dir, files, reference_url or f"/{language}/references#ref-{{n}}", language)
    except ContentError as exc:
        # The English passed, so what differs is the translation's text: name its file.
        translated = files.translated_path(exc.source)
        raise ContentError(translated if translated.is_file() else exc.source, exc.field_name, exc.problem) from None
    journey.missing = tuple(files.missing)
    return journey


def load_journeys(content_dir, languages=LANGUAGES, problems=None):
    """{language: Journey} for English and every language whose content is complete and matches the English.

    A language with a file still missing is left out (the site then offers it nowhere). So is one with a file
    that differs from the English (an English edit the translation has not followed yet): the English site, its
    safety screens first, must never go down for a translation; its ContentError goes into `problems`
    ({language: error}) for the caller to log, and `make check-content` and the tests fail on it.

    Loaded once per content version in a process (the app factory runs often in tests; nothing changes a loaded
    Journey), and a language without a folder under content/ is not tried at all."""
    content_dir = Path(content_dir)
    # The versions leave out the sign-off fields: the journey.yaml files themselves are part of the key.
    metas = [content_dir / "journey.yaml"] + [content_dir / language / "journey.yaml" for language in languages]
    key = (str(content_dir.resolve()), tuple(languages),
           tuple(content_version(content_dir, language) for language in languages),
           tuple(path.read_bytes() if path.is_file() else b"" for path in metas))
    if key in _LOADED:
        _LOADED[key] = _LOADED.pop(key)  # the most recently used last
        journeys, found_problems = _LOADED[key]
        if problems is not None:
            problems.update(found_problems)
        return dict(journeys)
    journeys, found_problems = {DEFAULT_LANGUAGE: load_journey(content_dir)}, {}
    for language in languages:
        if language == DEFAULT_LANGUAGE or not (content_dir / language).is_dir():
            continue
        try:
            journey = load_journey(content_dir, language=language, english=journeys[DEFAULT_LANGUAGE])
        except ContentError as exc:
            found_problems[language] = exc
            continue
        if not journey.missing:
            journeys[language] = journey
    for journey in journeys.values():  # staff compare a request's version with the one served in its language
        journey.versions = {language: each.version for language, each in journeys.items()}
    _LOADED[key] = (journeys, found_problems)
    while len(_LOADED) > KEEP_LOADED:
        del _LOADED[next(iter(_LOADED))]
    if problems is not None:
        problems.update(found_problems)
    return dict(journeys)


# Content folders kept loaded: tests build apps on the real content and on the small fixture journey in turn, and
# reloading the real one took a second or more each time.
KEEP_LOADED = 4
_LOADED = {}


def _build(content_dir, files, reference_url, language):
    meta_file = content_dir / "journey.yaml"
    meta = schema.validate(schema.JourneyMeta, files.yaml(meta_file), meta_file)
    if (meta.reviewed is None) != (meta.reviewed_version is None):
        raise ContentError(meta_file, "reviewed_version", "a sign-off needs both its date (reviewed) and the content "
                           "version it approved (reviewed_version, printed by make check-content)")
    references = _load_references(content_dir / "references.yaml")
    renderer = Renderer(references, reference_url, language=language)

    signs_file = content_dir / "warning_signs.yaml"
    warning_signs = None
    if signs_file.exists():  # the small test journey has none
        warning_signs = build_warning_signs(
            schema.validate(schema.WarningSignsFile, files.yaml(signs_file), signs_file), signs_file)
    screens = set(warning_signs.screens()) if warning_signs else set()

    diagrams = files.diagrams(content_dir / "diagrams")
    steps = {}
    step_files = sorted((content_dir / "steps").glob("*.md"))
    if not step_files:
        raise ContentError(content_dir / "steps", "files", "no step files found")
    for path in step_files:
        step = _load_step(path, renderer, diagrams, asks_warning_signs=path.stem in screens, files=files)
        steps[step.id] = step
    if warning_signs:
        attach_to_steps(steps, warning_signs, signs_file)

    if meta.first_step not in steps:
        raise ContentError(meta_file, "first_step", f"unknown step '{meta.first_step}'")

    pages, page_sources = {}, {}
    for path in sorted((content_dir / "pages").glob("*.md")):
        front, body = files.front(path)
        page = schema.validate(schema.PageFront, front, path)
        pages[path.stem] = (page.title, renderer.html(body, path, "body"))
        page_sources[path.stem] = page.source

    journey = Journey(
        title=meta.title, first_step=meta.first_step, reviewed=meta.reviewed,
        clinic_name=meta.clinic_name, clinic_phone=meta.clinic_phone,
        clinic_address=meta.clinic_address or "", clinic_insurance=meta.clinic_insurance or "",
        article_by=meta.article_by or meta.clinic_name,
        article_title=meta.article_title or "", article_authors=meta.article_authors or "", next_review=meta.next_review,
        review_every_months=meta.review_every_months,
        disclaimer=meta.disclaimer, steps=steps, references=references, pages=pages,
        report_questions=tuple(meta.report_questions),
        warning_signs=warning_signs, parts=tuple(meta.parts),
        article_updated=meta.article_updated, reviewed_by=meta.reviewed_by,
        version=content_version(content_dir, language), reviewed_version=meta.reviewed_version,
        language=language, translator=meta.translator or "",
        conflict_of_interest=meta.conflict_of_interest,
        comparison=_load_comparison(content_dir / "comparison.yaml", renderer, steps, files),
    )
    # A half-translated journey (files still missing) mixes two languages' section names: its parts are checked
    # once every file is there.
    check_graph(journey, parts=not files.missing)
    journey.decision = _load_decision(content_dir / "decision.yaml", renderer, journey, files)
    journey.page_sources = page_sources
    for question_id in journey.report_questions:
        question = journey.question(question_id)
        if question is None or question.type != "single":
            raise ContentError(meta_file, "report_questions", f"'{question_id}' is not a single-choice question")
    if warning_signs:
        check_routes(journey, signs_file)
    return fill_reading_time(journey)


class _Files:
    """The English content files, as they are."""
    missing = ()

    def yaml(self, path):
        return read_yaml(path)

    def front(self, path):
        return _split_front_matter(path)

    def diagrams(self, folder):
        return load_diagrams(folder)


class _Translated:
    """The English files with content/<language>/'s text laid over them (translation.overlay), each checked."""

    def __init__(self, content_dir, language):
        self.root, self.language = content_dir, language
        self.folder = content_dir / language
        self.missing = []  # files under content/ with no translation yet ("steps/tried.md")

    def translated_path(self, english_path):
        """content/steps/tried.md -> content/es/steps/tried.md (diagrams: content/es/diagrams/<name>.yaml)."""
        english_path = Path(english_path)
        if not english_path.is_absolute() and not english_path.is_relative_to(self.root):
            english_path = self.root / english_path  # checks.py names journey.yaml on its own
        try:
            relative = english_path.relative_to(self.root)
        except ValueError:
            return english_path
        if relative.parts and relative.parts[0] == self.language:
            return english_path
        if relative.suffix == ".svg":
            relative = relative.with_suffix(".yaml")
        return self.folder / relative

    def _relative(self, english_path):
        return self.translated_path(english_path).relative_to(self.folder).as_posix()

    def check_names(self):
        """Every translated file has its English file: a misspelled name would otherwise never be read."""
        if not self.folder.is_dir():
            return
        for path in sorted(p for p in self.folder.rglob("*") if p.is_file()):
            relative = path.relative_to(self.folder).as_posix()
            english = self.root / (relative[:-len(".yaml")] + ".svg" if relative.startswith("diagrams/") else relative)
            if spec_for(relative) is None or not english.is_file():
                raise ContentError(path, "file name", f"there is no English file {english} to translate")

    def _translated(self, english_path):
        """The translation's path, or None (listed as missing) when it is not written yet."""
        path = self.translated_path(english_path)
        if not path.is_file():
            self.missing.append(self._relative(english_path))
            return None
        return path

    def yaml(self, path):
        english = read_yaml(path)
        relative = self._relative(path)
        spec = spec_for(relative)
        if spec is None:  # references.yaml: citations stay as published
            return english
        own = ()
        if relative == "journey.yaml" and isinstance(english, dict):
            # The translation is signed off on its own: the English sign-off is not carried over.
            english = {k: v for k, v in english.items() if k not in translation.OWN_REVIEW_FIELDS}
            own = translation.OWN_REVIEW_FIELDS
        translated_path = self._translated(path)
        if translated_path is None:
            return english
        return translation.overlay(english, read_yaml(translated_path), spec, translated_path, self.language, own)

    def front(self, path):
        front, body = _split_front_matter(path)
        spec = spec_for(self._relative(path))
        translated_path = self._translated(path)
        if translated_path is None:
            return front, body
        translated_front, translated_body = _split_front_matter(translated_path)
        merged = translation.overlay({**front, "body": body},
                                     {**translated_front, **({"body": translated_body} if translated_body else {})},
                                     spec, translated_path, self.language)
        return {k: v for k, v in merged.items() if k != "body"}, merged["body"]

    def diagrams(self, folder):
        found = load_diagrams(folder)
        for name in list(found):
            english_path = Path(folder) / f"{name}.svg"
            translated_path = self._translated(english_path)
            if translated_path is not None:
                found[name] = translate_diagram(english_path, read_yaml(translated_path), translated_path,
                                                self.language)
        return found


def _load_comparison(path, renderer, steps, files):
    """content/comparison.yaml, or None when the content has no comparison (the small test journey)."""
    if not path.exists():
        return None
    data = schema.validate(schema.ComparisonFile, files.yaml(path), path)
    rows = []
    for index, raw in enumerate(data.options):
        name = f"options[{index}]"
        if raw.page not in steps:
            raise ContentError(path, f"{name}.page", f"unknown step '{raw.page}'")
        if any(row.id == raw.id for row in rows):
            raise ContentError(path, f"{name}.id", f"option '{raw.id}' appears twice")
        points = {key: getattr(raw, key) for key in ("involves", "known", "risks", "who")}
        figure = _figure(raw.figure, f"ia-compare-{raw.id}", renderer, path, f"{name}.figure")
        added = _added_claims(raw.source, raw.added, list(points.values()), path, name)
        rows.append(ComparisonRow(
            id=raw.id, name=raw.name, page=raw.page,
            **{key: _inline(renderer.html(text, path, f"{name}.{key}")) for key, text in points.items()},
            text="\n".join([raw.name] + [renderer.plain(text) for text in points.values()]
                           + ([figure.caveat] if figure else [])),
            figure=figure, provenance=raw.source, added=added,
        ))
    return Comparison(title=data.title, intro_html=renderer.html(data.intro, path, "intro"),
                      intro_text=renderer.plain(data.intro), rows=tuple(rows))


def _load_decision(path, renderer, journey, files):
    """content/decision.yaml, or None without it (the small test journey). Its questions must exist and fit."""
    if not path.exists():
        return None
    data = schema.validate(schema.DecisionFile, files.yaml(path), path)
    question = journey.question(data.values_question)
    if question is None or question.type != "multiple":
        raise ContentError(path, "values_question", f"'{data.values_question}' is not a check-all-that-apply question")
    needed = {o.value for o in question.options} - {question.exclusive}
    if set(data.lines) != needed:
        missing, unknown = sorted(needed - set(data.lines)), sorted(set(data.lines) - needed)
        raise ContentError(path, "lines", f"needs one line for each answer of '{question.id}' but its exclusive one"
                           + (f"; missing {missing}" if missing else "") + (f"; not an answer {unknown}" if unknown else ""))
    for index, question_id in enumerate(data.sure_questions):
        sure = journey.question(question_id)
        if sure is None or sure.type != "single" or {o.value for o in sure.options} != {"yes", "no"}:
            raise ContentError(path, f"sure_questions[{index}]", f"'{question_id}' is not a yes/no question")
    lines = {value: _inline(renderer.html(text, path, f"lines.{value}", origin="summary"))
             for value, text in data.lines.items()}
    added = _added_claims(data.source, data.added, list(data.lines.values()) + [data.unsure_heading, data.unsure_body],
                          path, "lines")
    return Decision(
        provenance=data.source, added=added,
        values_question=question.id, values_heading=data.values_heading, lines=lines,
        lines_text={value: renderer.plain(text) for value, text in data.lines.items()},
        sure_questions=tuple(data.sure_questions), sure_heading=data.sure_heading,
        unsure_heading=data.unsure_heading, unsure_html=renderer.html(data.unsure_body, path, "unsure_body"),
        unsure_text=renderer.plain(data.unsure_body),
    )


def _figure(raw, figure_id, renderer, path, field_name, origin=None):
    """A `figure:` of icon arrays, with its reference marker rendered like any other (a footnote in place)."""
    if raw is None:
        return None
    marker = _inline(renderer.html(f"[ref:{raw.ref}]", path, f"{field_name}.ref", origin=origin))
    return Figure(id=figure_id, what=raw.what, caveat=raw.caveat, ref=raw.ref, marker=marker,
                  arrays=tuple((array.shaded, array.label or "") for array in raw.arrays), in_research=raw.in_research)
def _added_claims(source, claims, texts, path, name):
    """((claim, reason), ...) after checking that each claim is in the text it is about, word for word.

    A claim that drifted from the text (someone reworded the sentence) stops start-up, so the review pack never
    asks the reviewer to approve words the site no longer shows."""
    if claims and source != schema.SOURCE_ARTICLE:
        raise ContentError(path, f"{name}.added", "everything here is added already (source: added: ...); "
                           "list single claims only in text from the article")
    haystack = " ".join(" ".join((text or "").split()) for text in texts)
    for index, item in enumerate(claims):
        if " ".join(item.claim.split()) not in haystack:
            raise ContentError(path, f"{name}.added[{index}].claim", f"'{item.claim}' is not in the text")
    return tuple((item.claim, item.reason) for item in claims)


def _inline(html):
    """One rendered paragraph without its <p>, to sit inside a <dd>."""
    text = str(html)
    if text.startswith("<p>") and text.endswith("</p>") and text.count("<p>") == 1:
        text = text[3:-4]
    return Markup(text)  # noqa: S704  # nosec B704 - the clinic's own content, rendered like the steps


def read_yaml(path):
    """A content YAML file's data; ContentError naming the file when it is missing or not YAML."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ContentError(path, "file", "does not exist") from None
    except yaml.YAMLError as exc:
        raise ContentError(path, "yaml", str(exc).replace("\n", " ")) from None
    return data


def _split_front_matter(path):
    text = Path(path).read_text(encoding="utf-8")
    if not re.match(r"---[ \t]*\r?\n", text):
        raise ContentError(path, "front matter", "the file must start with a '---' line")
    match = FRONT_MATTER.match(text)
    if match is None:
        raise ContentError(path, "front matter", "no closing '---' line")
    try:
        data = yaml.safe_load(match["front"]) or {}
    except yaml.YAMLError as exc:
        raise ContentError(path, "front matter", str(exc).replace("\n", " ")) from None
    if not isinstance(data, dict):
        raise ContentError(path, "front matter", "must be a mapping of keys to values")
    return data, match["body"].strip()


def _load_references(path):
    data = read_yaml(path)
    if not isinstance(data, list) or not data:
        raise ContentError(path, "references", "must be a non-empty list")
    references = {}
    for index, item in enumerate(data):
        reference = schema.validate(schema.Reference, item, path, field_prefix=f"[{index}]")
        if reference.n in references:
            raise ContentError(path, f"[{index}].n", f"reference {reference.n} appears twice")
        references[reference.n] = reference.text
    expected = list(range(1, len(references) + 1))
    if sorted(references) != expected:
        raise ContentError(path, "n", "references must be numbered 1, 2, 3 ... without gaps")
    return references


def _conditions(when):
    """{question id: [answers]} from the file -> {question id: frozenset of answers}; None means always."""
    return {question_id: frozenset(values) for question_id, values in (when or {}).items()}


def _load_step(path, renderer, diagrams=None, asks_warning_signs=False, files=None):
    front, body = (files or _Files()).front(path)
    step_id = path.stem
    if not ID_PATTERN.match(step_id):
        raise ContentError(path, "file name", "step ids use lowercase letters, digits and hyphens")
    if step_id in RESERVED_STEP_IDS:
        raise ContentError(path, "file name", f"the step id '{step_id}' is a page of the site (/journey/{step_id}): "
                           "rename the file and the goto rules that lead to it")
    data = schema.validate(schema.StepFront, front, path)
    kind = data.kind

    questions = tuple(_load_question(raw, path, f"questions[{index}]", renderer)
                      for index, raw in enumerate(data.questions))
    if kind == "question" and not questions and not asks_warning_signs:
        raise ContentError(path, "questions", "a question step needs at least one question")
    if kind != "question" and questions:
        raise ContentError(path, "questions", f"a {kind} step cannot ask questions")

    rules = tuple(Rule(when=_conditions(raw.when), goto=raw.goto) for raw in data.next)
    if kind == "stop" and rules:
        raise ContentError(path, "next", "a stop page ends the journey and has no next step")
    if kind != "stop":
        if not rules:
            raise ContentError(path, "next", "is missing")
        if rules[-1].when:
            raise ContentError(path, f"next[{len(rules) - 1}]", "the last rule must have no 'when' (it is the default)")

    blocks = []
    for index, raw in enumerate(data.blocks):
        name = f"blocks[{index}]"
        lead, more = split_lead(raw.body)
        added = _added_claims(raw.source, raw.added, [raw.body, raw.research], path, name)
        blocks.append(Block(
            id=raw.id, heading=raw.heading,
            body_html=renderer.html(raw.body, path, f"{name}.body", origin=step_id),
            body_text=renderer.plain(raw.body),
            lead_html=renderer.html(lead, path, f"{name}.body", origin=step_id) if more else "",
            lead_text=renderer.plain(lead) if more else "",
            more_html=renderer.html(more, path, f"{name}.body", origin=step_id) if more else "",
            research_html=renderer.html(raw.research, path, f"{name}.research", origin=step_id) if raw.research else "",
            research_text=renderer.plain(raw.research),
            first_when=_conditions(raw.first_when),
            diagram=_block_diagram(raw.diagram, diagrams or {}, path, f"{name}.diagram"),
            figure=_figure(raw.figure, f"ia-{step_id}-{raw.id}", renderer, path, f"{name}.figure", origin=step_id),
            provenance=raw.source, added=added,
        ))
    for index, block in enumerate(blocks):
        if block.figure and block.figure.in_research and not block.research_html:
            raise ContentError(path, f"blocks[{index}].figure.in_research", "the block has no research text to put it in")
    shown = [b.diagram.name for b in blocks if b.diagram]
    if len(shown) != len(set(shown)):
        raise ContentError(path, "blocks", "a diagram can be shown only once on a step (its ids must be unique)")

    doctor_questions = tuple(DoctorQuestion(text=raw.text, when=_conditions(raw.when)) for raw in data.doctor_questions)
    if data.calls and kind != "stop":
        raise ContentError(path, "calls", "only stop pages have call buttons")
    if sum(call.main for call in data.calls) > 1:
        raise ContentError(path, "calls", "at most one call is the main button (main: true)")

    return Step(
        id=step_id, title=data.title, section=data.section, kind=kind,
        intro_html=renderer.html(body, path, "body", origin=step_id), intro_text=renderer.plain(body),
        questions=questions, rules=rules, blocks=tuple(blocks),
        doctor_questions=doctor_questions, source=str(path),
        calls=tuple((call.number, call.label, call.main) for call in data.calls),
        figure=_figure(data.figure, f"ia-{step_id}", renderer, path, "figure", origin=step_id),
        provenance=data.source, added=_added_claims(data.source or schema.SOURCE_ARTICLE, data.added, [body], path, "body"),
    )


def _block_diagram(raw, diagrams, path, field_name):
    """A block's `diagram: {name: fusion, caption: ...}`: the picture from content/diagrams/ and its caption."""
    if raw is None:
        return None
    name, caption = raw.name, " ".join(raw.caption.split())  # the schema checked both are text
    if name not in diagrams:
        raise ContentError(path, f"{field_name}.name", f"no diagram content/diagrams/{name}.svg")
    svg, title, description, labels = diagrams[name]
    # The clinic's own checked file: trusted markup, like the rendered Markdown.
    svg = Markup(svg)  # noqa: S704  # nosec B704
    return Diagram(name=name, svg=svg, title=title, description=description, labels=labels, caption=caption)


def _load_question(raw, path, name, renderer):
    values = [option.value for option in raw.options]
    if len(set(values)) != len(values):
        raise ContentError(path, f"{name}.options", "two options share a value")
    if raw.type == "text":
        if values:
            raise ContentError(path, f"{name}.options", "a text question has no options")
        if raw.max_length is None:
            raise ContentError(path, f"{name}.max_length", "a text question needs its most characters")
    elif not values:
        raise ContentError(path, f"{name}.options", "needs at least one entry")
    elif raw.max_length is not None:
        raise ContentError(path, f"{name}.max_length", "only a text question has a length")
    if raw.exclusive is not None and (raw.type != "multiple" or raw.exclusive not in values):
        raise ContentError(path, f"{name}.exclusive", "must be one of the options of a check-all-that-apply question")
    for text_field in ("label", "hint"):
        renderer.check_refs(getattr(raw, text_field) or "", path, f"{name}.{text_field}")
    return Question(
        id=raw.id, type=raw.type, label=raw.label, summary_label=raw.summary_label or raw.label, hint=raw.hint or "",
        optional=raw.optional, options=tuple(Option(value=o.value, label=o.label) for o in raw.options),
        exclusive=raw.exclusive or "", max_length=raw.max_length or 0,
    )


def split_lead(body):
    """(first paragraph, the rest) of a block's Markdown: paragraphs are separated by blank lines, and headings
    before the first paragraph belong to it ("### What it is" and its paragraph). The rest is "" for one paragraph."""
    chunks = [c for c in re.split(r"\n[ \t]*\n", str(body or "").strip()) if c.strip()]
    for index, chunk in enumerate(chunks):
        if not chunk.lstrip().startswith("#"):
            return "\n\n".join(chunks[:index + 1]), "\n\n".join(chunks[index + 1:])
    return "\n\n".join(chunks), ""
