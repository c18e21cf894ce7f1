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
