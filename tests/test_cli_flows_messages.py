"""bot/cli/flows_messages.py: `coach flows messages extract` and `update LANG`."""

from __future__ import annotations

import shutil
from pathlib import Path

import polib
import pytest

from bot.cli import main

REPO = Path(__file__).resolve().parent.parent


def test_extract_then_update_a_new_and_an_existing_language(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    flows = tmp_path / "flows"
    shutil.copytree(REPO / "flows", flows)
    messages = flows / "core" / "messages.yaml"
    messages.write_text(messages.read_text(encoding="utf-8").replace(
        "menu_button: Menu", "menu_button: Main menu"), encoding="utf-8")
    assert main(["--flows", str(flows), "flows", "messages", "extract"]) == 0
    assert "sentences" in capsys.readouterr().out
    pot = polib.pofile(str(flows / "locales" / "messages.pot"))
    assert pot.find("Main menu", msgctxt="core.menu_button") is not None

    assert main(["--flows", str(flows), "flows", "messages", "update", "es"]) == 0
    assert "1 fuzzy" in capsys.readouterr().out
    po = polib.pofile(str(flows / "locales" / "es.po"))
    [entry] = [e for e in po if e.msgctxt == "core.menu_button"]
    assert entry.msgstr == "Menú" and "fuzzy" in entry.flags and entry.previous_msgid == "Menu"

    assert main(["--flows", str(flows), "flows", "messages", "update", "fr"]) == 0
    assert (flows / "locales" / "fr.po").is_file()
    assert main(["--flows", str(flows), "flows", "messages", "update", "en"]) == 2
    assert "English is the source" in capsys.readouterr().err
