"""Flagged requests: warning signs in the journey answers and worrying words in the description. No Flask here.

A request is flagged when the answers it carries include a warning sign (content/warning_signs.yaml, the
data that also sends the patient to a stop page), or when its description mentions a concept of
content/triage.yaml (self-harm, weakness, bladder and bowel, ...), each found by its own small patterns, in
English and in Spanish (`patterns_es`): every description is read with both, whatever the patient's language, so
a Spanish request is flagged like an English one. Accents are folded on both sides ("daño" and "dano" read the
same), since patients on phones often type without them.
The flag is worked out once, when the request is saved, and stored with it (clinic/requests.py).
"""
import json
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, Field

from clinic.journey import ContentError, conditions_hold
from clinic.journey.loader import read_yaml
from clinic.journey.schema import ContentModel, Text, validate

TRIAGE_FILE = "triage.yaml"
BANNER_KEYS = ("heading", "action", "signs_intro", "words_intro")
# Typographic apostrophes and look-alikes that phones put in place of '; all are taken out before matching.
APOSTROPHES = frozenset("'\u2018\u2019\u201b\u02bc\u02b9\u0060\u00b4\u2032")
MATCHED_MAX = 80  # characters of the patient's words kept with a flag: enough to read, never the whole text
# A sign found through routing (content without warning_signs.yaml) is the answer itself: "question_id:value".
ROUTED_SIGN_SEPARATOR = ":"


@dataclass(frozen=True)
class WarningSign:
    label: str
    tier: str  # its tier's label ("Emergency", "Same day"), or "" when the content has no tiers
    id: str = ""  # what a request stores: the sign's id, or "question:value" for a sign found by routing


@dataclass(frozen=True)
class Mention:
    """A concept the description mentions, and the words that matched, as the patient wrote them."""

    concept: str  # its id in content/triage.yaml ("self_harm")
    label: str  # its label when the request was saved ("self-harm")
    matched: str  # "thinking of killing myself"

    def __str__(self):
        return f"{self.label} ({self.matched})"


@dataclass(frozen=True)
class Flag:
    signs: tuple = ()  # WarningSign, in journey order
    words: tuple = ()  # Mention, most urgent concept first; a plain string is a phrase of the list of before

    @property
    def flagged(self):
        return bool(self.signs or self.words)

    def sign_ids(self):
        """What a request stores of its signs (clinic/request_answers.py renders their labels when read)."""
        return [sign.id for sign in self.signs]

    def words_json(self):
        """The mentions as stored: the concept's id and label, and what matched. The label is kept so that a
        request still reads the same after the concept is renamed or dropped from the content."""
        if not self.words:
            return None
        return json.dumps([{"concept": w.concept, "label": w.label, "matched": w.matched} if isinstance(w, Mention)
                           else str(w) for w in self.words], ensure_ascii=False)


def _stored_list(raw):
    """A stored JSON list, or [] when it is empty or unreadable."""
    try:
        items = json.loads(raw) if raw else []
    except (TypeError, ValueError):
        return []
    return items if isinstance(items, list) else []


def read_signs(raw):
    """The JSON list of {label, tier} that requests saved before sign ids stored, as WarningSign tuples (anything
    unreadable is dropped). Newer requests store ids: clinic/request_answers.py labels them."""
    return tuple(WarningSign(str(i["label"]), str(i.get("tier") or "")) for i in _stored_list(raw)
                 if isinstance(i, dict) and i.get("label"))


def read_mentions(raw):
    """The stored flag words: Mention for each concept found, or the bare phrase of a request saved with the
    phrase list of before (a string), so those requests still show what flagged them."""
    found = []
    for item in _stored_list(raw):
        if isinstance(item, str):
            found.append(item)
        elif isinstance(item, dict) and item.get("label") and item.get("matched"):
            found.append(Mention(str(item.get("concept") or ""), str(item["label"]), str(item["matched"])))
    return tuple(found)


def read_words(raw):
    """What flagged a request's description, as staff read it: "self-harm (thinking of killing myself)"; an
    older request's phrase as it was ("numb")."""
    return tuple(str(item) for item in read_mentions(raw))


def read_concepts(raw):
    """The ids of the concepts a stored request mentions (none for requests saved with the phrase list)."""
    return tuple(item.concept for item in read_mentions(raw) if isinstance(item, Mention) and item.concept)


# --- warning signs in the answers ------------------------------------------------------------------------
def warning_signs(journey, answers, seen):
    """The warning signs among the answers a person sends with a request (those on the steps they walked).

    With content/warning_signs.yaml the journey names them itself (Journey.warning_signs_in: each sign's
    label and tier, the same data that routes the patient to a stop page). Content without that file is
    read through its routing instead (signs_from_routing)."""
    sent = {question.id: answer for _step, question, answer in journey.relevant_answers(answers, seen)}
    if getattr(journey, "warning_signs", None):
        return [WarningSign(label=sign.label, tier=sign.tier.label, id=sign.id) for sign in journey.warning_signs_in(sent)]
    return signs_from_routing(journey, sent, seen)


