"""Flagged requests: warning signs in the journey answers and worrying phrases in the description. No Flask here.

A request is flagged when the answers it carries include a warning sign (content/warning_signs.yaml, the
data that also sends the patient to a stop page), or when its description contains a phrase from
content/triage.yaml.
The flag is worked out once, when the request is saved, and stored with it (clinic/requests.py).
"""
import json
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from clinic.journey import ContentError, conditions_hold
from clinic.journey.loader import read_yaml

TRIAGE_FILE = "triage.yaml"
BANNER_KEYS = ("heading", "action", "signs_intro", "words_intro")
# Typographic apostrophes and look-alikes that phones put in place of '.
APOSTROPHES = re.compile(r"[\u2018\u2019\u201b\u02bc\u02b9\u0060\u00b4\u2032]")


@dataclass(frozen=True)
class WarningSign:
    label: str
    tier: str  # its tier's label ("Emergency", "Same day"), or "" when the content has no tiers


@dataclass(frozen=True)
class Flag:
    signs: tuple = ()  # WarningSign, in journey order
    words: tuple = ()  # phrases from the list, in the order the description first uses them

    @property
    def flagged(self):
        return bool(self.signs or self.words)

    def signs_json(self):
        return json.dumps([{"label": s.label, "tier": s.tier} for s in self.signs], ensure_ascii=False) if self.signs else None

    def words_json(self):
        return json.dumps(list(self.words), ensure_ascii=False) if self.words else None


def _stored_list(raw):
    """A stored JSON list, or [] when it is empty or unreadable."""
    try:
        items = json.loads(raw) if raw else []
    except (TypeError, ValueError):
        return []
    return items if isinstance(items, list) else []


def read_signs(raw):
    """The stored JSON list of signs back as WarningSign tuples (anything unreadable is dropped)."""
    return tuple(WarningSign(str(i["label"]), str(i.get("tier") or "")) for i in _stored_list(raw)
                 if isinstance(i, dict) and i.get("label"))


def read_words(raw):
    return tuple(str(i) for i in _stored_list(raw) if isinstance(i, str))


# --- warning signs in the answers ------------------------------------------------------------------------
def warning_signs(journey, answers, seen):
    """The warning signs among the answers a person sends with a request (those on the steps they walked).

    With content/warning_signs.yaml the journey names them itself (Journey.warning_signs_in: each sign's
    label and tier, the same data that routes the patient to a stop page). Content without that file is
    read through its routing instead (signs_from_routing)."""
    sent = {question.id: answer for _step, question, answer in journey.relevant_answers(answers, seen)}
    if getattr(journey, "warning_signs", None):
        return [WarningSign(label=sign.label, tier=sign.tier.label) for sign in journey.warning_signs_in(sent)]
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
                    labels = [o.label for o in question.options if o.value in chosen & values]
                else:
                    labels = [question.summary_label]
                for label in labels:
                    sign = WarningSign(label=label, tier="")  # no tiers without warning_signs.yaml
                    if sign not in found:
                        found.append(sign)
    return found


# --- phrases in the description -----------------------------------------------------------------------
def normalise(text):
    """Case, compatibility forms (full-width letters) and apostrophes folded, so 'Can’t' reads as "can't"."""
    return APOSTROPHES.sub("'", unicodedata.normalize("NFKC", text or "")).casefold()


def phrase_pattern(phrase):
    """Whole words; any run of whitespace between words; an apostrophe that may be left out."""
    words = normalise(phrase).split()
    parts = [re.escape(word).replace("'", "'?") for word in words]
    return re.compile(r"(?<!\w)" + r"\s+".join(parts) + r"(?!\w)")


class PhraseList:
    def __init__(self, phrases):
        self.phrases = tuple(phrases)
        self.patterns = tuple((phrase, phrase_pattern(phrase)) for phrase in self.phrases)

    def find(self, text):
        """The listed phrases `text` contains, in the order it first uses them."""
        folded = normalise(text)
        hits = []
        for phrase, pattern in self.patterns:
            match = pattern.search(folded)
            if match:
                hits.append((match.start(), phrase))
        return [phrase for _, phrase in sorted(hits, key=lambda hit: hit[0])]


@dataclass(frozen=True)
class Triage:
    phrases: PhraseList
    banner: dict  # BANNER_KEYS -> text shown to staff

    def assess(self, signs, description):
        return Flag(signs=tuple(signs), words=tuple(self.phrases.find(description)))


def load_triage(content_dir):
    """Read content/triage.yaml; ContentError naming the file and the field when it is wrong."""
    path = Path(content_dir) / TRIAGE_FILE
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise ContentError(path, "file", "must be a mapping with 'phrases' and 'banner'")
    unknown = set(data) - {"phrases", "banner"}
    if unknown:
        raise ContentError(path, sorted(unknown)[0], "unknown key")
    phrases = data.get("phrases")
    if not isinstance(phrases, list) or not phrases:
        raise ContentError(path, "phrases", "must be a list of words or phrases")
    for index, phrase in enumerate(phrases):
        if not isinstance(phrase, str) or not re.search(r"\w", phrase):
            raise ContentError(path, f"phrases[{index}]", "must be a word or phrase")
    folded = [" ".join(normalise(p).split()) for p in phrases]
    for index, phrase in enumerate(folded):
        if phrase in folded[:index]:
            raise ContentError(path, f"phrases[{index}]", f"'{phrases[index]}' is listed twice")
    banner = data.get("banner")
    if not isinstance(banner, dict):
        raise ContentError(path, "banner", f"must be a mapping with {', '.join(BANNER_KEYS)}")
    for key in BANNER_KEYS:
        if not isinstance(banner.get(key), str) or not banner[key].strip():
            raise ContentError(path, f"banner.{key}", "is missing")
    unknown = set(banner) - set(BANNER_KEYS)
    if unknown:
        raise ContentError(path, f"banner.{sorted(unknown)[0]}", "unknown key")
    return Triage(phrases=PhraseList(p.strip() for p in phrases), banner={k: banner[k].strip() for k in BANNER_KEYS})
