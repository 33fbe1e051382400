"""A language's content (content/<lang>/) laid over the English structure: text only, checked field by field.

The Spanish files carry text only (README "The Spanish content"): routing, kinds, question ids, option values,
sign ids, tiers, `first_when`, `next`, `source`, diagram names and the reviewer-facing `reason:` stay in the English
file and are taken from there. Where the English has a list of items with ids (or option values), the translation
has a mapping keyed by those ids, in the same order; lists without ids are lists of the same length. An item with
one text field may be given as that text alone (`opioids: Pastillas ...` for an option's label).

`overlay(english, translated, SPEC, path)` returns the English data with the translated text in place, after
refusing anything that differs from the English in its ids, options, blocks, text fields, `[ref:N]` markers,
figures (numbers), Markdown headings or `{{...}}` marks; each refusal names the translated file and the key.
No Flask, no file reading here: loader.py reads the files.
"""
import re
from collections import Counter

from clinic.journey.errors import ContentError
from clinic.journey.render import REF_PATTERN, ref_numbers
from clinic.journey.schema import KNOWN_FIELDS

LANGUAGES = ("en", "es")  # the content's languages: English in content/, the others in content/<lang>/
DEFAULT_LANGUAGE = "en"
LANGUAGE_NAMES = {"en": "English", "es": "Spanish"}  # in English: what staff read ("Preferred language: Spanish")

# Numbers a translation may say that the English does not: 988's Spanish line is "oprima 2" (press 2).
EXTRA_NUMBERS = {"es": re.compile(r"\boprima\s+(?:el\s+)?2\b", re.I)}
_THOUSANDS = re.compile(r"(?<=\d)[,.](?=\d{3}(?!\d))")  # "1,000" and "1.000" are one number
_NUMBER = re.compile(r"\d+")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s", re.M)
_MARK = re.compile(r"\{\{\s*[a-z_]+\s*\}\}")


class Text:
    """A text field: translated, with the same markers, numbers, headings and marks as the English."""

    def __repr__(self):
        return "text"


TEXT = Text()


class Fields:
    """A mapping of named fields; keys not listed are the English file's own (structure, kept from it)."""

    def __init__(self, **fields):
        self.fields = fields

    def single_text(self):
        """The one text field, when the item has only one: then the translation may give it as plain text."""
        names = [name for name, spec in self.fields.items() if spec is TEXT]
        return names[0] if len(self.fields) == 1 and names else None


class ById:
    """An English list of items with ids (`id`, or `value` for options): a mapping id -> item, in the same order."""

    def __init__(self, key, item):
        self.key, self.item = key, item


class Same:
    """An English list without ids (doctor questions, calls, parts, added claims): a list of the same length."""

    def __init__(self, item):
        self.item = item


class Keys:
    """An English mapping (decision.yaml `lines`): the same keys, in the same order, each translated."""

    def __init__(self, item):
        self.item = item


FIGURE = Fields(what=TEXT, caveat=TEXT, arrays=Same(Fields(label=TEXT)))
ADDED = Same(Fields(claim=TEXT))  # the claim in the translated text; its `reason` is for the English reviewer
QUESTION = Fields(label=TEXT, summary_label=TEXT, hint=TEXT, options=ById("value", Fields(label=TEXT)))
BLOCK = Fields(heading=TEXT, body=TEXT, research=TEXT, diagram=Fields(caption=TEXT), figure=FIGURE, added=ADDED)
# The step's Markdown below its front matter is the field `body` of the whole file.
STEP = Fields(title=TEXT, section=TEXT, questions=ById("id", QUESTION), blocks=ById("id", BLOCK),
              doctor_questions=Same(Fields(text=TEXT)), calls=Same(Fields(label=TEXT)), figure=FIGURE, added=ADDED,
              body=TEXT)
PAGE = Fields(title=TEXT, body=TEXT)
WARNING_SIGNS = Fields(
    tiers=ById("id", Fields(label=TEXT)), none_label=TEXT,
    groups=ById("id", Fields(label=TEXT, summary_label=TEXT, hint=TEXT, signs=ById("id", Fields(label=TEXT)))))