def signs_from_routing(journey, answers, seen):
    """Every answer, on the steps walked, that a rule sends to a stop page. A single-choice question is named
    by its summary label ("New numbness in the saddle area"); a tick-box question by the boxes ticked. Every
    such rule counts, not only the first one that fires, so two signs on one screen are both reported."""
    found = []
    for step_id in journey.path(answers, seen):
        for rule in journey.steps[step_id].rules:
            target = journey.steps.get(rule.goto)
            if target is None or target.kind != "stop" or not rule.when or not conditions_hold(rule.when, answers):
                continue
            for question_id, values in rule.when.items():
                question = journey.question(question_id)
                given = answers.get(question_id)
                chosen = set(given) if isinstance(given, list) else {given}
                if question.type == "multiple":
                    labels = [(o.label, o.value) for o in question.options if o.value in chosen & values]
                else:
                    labels = [(question.summary_label, given)]
                for label, value in labels:
                    # No tiers without warning_signs.yaml; the answer itself is the sign's id.
                    sign = WarningSign(label=label, tier="", id=f"{question_id}{ROUTED_SIGN_SEPARATOR}{value}")
                    if sign not in found:
                        found.append(sign)
    return found


# --- concepts in the description ------------------------------------------------------------------------
def fold_accents(text):
    """The text without accents or other marks on its letters: "daño más débil" reads "dano mas debil"."""
    return "".join(char for char in unicodedata.normalize("NFD", text) if not unicodedata.combining(char))


def plain(text):
    """The description as patterns read it, and for each of its characters the index it came from.

    Compatibility forms folded (full-width letters), lower case, accents taken off ("Débil" reads "debil", "ñ"
    reads "n"), apostrophes taken out ("Can’t" reads "cant"), every run of spaces and line breaks one space.
    Character by character, so a match can be shown in the patient's own words."""
    out, origin = [], []
    for index, char in enumerate(text or ""):
        if char in APOSTROPHES:
            continue
        if char.isspace():
            if out and out[-1] != " ":
                out.append(" ")
                origin.append(index)
            continue
        for folded in fold_accents(unicodedata.normalize("NFKC", char).casefold()):
            if folded in APOSTROPHES:
                continue
            if folded.isspace():
                folded = " "
            out.append(folded)
            origin.append(index)
    return "".join(out), origin


def compile_pattern(source):
    """A concept's pattern as a whole-words regular expression; ValueError saying what is wrong with it.
    Accents in a pattern are folded like the description's ("daño" in a pattern reads "dano")."""
    if not isinstance(source, str) or not source.strip():
        raise ValueError("is empty")
    source = fold_accents(source)
    try:
        re.compile(source)  # first alone, so an error's position is the editor's own
        pattern = re.compile(r"(?<!\w)(?:" + source + r")(?!\w)")
    except re.error as error:
        raise ValueError(f"is not a valid pattern: {error}") from None
    letters = re.sub(r"\\.", "", source)  # \S, \W, \b are not capitals
    if re.search(r"[A-Z]", letters):
        raise ValueError("has capital letters, but descriptions are read in lower case")
    if any(char in APOSTROPHES for char in source):
        raise ValueError("has an apostrophe, but apostrophes are taken out of descriptions (write cant, not can't)")
    if "  " in source or source != source.strip():
        raise ValueError("has two spaces in a row or spaces at an end, but descriptions are read with single spaces")
    if pattern.fullmatch("") or re.compile(source).fullmatch(""):
        raise ValueError("matches an empty text, so it would flag every request")
    return pattern


def _pattern(source):
    compile_pattern(source)
    return source


class ConceptBanner(ContentModel):
    heading: Text
    action: Text


