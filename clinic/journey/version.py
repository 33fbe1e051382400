"""Which version of the content the site serves, so a clinical sign-off names exactly what it approved.

The version is a short fingerprint of every file under content/ (text with its line endings made alike, so a
checkout on another system gives the same version), except the review fields of journey.yaml themselves: setting
`reviewed_version` after a sign-off must not change the version it names. Any other change, a comma or a comment
included, makes a new version, which the site then shows as not yet reviewed.
"""
import hashlib
import json
from pathlib import Path

import yaml

META_FILE = "journey.yaml"
REVIEW_FIELDS = ("reviewed", "reviewed_by", "reviewed_version", "translator")
TRANSLATION_FOLDERS = ("es",)  # content/<lang>/ (clinic.journey.translation.LANGUAGES but English)
VERSION_PATTERN = r"^[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}$"


def content_version(content_dir, language="en"):
    """'1a2b-3c4d-5e6f': easy to read off a printed review pack and to type into journey.yaml.

    English: the files of content/ without the translations' folders (a translator's edit leaves the English
    sign-off standing). Another language: the English files and its own folder, since its pages show both (the
    English structure, its text): an English change asks for the translation to be checked again too."""
    content_dir = Path(content_dir)
    digest = hashlib.sha256()
    for path in sorted(p for p in content_dir.rglob("*") if p.is_file()):
        name = path.relative_to(content_dir).as_posix()
        folder = name.split("/", 1)[0]
        if folder in TRANSLATION_FOLDERS and folder != language:
            continue
        if name in (META_FILE, f"{language}/{META_FILE}"):
            meta = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            text = json.dumps({k: v for k, v in meta.items() if k not in REVIEW_FIELDS}, sort_keys=True, default=str)
        else:
            text = path.read_bytes().decode("utf-8", errors="replace").replace("\r\n", "\n")
        digest.update(f"{name}\0{len(text)}\0".encode() + text.encode("utf-8"))
    short = digest.hexdigest()[:12]
    return f"{short[0:4]}-{short[4:8]}-{short[8:12]}"
