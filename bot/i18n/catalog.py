"""The translations shipped beside the flows (`flows/locales/<lang>.po`), read with polib.

A translation is used only where it can be trusted: translated, not fuzzy (its English changed
since), for the English the flows hold now, and with the same placeholders. Anything else
reads in English, so a partial translation never leaves a person with an empty message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import polib

DEFAULT = "en"
LOCALES = "locales"
TEMPLATE = "messages.pot"
# `${name}` (the flows' templates) and `{name}` (the coach's rule texts).
_PLACEHOLDER = re.compile(r"\$\{(\w+)\}|(?<![$\w{])\{(\w+)\}")
_CODE = re.compile(r"^[a-z]{2,3}$")


def without_placeholders(text: str) -> str:
    return _PLACEHOLDER.sub("", text)


def placeholders(text: str) -> list[str]:
    """The placeholders a text uses, sorted, each as often as it occurs."""
    return sorted(m.group(1) or m.group(2) for m in _PLACEHOLDER.finditer(text))


@dataclass(frozen=True)
class Translation:
    """One language's usable sentences: id -> (the English it translates, the translation)."""

    lang: str
    path: str
    entries: dict[str, tuple[str, str]]

    def text(self, ctxt: str, english: str) -> str:
        found = self.entries.get(ctxt)
        return found[1] if found is not None and found[0] == english else english


def usable(entry: polib.POEntry) -> bool:
    return (bool(entry.msgstr.strip()) and not entry.obsolete and "fuzzy" not in entry.flags
            and placeholders(entry.msgid) == placeholders(entry.msgstr))


def read_po(path: Path) -> polib.POFile:
    """Raises OSError or ValueError (polib's IOError on a broken file) when unreadable."""
    return polib.pofile(str(path), encoding="utf-8", wrapwidth=0)


def load_translation(path: Path) -> Translation:
    po = read_po(path)
    entries = {e.msgctxt: (e.msgid, e.msgstr) for e in po if e.msgctxt and usable(e)}
    return Translation(path.stem, str(path), entries)


def locale_files(folder: Path) -> dict[str, Path]:
    """The languages shipped in a flows folder, by code: one `<code>.po` each."""
    locales = folder / LOCALES
    if not locales.is_dir():
        return {}
    return {p.stem: p for p in sorted(locales.glob("*.po"))
            if _CODE.match(p.stem) and p.stem != DEFAULT}


def language_code(raw: str | None, shipped: tuple[str, ...] | list[str]) -> str | None:
    """A platform's language tag as a shipped code: `es-419`, `es_MX`, `ES` -> `es`; None
    when it names no shipped language."""
    if not raw:
        return None
    code = raw.replace("_", "-").split("-", 1)[0].strip().casefold()
    return code if code in shipped else None
