"""The interface text's catalogs (issue 20 B): the committed .pot is what the code says, and every Spanish message
has a Spanish msgstr that is not fuzzy. Each check is also shown to fail on a copy that breaks it."""
import shutil

import pytest

from clinic import catalogs
from tests.conftest import ROOT

POT = ROOT / catalogs.POT
SPANISH = ROOT / "translations" / "es" / "LC_MESSAGES" / "messages.po"


def copy_of_the_code(tmp_path):
    target = tmp_path / "code"
    target.mkdir()
    for name in ("babel.cfg", "app.py"):
        shutil.copy(ROOT / name, target / name)
    for name in ("blueprints", "clinic", "templates"):
        shutil.copytree(ROOT / name, target / name, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def test_the_committed_pot_is_what_the_code_says_run_make_translations_if_not(tmp_path):
    catalogs.extract(ROOT, tmp_path / "messages.pot")
    assert catalogs.messages(tmp_path / "messages.pot") == catalogs.messages(POT), \
        "translations/messages.pot is out of date: run `make translations`, then translate the new messages"


def test_the_freshness_check_fails_when_a_template_gains_a_message(tmp_path):
    code = copy_of_the_code(tmp_path)
    layout = code / "templates" / "layout.html"
    layout.write_text(layout.read_text(encoding="utf-8").replace(
        "</main>", "{{ _('A sentence nobody has translated yet') }}</main>"), encoding="utf-8")
    catalogs.extract(code, tmp_path / "messages.pot")
    new = catalogs.messages(tmp_path / "messages.pot")
    assert new != catalogs.messages(POT)
    assert "A sentence nobody has translated yet" in [message_id for _, message_id, _, _ in new]


def test_the_freshness_check_fails_when_python_loses_a_message(tmp_path):
    code = copy_of_the_code(tmp_path)
    journey = code / "blueprints" / "journey.py"
    text = journey.read_text(encoding="utf-8")
    assert '_("Choose one of the answers shown")' in text
    journey.write_text(text.replace('_("Choose one of the answers shown")', '"Choose one of the answers shown"'),
                       encoding="utf-8")
    catalogs.extract(code, tmp_path / "messages.pot")
    gone = set(catalogs.messages(POT)) - set(catalogs.messages(tmp_path / "messages.pot"))
    assert [message_id for _, message_id, _, _ in gone] == ["Choose one of the answers shown"]


@pytest.mark.parametrize("language", sorted(catalogs.po_files(ROOT / "translations")))
def test_every_message_of_each_language_is_translated_and_none_is_fuzzy(language):
    problems = catalogs.untranslated(catalogs.po_files(ROOT / "translations")[language], POT)
    assert not problems, f"{len(problems)} {language} messages to translate (make translations lists them): {problems[:10]}"


def test_spanish_has_a_catalog():
    assert "es" in catalogs.po_files(ROOT / "translations") and SPANISH.exists()


def test_the_translation_check_finds_a_missing_an_empty_and_a_fuzzy_message(tmp_path):
    pot = tmp_path / "messages.pot"
    pot.write_text(POT.read_text(encoding="utf-8") + '\nmsgid "Only in the code"\nmsgstr ""\n', encoding="utf-8")
    po = tmp_path / "messages.po"
    po.write_text(SPANISH.read_text(encoding="utf-8")
                  + '\nmsgid "Never translated"\nmsgstr ""\n'
                  + '\n#, fuzzy\nmsgid "Guessed by fuzzy matching"\nmsgstr "Adivinado"\n', encoding="utf-8")
    assert sorted(catalogs.untranslated(po, pot)) == [
        ("fuzzy", "Guessed by fuzzy matching"), ("missing", "Never translated"), ("missing", "Only in the code")]


def test_a_changed_po_is_compiled_again_at_start_up(tmp_path):
    folder = tmp_path / "translations" / "es" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    shutil.copy(SPANISH, folder / "messages.po")
    assert catalogs.compile_stale(tmp_path / "translations") == ["es"]
    assert catalogs.compile_stale(tmp_path / "translations") == []  # up to date: left alone
    mo = folder / "messages.mo"
    old = mo.stat().st_mtime
    import os
    os.utime(folder / "messages.po", (old + 10, old + 10))
    assert catalogs.compile_stale(tmp_path / "translations") == ["es"]
