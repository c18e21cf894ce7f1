"""The coach's wording and the practice partner's lines, from `flows/coach/coaching.yaml`.

Loaded and checked with the flows (problems as file:line), then handed to the coaching
actions as a read-only record. The partner has two roles: the one who crossed a line
(`styles`, when the person practising was hurt) and the one who was hurt (`hurt_partner`,
when the person practising crossed the line), each with its own tips.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.coach.feedback import MISSING_KINDS, PATTERN_KINDS, POSITIVE_KINDS, VERDICTS
from bot.flowlang.errors import FlowProblem
from bot.flowlang.source import PathKey, SourceDoc, load_source
from bot.setting import ROLES
from bot.templates import fill, placeholders

COACHING_FILE = Path("coach") / "coaching.yaml"
MOODS = ("tense", "guarded", "opening")
STYLES = ("open", "defensive", "dismissive", "counter_accusing", "shut_down")
STYLE_SECTIONS = {"hurt": "styles", "crossed": "hurt_partner"}
TIP_SECTIONS = {"hurt": "tips", "crossed": "owning_tips"}
# Extra things the coach notices in the words of the one who crossed a line.
OWNING_KINDS = ("but", "excuse")
OWNING_LISTS = ("apology_words", "excuses")
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
    ("answers", "still_open"): frozenset({"topics"}),
    ("roleplay", "intro"): frozenset({"style"}),
    ("roleplay", "partner_prefix"): frozenset(),
    ("roleplay", "tip_prefix"): frozenset(),
    **{("roleplay", section, tip): frozenset() for section in TIP_SECTIONS.values()
       for tip in ("harsh", "almost", "steady", "take_a_break")},
    **{("roleplay", "owning_tips", kind): frozenset() for kind in OWNING_KINDS},
    ("roleplay", "summary", "lines"): frozenset({"turns", "calm"}),
    ("roleplay", "summary", "opener"): frozenset({"first", "best"}),
    ("roleplay", "summary", "carry_prefix"): frozenset(),
    ("roleplay", "summary", "no_turns"): frozenset(),
    **{("feedback", "verdict", v): frozenset({"score"}) for v in VERDICTS},
    **{("feedback", "harsh_note", role): frozenset() for role in ROLES},
    **{("feedback", "positives", p): frozenset() for p in POSITIVES},
    **{("roleplay", section, "by_style", s): frozenset() for section in TIP_SECTIONS.values()
       for s in STYLES},
    **{("roleplay", "summary", "carry", k): frozenset() for k in ("none", *KINDS)},
    **{("roleplay", "summary", "carry_owning", k): frozenset() for k in ("none", *OWNING_KINDS)},
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
    # the partner who was hurt, for someone practising how to own what they did
    hurt_styles: dict[str, PartnerStyle] = field(default_factory=dict)
    # lower-case phrases from roleplay.owning: apology_words, excuses
    owning: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def say(self, *where: str, **values: object) -> str:
        """The text at `where` with the program's values filled in; after a number,
        `word|words` agrees with it."""
        return fill(self.texts[tuple(where)], values)

    def styles_for(self, role: str) -> dict[str, PartnerStyle]:
        return self.hurt_styles if role == "crossed" and self.hurt_styles else self.styles

    def tip(self, role: str, *where: str) -> str:
        section = TIP_SECTIONS.get(role, "tips")
        return self.texts[("roleplay", section, *where)]


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
    for section, style in [(sec, st) for sec in STYLE_SECTIONS.values() for st in STYLES]:
        at = ("roleplay", section, style)
        raw = _get(doc.data, at)
        if not isinstance(raw, dict):
            problems.append(doc.problem(at[:-1], f"partner style '{style}' is missing "
                                                     f"from '{section}'"))
            continue
        if not isinstance(raw.get("label"), str) or type(raw.get("start_mood")) is not int:
            problems.append(doc.problem(at, f"style '{section}.{style}' needs a 'label' and "
                                            "a whole number 'start_mood'"))
        for mood in MOODS:
            lines = _get(raw, ("lines", mood))
            if not isinstance(lines, list) or not lines or not all(
                    isinstance(line, str) and line.strip() for line in lines):
                problems.append(doc.problem((*at, "lines"), f"style '{section}.{style}' needs a "
                                                            f"list of '{mood}' lines"))
    return problems


def _owning_problems(doc: SourceDoc) -> list[FlowProblem]:
    problems = []
    for name in OWNING_LISTS:
        at = ("roleplay", "owning", name)
        items = _get(doc.data, at)
        if not isinstance(items, list) or not items or not all(
                isinstance(i, str) and i.strip() for i in items):
            problems.append(doc.problem(at[:-1] if items is None else at,
                                        f"'roleplay.owning.{name}' needs a list of phrases"))
    return problems


def _styles(raw: dict[str, Any]) -> dict[str, PartnerStyle]:
    return {
        name: PartnerStyle(style["label"], style["start_mood"],
                           {mood: tuple(style["lines"][mood]) for mood in MOODS})
        for name, style in raw.items() if name in STYLES
    }


def load_coaching(path: Path) -> tuple[Coaching | None, list[FlowProblem]]:
    doc, problems = load_source(path)
    if doc is None:
        return None, problems
    if not isinstance(doc.data, dict):
        return None, [doc.problem((), "the coaching file must be a mapping")]
    problems += _text_problems(doc) + _style_problems(doc) + _owning_problems(doc)
    turns = _get(doc.data, ("roleplay", "max_turns"))
    if type(turns) is not int or not 1 <= turns <= 20:
        problems.append(doc.problem(("roleplay", "max_turns"), "'max_turns' must be 1 to 20"))
    change = _get(doc.data, ("roleplay", "mood_change"))
    if not isinstance(change, dict) or any(type(change.get(v)) is not int for v in VERDICTS):
        problems.append(doc.problem(("roleplay", "mood_change"), "'mood_change' needs a whole "
                                                                  "number for calm, almost, harsh"))
    if problems:
        return None, problems
    roleplay = doc.data["roleplay"]
    texts = {at: _get(doc.data, at) for at in TEXTS}
    owning = {name: tuple(p.strip().casefold() for p in roleplay["owning"][name])
              for name in OWNING_LISTS}
    return Coaching(texts, _styles(roleplay["styles"]), turns, dict(change),
                    hurt_styles=_styles(roleplay["hurt_partner"]), owning=owning), []
