"""What `coach flows check` says about the translations of a flows folder.

Errors stop the check: a .po that cannot be read, and a translation whose placeholders differ
from its English (`${behavior}` missing or added), which would say something wrong or leave a
hole. Everything else is a gap an operator can run with, because the English is used there:
sentences missing, fuzzy (their English changed) or out of date, and ids in a .po that the
flows no longer have. Those are counted per language, and listed with file:line on request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import polib

from bot.flowlang.errors import FlowProblem
from bot.i18n.catalog import locale_files, placeholders, read_po
from bot.i18n.extract import all_places
from bot.i18n.places import Place


@dataclass
class LanguageReport:
    lang: str
    path: str
    total: int = 0
    translated: int = 0
    errors: list[FlowProblem] = field(default_factory=list)
    missing: list[FlowProblem] = field(default_factory=list)
    fuzzy: list[FlowProblem] = field(default_factory=list)
    unused: list[FlowProblem] = field(default_factory=list)

    def summary(self) -> str:
        return (f"{self.lang}: {self.translated} of {self.total} sentences translated; "
                f"{len(self.missing)} missing, {len(self.fuzzy)} fuzzy or out of date, "
                f"{len(self.unused)} unused ids (English is used for the rest; "
                f"`coach flows check --lang {self.lang}` lists them)")

    @property
    def gaps(self) -> list[FlowProblem]:
        return sorted([*self.missing, *self.fuzzy, *self.unused])


def _placeholder_error(path: str, entry: polib.POEntry) -> FlowProblem | None:
    english, translated = placeholders(entry.msgid), placeholders(entry.msgstr)
    if english == translated:
        return None

    def named(names: list[str]) -> str:
        return ", ".join(f"${{{n}}}" for n in names) or "none"

    return FlowProblem(path, entry.linenum, 0,
                       f"{entry.msgctxt}: the translation's placeholders differ from the "
                       f"English: English has {named(english)}, the translation "
                       f"{named(translated)}")


def check_language(lang: str, path: Path, sentences: list[Place],
                   folder: Path) -> LanguageReport:
    report = LanguageReport(lang, str(path), total=len(sentences))
    try:
        po = read_po(path)
    except (OSError, ValueError) as exc:
        report.errors.append(FlowProblem(str(path), 1, 0, f"cannot read the translation: {exc}"))
        return report
    by_id = {e.msgctxt: e for e in po if e.msgctxt and not e.obsolete}
    for place in sentences:
        entry = by_id.pop(place.ctxt, None)
        english_at = (str(folder / place.file), place.line)
        if entry is None or not entry.msgstr.strip():
            at = (str(path), entry.linenum) if entry is not None else english_at
            report.missing.append(FlowProblem(*at, 0, f"{lang}: {place.ctxt} is not "
                                                      "translated"))
            continue
        error = _placeholder_error(str(path), entry)
        if error is not None:
            report.errors.append(error)
        elif "fuzzy" in entry.flags:
            report.fuzzy.append(FlowProblem(str(path), entry.linenum, 0,
                                            f"{lang}: {place.ctxt} is fuzzy (its English "
                                            "changed): review it and remove the flag"))
        elif entry.msgid != place.text:
            report.fuzzy.append(FlowProblem(str(path), entry.linenum, 0,
                                            f"{lang}: {place.ctxt} translates older English "
                                            f"(run `coach flows messages update {lang}`)"))
        else:
            report.translated += 1
    for ctxt, entry in by_id.items():
        report.unused.append(FlowProblem(str(path), entry.linenum, 0,
                                         f"{lang}: {ctxt} is not in the flows (unused)"))
    return report


def check_translations(folder: Path) -> list[LanguageReport]:
    """One report per language shipped in the folder."""
    files = locale_files(folder)
    if not files:
        return []
    sentences = list({p.ctxt: p for p in all_places(folder)}.values())
    return [check_language(lang, path, sentences, folder) for lang, path in files.items()]
