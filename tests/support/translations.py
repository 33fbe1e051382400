"""Writing a translation folder (content/<lang>/) from the English files, for tests of the loader's checks.

`write_translation(content_dir, "es", change)` writes every translatable file in the translation's shape
(translation.text_only), each text passed through `change` (the same change everywhere, so an `added:` claim
still appears word for word in its block). Tests then break one key of one file and expect the refusal.
"""
from pathlib import Path

import yaml

from clinic.journey import translation
from clinic.journey.diagrams import diagram_words
from clinic.journey.loader import _split_front_matter, read_yaml


def _changed(data, change):
    if isinstance(data, str):
        return change(data)
    if isinstance(data, list):
        return [_changed(item, change) for item in data]
    if isinstance(data, dict):
        return {key: _changed(value, change) for key, value in data.items()}
    return data


def translatable(content_dir):
    """Paths under content_dir (English) that a translation must have, as the translation names them."""
    content_dir = Path(content_dir)
    found = []
    for path in sorted(p for p in content_dir.rglob("*") if p.is_file()):
        relative = path.relative_to(content_dir).as_posix()
        if relative.split("/", 1)[0] in translation.LANGUAGES:
            continue
        if relative.startswith("diagrams/") and relative.endswith(".svg"):
            relative = relative[:-len(".svg")] + ".yaml"
        if translation.spec_for(relative) is not None:
            found.append(relative)
    return found


def english_data(content_dir, relative):
    """The English data of one translatable file, as overlay() sees it (a page's or step's Markdown as `body`)."""
    content_dir = Path(content_dir)
    if relative.startswith("diagrams/"):
        return diagram_words(content_dir / (relative[:-len(".yaml")] + ".svg"))
    if relative.endswith(".md"):
        front, body = _split_front_matter(content_dir / relative)
        return {**front, "body": body}
    return read_yaml(content_dir / relative)


def dump(path, data):
    """Write one translation file: YAML, or front matter and Markdown for steps and pages."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".md":
        front = {k: v for k, v in data.items() if k != "body"}
        text = "---\n" + yaml.safe_dump(front, allow_unicode=True, sort_keys=False) + "---\n" + data.get("body", "")
    else:
        text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
    path.write_text(text + "\n", encoding="utf-8")


def shaped(content_dir, relative, change=lambda text: text):
    """The translation file's data for one English file, its texts changed by `change`."""
    return _changed(translation.text_only(english_data(content_dir, relative), translation.spec_for(relative)), change)


def write_translation(content_dir, language, change=lambda text: text, skip=()):
    """Write content_dir/<language>/ for every translatable file but those in `skip`; returns the paths written."""
    content_dir = Path(content_dir)
    written = []
    for relative in translatable(content_dir):
        if relative in skip:
            continue
        path = content_dir / language / relative
        dump(path, shaped(content_dir, relative, change))
        written.append(path)
    return written
