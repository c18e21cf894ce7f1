"""The coach's wording and the practice partner's lines, from `flows/coach/coaching.yaml`.

Loaded and checked with the flows (problems as file:line), then handed to the coaching
actions as a read-only record.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Any

from bot.coach.feedback import MISSING_KINDS, PATTERN_KINDS, POSITIVE_KINDS, VERDICTS
from bot.flowlang.errors import FlowProblem
from bot.flowlang.source import PathKey, SourceDoc, load_source
from bot.templates import placeholders

COACHING_FILE = Path("coach") / "coaching.yaml"
MOODS = ("tense", "guarded", "opening")
STYLES = ("open", "defensive", "dismissive", "counter_accusing", "shut_down")
KINDS = (*PATTERN_KINDS, "shouting", *MISSING_KINDS)
POSITIVES = POSITIVE_KINDS

# Where each text lives, and the placeholders it may use.
TEXTS: dict[PathKey, frozenset[str]] = {
    ("feedback", "finding"): frozenset({"excerpt", "explanation", "suggestion"}),
    ("feedback", "missing"): frozenset({"explanation", "suggestion"}),
    ("feedback", "rewrite"): frozenset({"rewrite"}),
    ("feedback", "better"): frozenset({"before", "after"}),
    ("feedback", "kept_best"): frozenset(),
    ("feedback", "strengths"): frozenset({"strengths"}),
    ("roleplay", "intro"): frozenset({"style"}),
    ("roleplay", "partner_prefix"): frozenset(),
    ("roleplay", "tip_prefix"): frozenset(),
    ("roleplay", "tips", "harsh"): frozenset(),
    ("roleplay", "tips", "almost"): frozenset(),
    ("roleplay", "tips", "take_a_break"): frozenset(),
    ("roleplay", "summary", "lines"): frozenset({"turns", "calm"}),
    ("roleplay", "summary", "opener"): frozenset({"first", "best"}),
    ("roleplay", "summary", "carry_prefix"): frozenset(),
    **{("feedback", "verdict", v): frozenset({"score"}) for v in VERDICTS},
    **{("feedback", "positives", p): frozenset() for p in POSITIVES},
    **{("roleplay", "tips", "by_style", s): frozenset() for s in STYLES},
    **{("roleplay", "summary", "carry", k): frozenset() for k in ("none", *KINDS)},
}


@dataclass(frozen=True)
class PartnerStyle:
    label: str
    start_mood: int
    lines: dict[str, tuple[str, ...]]


@dataclass(frozen=True)
class Coaching:
    texts: dict[PathKey, str]
    styles: dict[str, PartnerStyle]
    max_turns: int
    mood_change: dict[str, int]

    def say(self, *where: str, **values: object) -> str:
        return Template(self.texts[tuple(where)]).safe_substitute(
            {k: str(v) for k, v in values.items()})


def _get(data: Any, at: PathKey) -> Any:
    for part in at:
        if not isinstance(data, dict) or part not in data:
            return None
        data = data[part]
    return data


def _text_problems(doc: SourceDoc) -> list[FlowProblem]:
    problems = []
    for at, allowed in TEXTS.items():
        value = _get(doc.data, at)
        if not isinstance(value, str) or not value.strip():
            problems.append(doc.problem(at, f"'{'.'.join(at)}' must be non-empty text"))
            continue
        for name in sorted(placeholders(value)[0]):
            if name not in allowed:
                problems.append(doc.problem(at, f"'{'.'.join(at)}' uses '${{{name}}}', which "
                                                "the coach does not fill"))
    return problems


def _style_problems(doc: SourceDoc) -> list[FlowProblem]:
    problems = []
    for style in STYLES:
        at = ("roleplay", "styles", style)
        raw = _get(doc.data, at)
        if not isinstance(raw, dict):
            problems.append(doc.problem(at[:-1], f"partner style '{style}' is missing"))
            continue
        if not isinstance(raw.get("label"), str) or type(raw.get("start_mood")) is not int:
            problems.append(doc.problem(at, f"style '{style}' needs a 'label' and a whole "
                                            "number 'start_mood'"))
        for mood in MOODS:
            lines = _get(raw, ("lines", mood))
            if not isinstance(lines, list) or not lines or not all(
                    isinstance(line, str) and line.strip() for line in lines):
                problems.append(doc.problem((*at, "lines"), f"style '{style}' needs a list of "
                                                            f"'{mood}' lines"))
    return problems


def load_coaching(path: Path) -> tuple[Coaching | None, list[FlowProblem]]:
    doc, problems = load_source(path)
    if doc is None:
        return None, problems
    if not isinstance(doc.data, dict):
        return None, [doc.problem((), "the coaching file must be a mapping")]
    problems += _text_problems(doc) + _style_problems(doc)
    turns = _get(doc.data, ("roleplay", "max_turns"))
    if type(turns) is not int or not 1 <= turns <= 20:
        problems.append(doc.problem(("roleplay", "max_turns"), "'max_turns' must be 1 to 20"))
    change = _get(doc.data, ("roleplay", "mood_change"))
    if not isinstance(change, dict) or any(type(change.get(v)) is not int for v in VERDICTS):
        problems.append(doc.problem(("roleplay", "mood_change"), "'mood_change' needs a whole "
                                                                  "number for calm, almost, harsh"))
    if problems:
        return None, problems
    styles = {
        name: PartnerStyle(raw["label"], raw["start_mood"],
                           {mood: tuple(raw["lines"][mood]) for mood in MOODS})
        for name, raw in doc.data["roleplay"]["styles"].items() if name in STYLES
    }
    texts = {at: _get(doc.data, at) for at in TEXTS}
    return Coaching(texts, styles, turns, dict(change)), []