class ConceptEntry(ContentModel):
    id: Annotated[Text, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    label: Text
    patterns: Annotated[list[Annotated[Text, AfterValidator(_pattern)]], Field(min_length=1)]
    examples: Annotated[list[Text], Field(min_length=1)]  # how patients write it; each must be found as this concept
    # The same concept in Spanish: read against every description too, and its examples checked the same way.
    patterns_es: list[Annotated[Text, AfterValidator(_pattern)]] = []
    examples_es: list[Text] = []
    banner: ConceptBanner | None = None


class GeneralBanner(ContentModel):
    heading: Text
    action: Text
    signs_intro: Text
    words_intro: Text


class TriageFile(ContentModel):
    """content/triage.yaml."""

    concepts: Annotated[list[ConceptEntry], Field(min_length=1)]
    banner: GeneralBanner


@dataclass(frozen=True)
class Concept:
    id: str
    label: str
    patterns: tuple  # (source text, compiled), in the file's order
    examples: tuple
    banner: dict | None  # its own heading and action, replacing the general ones
    patterns_es: tuple = ()  # Spanish ones, the same way: every description is read with both
    examples_es: tuple = ()

    @property
    def all_patterns(self):
        return self.patterns + self.patterns_es

    @property
    def all_examples(self):
        return self.examples + self.examples_es


class Matcher:
    """Finds the concepts a description mentions. Concepts are tried most urgent first; the words one concept
    matched are not used again by a later one ("numb between my legs" is the saddle area, not numbness too)."""

    def __init__(self, concepts):
        self.concepts = tuple(concepts)

    def find(self, text):
        """A Mention for each concept the text mentions (its first match), most urgent concept first."""
        folded, origin = plain(text)
        taken = []
        found = []
        for concept in self.concepts:
            spans = []
            for _source, pattern in concept.all_patterns:
                spans += [m.span() for m in pattern.finditer(folded) if m.end() > m.start()]
            first = None
            for start, end in sorted(spans):
                if any(start < t_end and t_start < end for t_start, t_end in taken):
                    continue
                taken.append((start, end))
                first = first or (start, end)
            if first:
                found.append(Mention(concept.id, concept.label, _as_written(text, origin, *first)))
        return found


def _as_written(text, origin, start, end):
    words = " ".join(text[origin[start]:origin[end - 1] + 1].split())
    return words if len(words) <= MATCHED_MAX else words[:MATCHED_MAX - 1].rstrip() + "…"


@dataclass(frozen=True)
class Triage:
    matcher: Matcher
    banner: dict  # BANNER_KEYS -> text shown to staff

    @property
    def concepts(self):
        return self.matcher.concepts

    def assess(self, signs, description):
        return Flag(signs=tuple(signs), words=tuple(self.matcher.find(description)))

    def banner_for(self, concept_ids):
        """The banner for a request that mentions these concepts: the first (most urgent) concept with a banner
        of its own gives the heading and action; otherwise the general ones."""
        banner = dict(self.banner)
        for concept in self.concepts:
            if concept.id in concept_ids and concept.banner:
                banner.update(concept.banner, concept=concept.id)
                break
        return banner


def load_triage(content_dir):
    """Read content/triage.yaml; ContentError naming the file and the field when it is wrong (an unknown key, a
    pattern that does not compile, an id used twice, an example its concept does not find).

    Read once per file content in a process: the app factory runs for every test, and checking every example
    against every pattern took a third of it (a Triage is frozen, so sharing it changes nothing)."""
    path = Path(content_dir) / TRIAGE_FILE
    try:
        key = (str(path.resolve()), path.read_bytes())
    except OSError:
        return _load_triage(path)  # read_yaml names the file
    if key in _LOADED:
        _LOADED[key] = _LOADED.pop(key)  # the most recently used last
        return _LOADED[key]
    triage = _load_triage(path)
    _LOADED[key] = triage
    while len(_LOADED) > KEEP_LOADED:
        del _LOADED[next(iter(_LOADED))]
    return triage


KEEP_LOADED = 4  # the real content and the tests' fixture journey, in turn, are each read once
_LOADED = {}


def _load_triage(path):
    data = read_yaml(path)
    if isinstance(data, dict) and "phrases" in data:
        raise ContentError(path, "phrases", "the phrase list is now `concepts`, each with its own patterns and examples "
                                            "(README, 'Flagged requests')")
    data = validate(TriageFile, data, path)
    concepts = []
    for index, entry in enumerate(data.concepts):
        if any(entry.id == c.id for c in concepts):
            raise ContentError(path, f"concepts[{index}].id", f"'{entry.id}' is used twice")
        concepts.append(Concept(
            id=entry.id, label=entry.label.strip(), examples=tuple(entry.examples),
            patterns=tuple((source, compile_pattern(source)) for source in entry.patterns),
            banner={"heading": entry.banner.heading.strip(), "action": entry.banner.action.strip()} if entry.banner else None,
            patterns_es=tuple((source, compile_pattern(source)) for source in entry.patterns_es),
            examples_es=tuple(entry.examples_es)))
    matcher = Matcher(concepts)
    for index, concept in enumerate(concepts):
        for field, examples in (("examples", concept.examples), ("examples_es", concept.examples_es)):
            for number, example in enumerate(examples):
                if concept.id not in [m.concept for m in matcher.find(example)]:
                    raise ContentError(path, f"concepts[{index}].{field}[{number}]",
                                       f"'{example}' is not found as {concept.label}: change a pattern or the example")
    banner = data.banner
    return Triage(matcher=matcher, banner={key: getattr(banner, key).strip() for key in BANNER_KEYS})
