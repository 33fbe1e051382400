"""Schematic pictures in content/diagrams/*.svg: read once, each checked so it is accessible, small and restylable."""
import gzip
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
    name = path.stem
    if not NAME_PATTERN.match(name):
        raise ContentError(path, "file name", "diagram names use lowercase letters, digits and hyphens")
    text = path.read_text(encoding="utf-8").strip()
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
