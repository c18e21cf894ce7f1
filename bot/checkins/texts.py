"""The check-ins' wording outside the flows (`flows/coach/checkins.yaml`): how a schedule
reads, the late note, the list for /checkins, the weeks as text. Checked with the flows, so
an edit that breaks it stops the start, not someone's check-in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bot.checkins.schedule import parse_quiet
from bot.flowlang.errors import FlowProblem
from bot.flowlang.source import SourceDoc, load_source
from bot.templates import fill, placeholders

TEXTS_FILE = Path("coach") / "checkins.yaml"
SERVICE = "checkins"
MARKS = ("kept", "partly", "not_yet", "none")
# Each message, with the placeholders the program fills in it.
FIELDS: dict[str, frozenset[str]] = {
    "late": frozenset(),
    "when_once": frozenset({"weekday", "date", "time", "zone"}),
    "when_weekly": frozenset({"weekday", "time", "zone"}),
    "quiet": frozenset({"start", "end"}),
    "quiet_none": frozenset(),
    "list_title": frozenset(),
    "list_talk": frozenset({"when"}),
    "list_weekly": frozenset({"when"}),
    "list_ours": frozenset({"when"}),
    "list_none": frozenset(),
    "progress_title": frozenset(),
    "progress_none": frozenset(),
    "legend": frozenset(),
    "picture_legend": frozenset({"rows"}),
    "export_title": frozenset(),
}


@dataclass(frozen=True)
class CheckinTexts:
    entries: Mapping[str, str]
    weekdays: tuple[str, ...]
    marks: Mapping[str, str]
    commitments: Mapping[str, str]  # slot -> label, in the order rows are shown
    default_quiet: tuple[int, int] | None

    def get(self, name: str, **values: object) -> str:
        return fill(self.entries[name], values) if values else self.entries[name]


def _problem_free_text(doc: SourceDoc, name: str, allowed: frozenset[str],
                       problems: list[FlowProblem]) -> str:
    value = doc.value((name,))
    if not isinstance(value, str) or not value.strip():
        problems.append(doc.problem((name,), f"'{name}' must be non-empty text"))
        return ""
    for used in sorted(placeholders(value)[0] - allowed):
        problems.append(doc.problem((name,), f"'{name}' uses '${{{used}}}', which is not "
                                             f"filled here; it may use "
                                             f"{', '.join(sorted(allowed)) or 'none'}"))
    return value.strip()


def _texts(doc: SourceDoc, key: str, problems: list[FlowProblem]) -> Mapping[str, str]:
    value = doc.value((key,))
    if not isinstance(value, dict) or not value or not all(
            isinstance(k, str) and isinstance(v, str) and v.strip() for k, v in value.items()):
        problems.append(doc.problem((key,), f"'{key}' must map names to non-empty text"))
        return {}
    return {k: v.strip() for k, v in value.items()}


def load_checkin_texts(path: Path) -> tuple[CheckinTexts | None, list[FlowProblem]]:
    doc, problems = load_source(path)
    if doc is None:
        return None, problems
    if not isinstance(doc.data, dict):
        return None, [doc.problem((), "the check-ins file must be a mapping")]
    entries = {name: _problem_free_text(doc, name, allowed, problems)
               for name, allowed in FIELDS.items()}
    weekdays = doc.value(("weekdays",))
    if not isinstance(weekdays, list) or len(weekdays) != 7 or not all(
            isinstance(day, str) and day.strip() for day in weekdays):
        problems.append(doc.problem(("weekdays",), "'weekdays' needs the seven day names, "
                                                   "Monday first"))
        weekdays = [""] * 7
    marks = _texts(doc, "marks", problems)
    for missing in sorted(set(MARKS) - set(marks)):
        problems.append(doc.problem(("marks",), f"'marks' needs '{missing}'"))
    quiet = parse_quiet(str(doc.value(("default_quiet",)) or ""))
    if quiet == "":
        problems.append(doc.problem(("default_quiet",), "'default_quiet' must be like "
                                                        "21:00-08:00, or off"))
        quiet = None
    checkin_texts = CheckinTexts(entries, tuple(d.strip() for d in weekdays), marks,
                                 _texts(doc, "commitments", problems),
                                 quiet if isinstance(quiet, tuple) else None)
    return (None, problems) if problems else (checkin_texts, [])