COMPARISON = Fields(title=TEXT, intro=TEXT, options=ById("id", Fields(
    name=TEXT, involves=TEXT, known=TEXT, risks=TEXT, who=TEXT, figure=FIGURE, added=ADDED)))
DECISION = Fields(values_heading=TEXT, lines=Keys(TEXT), sure_heading=TEXT, unsure_heading=TEXT, unsure_body=TEXT,
                  added=ADDED)
# journey.yaml: its text; clinic name, address, phone, dates and the article's title and authors stay English.
JOURNEY = Fields(title=TEXT, disclaimer=TEXT, conflict_of_interest=TEXT, clinic_insurance=TEXT, reviewed_by=TEXT,
                 parts=Same(TEXT))
# The translation's own sign-off, in content/<lang>/journey.yaml only (the English one is not carried over):
# the date, the content version approved (`make check-content` prints it per language), and the name of the
# qualified medical translator who checked the text against the English.
OWN_REVIEW_FIELDS = ("reviewed", "reviewed_version", "translator")
# content/<lang>/diagrams/<name>.yaml: the picture's <title>, <desc> and each drawn <text>, in order.
DIAGRAM = Fields(title=TEXT, desc=TEXT, labels=Same(TEXT))

SPECS = {"journey.yaml": JOURNEY, "warning_signs.yaml": WARNING_SIGNS, "comparison.yaml": COMPARISON,
         "decision.yaml": DECISION}


def spec_for(relative):
    """The spec of a content file by its path under content/ ("steps/tried.md"), or None: not translated."""
    if relative in SPECS:
        return SPECS[relative]
    folder, _, name = relative.rpartition("/")
    if folder == "steps" and name.endswith(".md"):
        return STEP
    if folder == "pages" and name.endswith(".md"):
        return PAGE
    if folder == "diagrams" and name.endswith(".yaml"):
        return DIAGRAM
    return None


def overlay(english, translated, spec, path, language="es", own=()):
    """The English data with the translated text in place; ContentError(path, key, ...) where they differ.

    `own` names top-level keys the translation holds for itself (its sign-off); they are returned as given."""
    if not isinstance(translated, dict):
        raise ContentError(path, "file", "must be a mapping of keys to values, like the English file")
    mine = {key: translated[key] for key in own if key in translated}
    rest = {key: value for key, value in translated.items() if key not in own}
    merged = _fields(english, rest, spec, path, "", language)
    return {**{key: value for key, value in merged.items() if key not in own}, **mine}


def _name(prefix, key):
    return f"{prefix}.{key}" if prefix else str(key)


def _fields(english, translated, spec, path, where, language):
    if not isinstance(translated, dict):
        raise ContentError(path, where or "file", "must be a mapping of keys to values")
    for key in translated:
        if key not in spec.fields:
            structural = key in english or key in KNOWN_FIELDS or key in OWN_REVIEW_FIELDS
            problem = ("is not text: it stays in the English file (the translations carry text only)"
                       if structural else "is not in the English file")
            raise ContentError(path, _name(where, key), problem)
    merged = dict(english)
    for key, item in spec.fields.items():
        name = _name(where, key)
        value = english.get(key)
        if not _has_text(value, item):  # nothing to translate (a figure's arrays without labels)
            if translated.get(key) not in (None, [], {}, ""):
                raise ContentError(path, name, "the English file has none here")
            continue
        if key not in translated or translated[key] in (None, [], {}, ""):
            raise ContentError(path, name, "is missing (the English file has it)")
        merged[key] = _value(value, translated[key], item, path, name, language)
    return merged


def _has_text(value, spec):
    if value in (None, [], {}, ""):
        return False
    if spec is TEXT:
        return isinstance(value, str) and bool(value.strip())
    if isinstance(spec, Fields):
        return isinstance(value, dict) and any(_has_text(value.get(k), s) for k, s in spec.fields.items())
    if isinstance(spec, (Same, ById)):
        return isinstance(value, list) and any(_has_text(v, spec.item) for v in value)
    return True


