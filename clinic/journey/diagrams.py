"""Schematic pictures in content/diagrams/*.svg: read once, each checked so it is accessible, small and restylable."""
import gzip
import html
import re
import xml.etree.ElementTree as ET  # nosec B405 - parses the clinic's own content files, never uploads
from pathlib import Path

from clinic.journey.errors import ContentError

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
DIAGRAM_MAX_GZIPPED = 4096  # bytes: a picture must not slow a step on a slow phone
SVG_NS = "{http://www.w3.org/2000/svg}"
# Colours come from the stylesheet (classes, currentColor), so forced colours and print can change them.
_COLOUR_ATTRIBUTES = ("fill", "stroke", "color", "stop-color", "style")
_ALLOWED_PAINT = ("none", "currentColor")


def load_diagrams(folder):
    """{name: (svg markup, title, description, labels)} for every <folder>/*.svg, each checked. `labels` is the
    text drawn on the picture (its <text> elements): what a person reads on it, unlike the title and description."""
    return {path.stem: _load_diagram(path) for path in sorted(Path(folder).glob("*.svg"))}


def _load_diagram(path):
    return _check_diagram(path, path.stem, path.read_text(encoding="utf-8").strip())


_TITLE = re.compile(r"(<title\b[^>]*>)(.*?)(</title>)", re.S)
_DESC = re.compile(r"(<desc\b[^>]*>)(.*?)(</desc>)", re.S)
_TEXT = re.compile(r"(<text\b[^>]*>)(.*?)(</text>)", re.S)


def diagram_words(path):
    """{title, desc, labels}: the words of a checked picture, the shape of its translation file."""
    svg = Path(path).read_text(encoding="utf-8").strip()
    drawn = [m.group(2) for m in _TEXT.finditer(svg)]
    if any("<" in label for label in drawn):
        raise ContentError(path, "text", "a translated picture's <text> elements hold plain text only")
    return {"title": " ".join(html.unescape(_TITLE.search(svg).group(2)).split()),
            "desc": " ".join(html.unescape(_DESC.search(svg).group(2)).split()),
            "labels": [" ".join(html.unescape(label).split()) for label in drawn]}


def translate_diagram(english_path, data, path, language):
    """The English picture with a translation's words (content/<lang>/diagrams/<name>.yaml: `title`, `desc`, and
    `labels`, one for each <text> of the picture in order), checked like the English one."""
    from clinic.journey import translation  # here: translation imports render, and nothing imports this late

    english_path = Path(english_path)
    svg = english_path.read_text(encoding="utf-8").strip()
    words = translation.overlay(diagram_words(english_path), data, translation.DIAGRAM, path, language)
    svg = _TITLE.sub(lambda m: m.group(1) + html.escape(" ".join(words["title"].split()), quote=False) + m.group(3),
                     svg, count=1)
    svg = _DESC.sub(lambda m: m.group(1) + html.escape(" ".join(words["desc"].split()), quote=False) + m.group(3),
                    svg, count=1)
    labels = iter(words["labels"])

    def label(match):
        english, translated = " ".join(html.unescape(match.group(2)).split()), " ".join(next(labels).split())
        return _fitted(match.group(1), english, translated) + html.escape(translated, quote=False) + match.group(3)

    svg = _TEXT.sub(label, svg)
    return _check_diagram(path, english_path.stem, svg)


_TEXT_LENGTH = re.compile(r'textLength="([\d.]+)"')


def _fitted(tag, english, translated):
    """A <text> tag whose textLength (the English label's drawn length, so WCAG 1.4.12 letter and word spacing
    cannot push it past its room) is scaled to the translated label's length in characters."""
    found = _TEXT_LENGTH.search(tag)
    if not found or not english:
        return tag
    length = float(found.group(1)) * len(translated) / len(english)
    return tag[:found.start()] + f'textLength="{length:.0f}"' + tag[found.end():]


def _check_diagram(path, name, text):
    if not NAME_PATTERN.match(name):
        raise ContentError(path, "file name", "diagram names use lowercase letters, digits and hyphens")
    if len(gzip.compress(text.encode("utf-8"), compresslevel=6)) > DIAGRAM_MAX_GZIPPED:
        raise ContentError(path, "size", f"must be at most {DIAGRAM_MAX_GZIPPED} bytes gzipped")
    try:
        root = ET.fromstring(text)  # noqa: S314  # nosec B314 - our own content file
    except ET.ParseError as exc:
        raise ContentError(path, "svg", f"is not well-formed: {exc}") from None
    if root.tag != SVG_NS + "svg":
        raise ContentError(path, "svg", "the file must be one <svg> element in the SVG namespace")
    if root.get("role") != "img":
        raise ContentError(path, "role", 'the <svg> needs role="img"')
    children = list(root)
    if len(children) < 2 or children[0].tag != SVG_NS + "title" or children[1].tag != SVG_NS + "desc":
        raise ContentError(path, "title", "the <svg> must start with a <title> and then a <desc>")
    title, desc = children[0], children[1]
    if not (title.text or "").strip() or not (desc.text or "").strip():
        raise ContentError(path, "title", "the <title> and <desc> must not be empty")
    if title.get("id") != f"{name}-title" or desc.get("id") != f"{name}-desc":
        raise ContentError(path, "id", f"the <title> and <desc> need the ids {name}-title and {name}-desc")
    if root.get("aria-labelledby") != f"{name}-title" or root.get("aria-describedby") != f"{name}-desc":
        raise ContentError(path, "aria-labelledby", "the <svg> must be labelled by its <title> and described by its <desc>")
    for element in root.iter():
        tag = element.tag.replace(SVG_NS, "")
        if tag in ("script", "foreignObject", "image", "style") or not element.tag.startswith(SVG_NS):
            raise ContentError(path, tag, "only plain SVG shapes and text are allowed")
        element_id = element.get("id")
        if element_id and not element_id.startswith(f"{name}-"):
            raise ContentError(path, "id", f"ids must start with '{name}-' so two diagrams on a page never clash")
        for attribute in _COLOUR_ATTRIBUTES:
            value = element.get(attribute)
            if value is not None and (attribute == "style" or value not in _ALLOWED_PAINT):
                raise ContentError(path, attribute, "colours come from the stylesheet: use a class or currentColor")
        href = element.get("href") or element.get("{http://www.w3.org/1999/xlink}href")
        if href is not None and not href.startswith(f"#{name}-"):
            raise ContentError(path, "href", "a diagram may only refer to its own shapes")
    labels = " ".join(" ".join(element.itertext()) for element in root.iter(SVG_NS + "text"))
    return text, " ".join(title.text.split()), " ".join(desc.text.split()), " ".join(labels.split())
