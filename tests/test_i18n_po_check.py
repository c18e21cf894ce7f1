"""bot/i18n/po_check.py: a placeholder that differs between English and a translation is an
error with the .po's file:line; missing, fuzzy and unused ids are reported, not failed."""

from __future__ import annotations

import shutil
from pathlib import Path

import polib
import pytest

from bot.cli import main
from bot.i18n.po_check import check_translations

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def flows(tmp_path: Path) -> Path:
    folder = tmp_path / "flows"
    shutil.copytree(REPO / "flows", folder)
    return folder


def _edit(folder: Path, change) -> None:
    path = folder / "locales" / "es.po"
    po = polib.pofile(str(path), wrapwidth=78)
    change(po)
    po.save(str(path))


def _entry(po: polib.POFile, ctxt: str) -> polib.POEntry:
    [entry] = [e for e in po if e.msgctxt == ctxt]
    return entry


def test_the_shipped_spanish_has_no_errors_and_no_gaps() -> None:
    [report] = check_translations(REPO / "flows")
    assert report.lang == "es" and not report.errors
    assert report.translated == report.total > 2000
    assert not report.missing and not report.fuzzy and not report.unused
    assert "es: " in report.summary() and "0 missing" in report.summary()


def test_a_placeholder_missing_or_added_is_an_error_with_its_line(flows: Path) -> None:
    def change(po: polib.POFile) -> None:
        _entry(po, "core.unknown_command").msgstr = "No conozco ese comando."
        _entry(po, "core.menu_button").msgstr = "Menú ${title}"

    _edit(flows, change)
    [report] = check_translations(flows)
    messages = sorted(str(p) for p in report.errors)
    assert len(messages) == 2
    assert all(m.startswith(str(flows / "locales" / "es.po") + ":") for m in messages)
    assert any("core.unknown_command" in m and "English has ${command}" in m for m in messages)
    assert any("core.menu_button" in m and "the translation ${title}" in m for m in messages)
    po = polib.pofile(str(flows / "locales" / "es.po"))
    line = _entry(po, "core.unknown_command").linenum
    assert any(f"es.po:{line}:" in m for m in messages)


def test_missing_fuzzy_and_unused_are_listed_with_their_place(flows: Path) -> None:
    def change(po: polib.POFile) -> None:
        _entry(po, "core.help").msgstr = ""
        _entry(po, "talk.title").msgstr = ""
        _entry(po, "core.sos").flags.append("fuzzy")
        po.append(polib.POEntry(msgctxt="menu.gone.say", msgid="Gone", msgstr="Ido"))

    _edit(flows, change)
    [report] = check_translations(flows)
    assert not report.errors
    gaps = [str(p) for p in report.gaps]
    assert any("core.help is not translated" in g and "es.po:" in g for g in gaps)
    assert any("core.sos is fuzzy" in g for g in gaps)
    assert any("menu.gone.say is not in the flows (unused)" in g for g in gaps)
    talk = [g for g in gaps if "talk.title is not translated" in g]
    assert talk and talk[0].startswith(str(flows / "locales" / "es.po"))


def test_flows_check_fails_on_errors_and_counts_gaps(flows: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["flows", "check", str(flows)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("ok:")
    assert "es: " in out and "sentences translated" in out and "is not translated" not in out
    _edit(flows, lambda po: setattr(_entry(po, "talk.title"), "msgstr", ""))
    assert main(["flows", "check", str(flows)]) == 0  # a gap is counted, not failed
    assert "1 missing" in capsys.readouterr().out
    assert main(["flows", "check", str(flows), "--lang", "es"]) == 0
    assert "es: talk.title is not translated" in capsys.readouterr().out

    _edit(flows, lambda po: setattr(_entry(po, "core.too_short"), "msgstr", "Escribe más."))
    assert main(["flows", "check", str(flows)]) == 2
    err = capsys.readouterr().err
    assert "es.po:" in err and "core.too_short" in err and "${min}" in err


def test_a_mismatched_translation_is_not_used_at_runtime(flows: Path) -> None:
    from bot.app import load_catalog

    _edit(flows, lambda po: setattr(_entry(po, "core.unknown_command"), "msgstr", "¿Qué?"))
    spanish = load_catalog([flows]).languages["es"]
    assert spanish.texts is not None
    assert spanish.texts.get("unknown_command", command="/x") == (
        "I don't know /x. Type /help to see what I can do.")
    assert spanish.texts.get("menu_button") == "Menú"
