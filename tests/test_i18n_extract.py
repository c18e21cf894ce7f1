"""bot/i18n/extract.py: the template is current and written the same way every time; an
update keeps translations, marks changed English fuzzy and keeps removed ones as obsolete."""

from __future__ import annotations

import shutil
from pathlib import Path

import polib

from bot.i18n.catalog import read_po
from bot.i18n.extract import merged, template, template_path, update, write_template

REPO = Path(__file__).resolve().parent.parent
FLOWS = REPO / "flows"


def test_the_shipped_template_is_current() -> None:
    """Run `coach flows messages extract` after editing a sentence in the flows."""
    shipped = template_path(FLOWS).read_text(encoding="utf-8")
    assert shipped == str(template(FLOWS)).rstrip("\n") + "\n"


def test_extraction_is_deterministic_and_names_places(tmp_path: Path) -> None:
    shutil.copytree(FLOWS, tmp_path / "flows")
    path, count = write_template(tmp_path / "flows")
    first = path.read_bytes()
    assert write_template(tmp_path / "flows")[0].read_bytes() == first
    pot = polib.pofile(str(path))
    assert count == len(pot) > 1000
    by_id = {e.msgctxt: e for e in pot}
    assert by_id["core.help"].occurrences[0][0] == "core/messages.yaml"
    assert by_id["menu.choose.choices.1"].msgid == "I was hurt and want to talk"
    assert by_id["menu.first_visit.say.1"].msgid.endswith("Are you 18 or older?")
    # what is matched or stored, never said, stays out
    assert not any(ctxt.startswith("coach.coaching.roleplay.moves") for ctxt in by_id)
    assert not any("screen_rules" in ctxt for ctxt in by_id)
    assert not any(".set.role" in ctxt or ".set.ci_kind" in ctxt for ctxt in by_id)
    # ... but the person's words a button stands for, and the words people type, are in
    assert by_id["talk.feeling.choices.0.set.feeling"].msgid == "hurt"
    assert "talk.feeling.ask.strip_prefix.0" in by_id
    assert any("${" in e.msgid for e in pot)  # placeholders stay in the text


def _po(*entries: tuple[str, str, str]) -> polib.POFile:
    po = polib.POFile()
    for ctxt, msgid, msgstr in entries:
        po.append(polib.POEntry(msgctxt=ctxt, msgid=msgid, msgstr=msgstr))
    return po


def test_update_keeps_marks_fuzzy_and_keeps_obsolete() -> None:
    pot = _po(("a.say", "Hello", ""), ("b.say", "Goodbye now", ""), ("c.say", "New", ""))
    old = _po(("a.say", "Hello", "Hola"), ("b.say", "Goodbye", "Adiós"),
              ("gone.say", "Old", "Viejo"))
    po = merged(pot, old, "es")
    by_id = {e.msgctxt: e for e in po if not e.obsolete}
    assert by_id["a.say"].msgstr == "Hola" and not by_id["a.say"].flags
    assert by_id["b.say"].msgstr == "Adiós" and by_id["b.say"].flags == ["fuzzy"]
    assert by_id["b.say"].previous_msgid == "Goodbye"
    assert by_id["c.say"].msgstr == ""
    [gone] = po.obsolete_entries()
    assert (gone.msgctxt, gone.msgstr) == ("gone.say", "Viejo")
    assert "#~ msgstr \"Viejo\"" in str(po)


def test_update_writes_the_po_and_is_stable(tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    shutil.copytree(FLOWS, flows)
    path, _ = update(flows, "es")
    assert read_po(path).find("Español", by="msgstr") is not None
    before = path.read_bytes()
    update(flows, "es")
    assert path.read_bytes() == before
    assert path.read_bytes() == (FLOWS / "locales" / "es.po").read_bytes()  # shipped: current
