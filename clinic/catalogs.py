"""The gettext catalogs in translations/: compiled .po -> .mo when the .mo is missing or older. No Flask here.

`make install` compiles them too (pybabel compile); doing it again at start-up means a fresh checkout, a rebase
that changed a .po, or `make translations` never serves stale interface text. The .mo files are not committed.
"""
import os
import tempfile
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

DOMAIN = "messages"


def po_files(translations_dir):
    """Every translations/<language>/LC_MESSAGES/messages.po, by language code."""
    root = Path(translations_dir)
    return {path.parent.parent.name: path for path in sorted(root.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))}


def compile_stale(translations_dir):
    """Compile each .po whose .mo is missing or older; returns the languages compiled. Written to a temporary
    file and renamed, so a second process starting at the same moment never reads half a catalog."""
    compiled = []
    for language, po_path in po_files(translations_dir).items():
        mo_path = po_path.with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        with po_path.open("rb") as handle:
            catalog = read_po(handle, locale=language)
        fd, temporary = tempfile.mkstemp(dir=po_path.parent, prefix=".messages-", suffix=".mo")
        try:
            with os.fdopen(fd, "wb") as handle:
                write_mo(handle, catalog)  # fuzzy entries are left out, as pybabel compile does
            os.chmod(temporary, 0o644)
            os.replace(temporary, mo_path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        compiled.append(language)
    return compiled


# --- extraction: `make translations` and the freshness test run exactly this -------------------------------------
POT = "translations/messages.pot"
KEYWORDS = ("_l", "lazy_gettext", "lazy_ngettext:1,2", "lazy_pgettext:1c,2")
# Not interface text (content/ has its own files and content/es/), or not ours.
IGNORE_DIRS = ".* ._ node_modules instance content tests static deploy docs scripts translations"


def extract(root, output):
    """Write the .pot of every message in the code under `root` to `output`. No line numbers (a message moving
    in a template is not a change) and sorted, so the committed file only changes when a message does."""
    from babel.messages.frontend import CommandLineInterface

    args = ["pybabel", "-q", "extract", "-F", str(Path(root) / "babel.cfg"), "--no-location", "--sort-output",
            "--ignore-dirs", IGNORE_DIRS, "--project", "Spine clinic guide", "--copyright-holder", "the clinic",
            "--msgid-bugs-address", "", "-o", str(output)]
    for keyword in KEYWORDS:
        args += ["-k", keyword]
    CommandLineInterface().run([*args, str(root)])


def messages(pot_path):
    """What a .pot says, less its header (creation date, year): [(context, msgid, flags, comments)] in order."""
    with Path(pot_path).open("rb") as handle:
        catalog = read_po(handle)
    return [(m.context, m.id, tuple(sorted(m.flags)), tuple(m.auto_comments)) for m in catalog if m.id]


def untranslated(po_path, pot_path):
    """Messages a reader would see in English: in the .pot but not the .po, no msgstr (or a plural form empty),
    or marked fuzzy (gettext shows fuzzy entries in English)."""
    with Path(po_path).open("rb") as handle:
        catalog = read_po(handle)
    problems = [("missing", message_id) for context, message_id, _, _ in messages(pot_path)
                if catalog.get(message_id, context=context) is None]
    for message in catalog:
        if not message.id:
            continue  # the header
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.fuzzy:
            problems.append(("fuzzy", message.id))
        elif not all(strings):
            problems.append(("missing", message.id))
    return problems


def update(root):
    """Re-extract the .pot and merge it into every language's .po (new messages appear with an empty msgstr)."""
    from babel.messages.frontend import CommandLineInterface

    root = Path(root)
    with tempfile.TemporaryDirectory() as folder:
        fresh = Path(folder) / "messages.pot"
        extract(root, fresh)
        if not (root / POT).exists() or messages(fresh) != messages(root / POT):
            os.replace(fresh, root / POT)  # only when a message changed: no new date to commit otherwise
    CommandLineInterface().run(["pybabel", "-q", "update", "-i", str(root / POT), "-d", str(root / "translations"),
                                "--ignore-pot-creation-date", "--ignore-obsolete"])


def main(argv):
    root = Path(__file__).resolve().parent.parent
    command = argv[1] if len(argv) > 1 else ""
    if command == "update":
        update(root)
        for language, po_path in po_files(root / "translations").items():
            for problem, message_id in untranslated(po_path, root / POT):
                print(f"{language}: {problem}: {message_id!r}")
    elif command == "compile":
        print("compiled:", ", ".join(compile_stale(root / "translations")) or "nothing (up to date)")
    else:
        print("usage: python -m clinic.catalogs update|compile")
        return 2
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv))
