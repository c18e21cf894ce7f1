"""The translators' files: `messages.pot` written from the flows, and a language's `.po` brought
up to date with it.

The template is written in a fixed order (core messages, the flows by name, then the files
beside them) with no dates in it, so a test can tell whether the checked-in one is current.
An update keeps every translation: one whose English changed is marked fuzzy (not used until
a translator has looked at it, the old English kept as `#| msgid`), and one whose place is
gone becomes obsolete (`#~`), so nothing a translator wrote is lost.
"""

from __future__ import annotations

from pathlib import Path

import polib

from bot.flowlang.source import load_source
from bot.i18n.catalog import LOCALES, TEMPLATE, read_po
from bot.i18n.places import DATA_TEXTS, Place, places

WRAP = 78
HEADER = {
    "Project-Id-Version": "Conversation Coach",
    "MIME-Version": "1.0",
    "Content-Type": "text/plain; charset=UTF-8",
    "Content-Transfer-Encoding": "8bit",
}
TEMPLATE_NOTE = ("The sentences of Conversation Coach. msgctxt names where a sentence is in the "
                 "flows;\nkeep every ${name} of the English in the translation (it is filled in "
                 "when the\ncoach speaks). Made by `coach flows messages extract`; do not edit.")


def text_files(folder: Path) -> list[str]:
    """The files with sentences, relative to the flows folder, in the template's order."""
    flows = sorted(p.name for p in folder.glob("*.yaml") if p.is_file())
    data = [rel for rel in DATA_TEXTS if (folder / rel).is_file()]
    return [data[0], *flows, *data[1:]] if data[:1] == ["core/messages.yaml"] else [
        *flows, *data]


def all_places(folder: Path) -> list[Place]:
    """Every sentence of the flows folder, in the template's order (unreadable files are
    `coach flows check`'s to report)."""
    found: list[Place] = []
    for rel in text_files(folder):
        doc, _ = load_source(folder / rel)
        if doc is not None:
            found += places(rel, doc)
    return found


def template(folder: Path) -> polib.POFile:
    pot = polib.POFile(wrapwidth=WRAP)
    pot.header = TEMPLATE_NOTE
    pot.metadata = dict(HEADER)
    seen: set[str] = set()
    for place in all_places(folder):
        if place.ctxt in seen:  # one id, one entry (a YAML key twice is check's to report)
            continue
        seen.add(place.ctxt)
        pot.append(polib.POEntry(msgctxt=place.ctxt, msgid=place.text, msgstr="",
                                 occurrences=[(place.file, str(place.line))]))
    return pot


def template_path(folder: Path) -> Path:
    return folder / LOCALES / TEMPLATE


def write_template(folder: Path) -> tuple[Path, int]:
    """Write `locales/messages.pot`; returns its path and how many sentences it holds."""
    pot = template(folder)
    path = template_path(folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(str(pot).rstrip("\n") + "\n", encoding="utf-8")
    return path, len(pot)


def merged(pot: polib.POFile, old: polib.POFile | None, lang: str) -> polib.POFile:
    """`pot` with the translations of `old`, as described above."""
    po = polib.POFile(wrapwidth=WRAP)
    po.header = f"Conversation Coach in {lang}. Edit the msgstr lines only."
    po.metadata = {**HEADER, **(old.metadata if old else {}), "Language": lang}
    by_id = {e.msgctxt: e for e in old if e.msgctxt} if old else {}
    for entry in pot:
        new = polib.POEntry(msgctxt=entry.msgctxt, msgid=entry.msgid, msgstr="",
                            occurrences=list(entry.occurrences))
        before = by_id.pop(entry.msgctxt, None)
        if before is not None and before.msgstr:
            new.msgstr = before.msgstr
            new.tcomment = before.tcomment
            if before.msgid != entry.msgid:
                new.flags = ["fuzzy"]
                new.previous_msgid = before.previous_msgid if before.obsolete else before.msgid
            elif "fuzzy" in before.flags:
                new.flags = ["fuzzy"]
                new.previous_msgid = before.previous_msgid
        po.append(new)
    for gone in by_id.values():
        if gone.msgstr:
            po.append(polib.POEntry(msgctxt=gone.msgctxt, msgid=gone.msgid,
                                    msgstr=gone.msgstr, obsolete=True))
    return po


def update(folder: Path, lang: str) -> tuple[Path, polib.POFile]:
    """Bring `locales/<lang>.po` up to date with the flows (made when it is not there)."""
    path = folder / LOCALES / f"{lang}.po"
    old = read_po(path) if path.is_file() else None
    po = merged(template(folder), old, lang)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(str(po).rstrip("\n") + "\n", encoding="utf-8")
    return path, po
