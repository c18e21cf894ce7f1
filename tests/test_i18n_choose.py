"""bot/i18n/choose.py: reading a language chosen by its code or its own name."""

from __future__ import annotations

from bot.app import load_flows
from bot.i18n.choose import chosen, language_names

NAMES = {"en": "English", "es": "Español"}


def test_a_language_by_code_or_own_name() -> None:
    assert chosen("es", NAMES) == "es"
    assert chosen("Español", NAMES) == "es"
    assert chosen("  espanol. ", NAMES) == "es"
    assert chosen("ENGLISH", NAMES) == "en"
    assert chosen("klingon", NAMES) is None


def test_every_catalog_names_every_language() -> None:
    catalog = load_flows()
    assert language_names(catalog) == NAMES
    assert language_names(catalog.languages["es"]) == NAMES
