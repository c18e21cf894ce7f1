"""bot/i18n/languages.py: a translated catalog is built at start-up; one that breaks the flows
is reported with its language and not offered."""

from __future__ import annotations

import shutil
from pathlib import Path

import polib
import pytest

from bot.app import check_flows, load_flows
from bot.flowlang.errors import FlowErrors


def test_the_spanish_catalog_reads_spanish_everywhere_it_is_translated() -> None:
    english = load_flows()
    spanish = english.languages["es"]
    assert spanish.lang == "es" and english.languages["en"] is english
    assert spanish.flows["menu"].spec.states["choose"].say == (
        "¿Cuál de estas opciones va contigo hoy?",)
    assert spanish.texts is not None and spanish.texts.get("menu_button") == "Menú"
    resources = spanish.services["resources"]
    assert "Ayuda a la que puedes acudir ahora:" in resources.text("general", "gb")
    # not text: shared with English, loaded once
    assert spanish.services["screen_rules"] is english.services["screen_rules"]


def test_a_translation_that_breaks_the_flows_is_reported(tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    shutil.copytree(Path(__file__).resolve().parent.parent / "flows", flows)
    path = flows / "locales" / "es.po"
    po = polib.pofile(str(path), wrapwidth=78)
    [entry] = [e for e in po if e.msgctxt == "menu.choose.choices.4"]
    entry.msgstr = "Preguntas sobre límites " * 4  # longer than a button label may be
    po.save(str(path))
    catalog, problems = check_flows([flows])
    assert catalog is None
    assert any("in es (es.po)" in p.message and p.path.endswith("menu.yaml") for p in problems)
    with pytest.raises(FlowErrors):
        load_flows(flows)


def test_a_sentence_not_yet_translated_is_said_in_english_never_empty(tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    shutil.copytree(Path(__file__).resolve().parent.parent / "flows", flows)
    path = flows / "locales" / "es.po"
    po = polib.pofile(str(path), wrapwidth=78)
    for entry in po:
        if entry.msgctxt.startswith("learn."):
            entry.msgstr = ""
    po.save(str(path))
    spanish = load_flows(flows).languages["es"]
    assert spanish.flows["learn"].spec.title == load_flows(flows).flows["learn"].spec.title
    assert spanish.flows["menu"].spec.states["choose"].say == (
        "¿Cuál de estas opciones va contigo hoy?",)


def test_the_shipped_spanish_translates_every_sentence() -> None:
    """A complete second language: nothing in the template without its Spanish."""
    template = polib.pofile(str(Path(__file__).resolve().parent.parent / "flows" / "locales"
                                / "messages.pot"))
    spanish = {(e.msgctxt, e.msgid): e for e in polib.pofile(
        str(Path(__file__).resolve().parent.parent / "flows" / "locales" / "es.po"))}
    missing = [e.msgctxt for e in template
               if not spanish.get((e.msgctxt, e.msgid)) or not spanish[(e.msgctxt, e.msgid)].msgstr
               or spanish[(e.msgctxt, e.msgid)].fuzzy]
    assert missing == []