def _value(english, translated, spec, path, where, language):
    if spec is TEXT:
        return _text(english, translated, path, where, language)
    if isinstance(spec, Fields):
        if spec.single_text() and isinstance(translated, str):
            translated = {spec.single_text(): translated}
        return _fields(english, translated, spec, path, where, language)
    if isinstance(spec, ById):
        return _by_id(english, translated, spec, path, where, language)
    if isinstance(spec, Same):
        if not isinstance(translated, list):
            raise ContentError(path, where, f"must be a list of {len(english)}, like the English")
        if len(translated) != len(english):
            raise ContentError(path, where, f"has {len(translated)} entries; the English has {len(english)}")
        return [_value(e, t, spec.item, path, f"{where}[{i}]", language) if _has_text(e, spec.item) else e
                for i, (e, t) in enumerate(zip(english, translated, strict=True))]
    if isinstance(spec, Keys):
        if not isinstance(translated, dict):
            raise ContentError(path, where, "must be a mapping keyed like the English")
        _same_keys(list(english), list(translated), path, where, "keys")
        return {key: _value(english[key], translated[key], spec.item, path, _name(where, key), language)
                for key in english}
    raise TypeError(spec)


def _by_id(english, translated, spec, path, where, language):
    if not isinstance(translated, dict):
        raise ContentError(path, where, f"must be a mapping keyed by the English {spec.key}s, in their order")
    ids = [item.get(spec.key) for item in english]
    _same_keys(ids, list(translated), path, where, f"{spec.key}s")
    return [_value(item, translated[item[spec.key]], spec.item, path, _name(where, item[spec.key]), language)
            for item in english]


def _same_keys(expected, given, path, where, what):
    missing = [k for k in expected if k not in given]
    unknown = [k for k in given if k not in expected]
    if missing or unknown:
        raise ContentError(path, where, f"the {what} differ from the English"
                           + (f": missing {missing}" if missing else "")
                           + (f"; not in the English {unknown}" if unknown else ""))
    if given != list(expected):
        raise ContentError(path, where, f"the {what} must be in the English order: {list(expected)}")


def _text(english, translated, path, where, language):
    if not isinstance(translated, str) or not translated.strip():
        raise ContentError(path, where, "must be text (the English has text here)")
    if not isinstance(english, str):
        return translated
    for what, measure in (("[ref:N] markers", refs), ("figures (numbers)", lambda t: numbers(t, language)),
                          ("Markdown headings", headings), ("{{...}} marks", marks)):
        had, has = measure(english), measure(translated)
        if had != has:
            raise ContentError(path, where, f"its {what} differ from the English: {_show(had)} in English, "
                               f"{_show(has)} here")
    return translated


def _show(counted):
    items = sorted(counted.elements(), key=str) if isinstance(counted, Counter) else counted
    return "[" + ", ".join(str(i) for i in items) + "]" if not isinstance(items, int) else str(items)


def refs(text):
    """The reference numbers a text cites, with repeats."""
    return Counter(n for match in REF_PATTERN.finditer(text) for n in ref_numbers(match.group(1)))


def numbers(text, language="en"):
    """The figures in a text (reference markers aside), with repeats; "1,000" and "1.000" are the same."""
    text = REF_PATTERN.sub(" ", text)
    extra = EXTRA_NUMBERS.get(language)
    if extra is not None:
        text = extra.sub(" ", text)
    return Counter(_NUMBER.findall(_THOUSANDS.sub("", text)))


def headings(text):
    return len(_HEADING.findall(text))


def marks(text):
    return Counter(m.replace(" ", "") for m in _MARK.findall(text))


def text_only(english, spec):
    """The translation's shape for an English file's data, with the English text still in it: what a translator
    starts from (and what the tests change one key of). Items with one text field become that text."""
    if spec is TEXT:
        return english
    if isinstance(spec, Fields):
        out = {key: text_only(english[key], item) for key, item in spec.fields.items()
               if _has_text(english.get(key), item)}
        single = spec.single_text()
        return out[single] if single and single in out else out
    if isinstance(spec, ById):
        return {item[spec.key]: text_only(item, spec.item) for item in english}
    if isinstance(spec, Same):
        return [text_only(item, spec.item) if _has_text(item, spec.item) else None for item in english]
    if isinstance(spec, Keys):
        return {key: text_only(value, spec.item) for key, value in english.items()}
    raise TypeError(spec)
