"""bot/i18n/catalog.py: platform tags to shipped codes, and which translations are used."""

from __future__ import annotations

from pathlib import Path

import polib

from bot.i18n.catalog import language_code, load_translation, locale_files, placeholders

REPO = Path(__file__).resolve().parent.parent


def test_platform_tags_map_to_shipped_codes() -> None:
    shipped = ("en", "es")
    assert language_code("es-419", shipped) == "es"
    assert language_code("es_MX", shipped) == "es"
    assert language_code("ES", shipped) == "es"
    assert language_code("en-US", shipped) == "en"
    assert language_code("fr", shipped) is None
    assert language_code(None, shipped) is None and language_code("", shipped) is None


def test_placeholders_of_both_kinds() -> None:
    assert placeholders("${a} and ${b} and ${a}") == ["a", "a", "b"]
    assert placeholders('Replace "{excerpt}" now') == ["excerpt"]
    assert placeholders("no holes, 100%") == []


def test_only_trustworthy_translations_are_used(tmp_path: Path) -> None:
    po = polib.POFile()
    for ctxt, msgid, msgstr, flags in (
            ("a", "Hello", "Hola", []), ("b", "Bye", "Adiós", ["fuzzy"]),
            ("c", "Hi ${name}", "Hola", []), ("d", "Empty", "", [])):
        po.append(polib.POEntry(msgctxt=ctxt, msgid=msgid, msgstr=msgstr, flags=flags))
    path = tmp_path / "es.po"
    po.save(str(path))
    found = load_translation(path)
    assert found.text("a", "Hello") == "Hola"
    assert found.text("a", "Hello again") == "Hello again"  # the English changed since
    assert found.text("b", "Bye") == "Bye"
    assert found.text("c", "Hi ${name}") == "Hi ${name}"
    assert found.text("d", "Empty") == "Empty"


def test_the_shipped_languages() -> None:
    assert list(locale_files(REPO / "flows")) == ["es"]
