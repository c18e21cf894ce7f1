"""The coach's wording, its tips in practice and how it reads a practice line, from
`flows/coach/coaching.yaml`.

Loaded and checked with the flows (problems as file:line), then handed to the coaching
actions as a read-only record. Tips differ for the one who was hurt (`tips`) and the one who
crossed a line (`owning_tips`). The partner's own lines are in the partner files
(bot/coach/partner.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bot.coach.feedback_rules import MISSING_KINDS, PATTERN_KINDS, POSITIVE_KINDS, VERDICTS
from bot.coach.moves import CUE_LISTS, MoveCues
from bot.coach.partner import MOVES, STYLES
from bot.flowlang.errors import FlowProblem
from bot.flowlang.source import PathKey, SourceDoc, load_source
from bot.setting import ROLES
from bot.templates import fill, placeholders

COACHING_FILE = Path("coach") / "coaching.yaml"
TIP_SECTIONS = {"hurt": "tips", "crossed": "owning_tips"}
# Extra things the coach notices in the words of the one who crossed a line.
OWNING_KINDS = ("but", "excuse")
OWNING_LISTS = ("apology_words", "excuses")
KINDS = (*PATTERN_KINDS, "shouting", *MISSING_KINDS)
# Moves with a tip of their own (the first reply and "anything else" get the general ones).
TIPPED_MOVES = tuple(m for m in MOVES if m not in ("opener", "other"))
POSITIVES = POSITIVE_KINDS

# Where each text lives, and the placeholders it may use.
TEXTS: dict[PathKey, frozenset[str]] = {
    ("feedback", "finding"): frozenset({"excerpt", "explanation", "suggestion"}),
    ("feedback", "missing"): frozenset({"explanation", "suggestion"}),
    ("feedback", "rewrite"): frozenset({"rewrite"}),
    ("feedback", "better"): frozenset({"before", "after"}),
    ("feedback", "kept_best"): frozenset(),
    ("feedback", "unread_language"): frozenset(),
    ("feedback", "unread_template"): frozenset(),
    ("feedback", "strengths"): frozenset({"strengths"}),
    ("answers", "still_open"): frozenset({"topics"}),
    ("roleplay", "intro"): frozenset({"style"}),
    ("roleplay", "partner_prefix"): frozenset(),
    ("roleplay", "tip_prefix"): frozenset(),
    ("roleplay", "unread_tip"): frozenset(),
    ("roleplay", "summary", "carry_unread"): frozenset(),
    **{("roleplay", section, tip): frozenset() for section in TIP_SECTIONS.values()
       for tip in ("harsh", "almost", "steady", "take_a_break")},
    **{("roleplay", "owning_tips", kind): frozenset() for kind in OWNING_KINDS},
    ("roleplay", "summary", "lines"): frozenset({"turns", "calm"}),
    ("roleplay", "summary", "lines_unread"): frozenset({"turns"}),
    ("roleplay", "summary", "opener"): frozenset({"first", "best"}),
    ("roleplay", "summary", "carry_prefix"): frozenset(),
    ("roleplay", "summary", "keep_prefix"): frozenset(),
    ("roleplay", "summary", "no_turns"): frozenset(),
    ("roleplay", "summary", "best"): frozenset({"line"}),
    ("roleplay", "summary", "worked"): frozenset({"worked"}),
    ("roleplay", "summary", "worked_default"): frozenset(),
    **{("roleplay", section, "by_move", m): frozenset() for section in TIP_SECTIONS.values()
       for m in TIPPED_MOVES},
    **{("feedback", "verdict", v): frozenset({"score"}) for v in VERDICTS},
    **{("feedback", "harsh_note", role): frozenset() for role in ROLES},
    **{("feedback", "positives", p): frozenset() for p in POSITIVES},
    **{("roleplay", section, "by_style", s): frozenset() for section in TIP_SECTIONS.values()
       for s in STYLES},
    **{("roleplay", "summary", "carry", k): frozenset() for k in ("none", *KINDS)},
    **{("roleplay", "summary", "carry_owning", k): frozenset() for k in ("none", *OWNING_KINDS)},
}


@dataclass(frozen=True)
class Coaching:
    texts: dict[PathKey, str]
    max_turns: int
    mood_change: dict[str, int]
    # lower-case phrases from roleplay.owning: apology_words, excuses
    owning: dict[str, tuple[str, ...]] = field(default_factory=dict)
    moves: MoveCues | None = None
    # how a move moves the partner's mood, whatever its verdict (a jab never opens them up)
    mood_by_move: dict[str, int] = field(default_factory=dict)
    # capitalised words that are not names (lower case), for the partner's ${name}
    not_names: frozenset[str] = frozenset()

    def say(self, *where: str, **values: object) -> str:
        """The text at `where` with the program's values filled in; after a number,
        `word|words` agrees with it."""
        return fill(self.texts[tuple(where)], values)

    def tip(self, role: str, *where: str) -> str:
        section = TIP_SECTIONS.get(role, "tips")
        return self.texts[("roleplay", section, *where)]


def _text_problems(doc: SourceDoc) -> list[FlowProblem]:
    problems = []
    for at, allowed in TEXTS.items():
        value = doc.value(at)
        if not isinstance(value, str) or not value.strip():
            problems.append(doc.problem(at, f"'{'.'.join(at)}' must be non-empty text"))
            continue
        for name in sorted(placeholders(value)[0]):
            if name not in allowed:
                problems.append(doc.problem(at, f"'{'.'.join(at)}' uses '${{{name}}}', which "
                                                "the coach does not fill"))
    return problems


def _owning_problems(doc: SourceDoc) -> list[FlowProblem]:
    problems = []
    for name in OWNING_LISTS:
        at = ("roleplay", "owning", name)
        items = doc.value(at)
        if not isinstance(items, list) or not items or not all(
                isinstance(i, str) and i.strip() for i in items):
            problems.append(doc.problem(at[:-1] if items is None else at,
                                        f"'roleplay.owning.{name}' needs a list of phrases"))
    return problems


def _phrases(doc: SourceDoc, at: PathKey, problems: list[FlowProblem]) -> tuple[str, ...]:
    items = doc.value(at)
    if not isinstance(items, list) or not all(isinstance(i, str) and i.strip() for i in items):
        problems.append(doc.problem(at, f"'{'.'.join(at)}' needs a list of phrases"))
        return ()
    return tuple(i.strip().casefold() for i in items)


def _move_cues(doc: SourceDoc, problems: list[FlowProblem]) -> MoveCues:
    at = ("roleplay", "moves")
    short = doc.value((*at, "short_words"))
    if type(short) is not int or not 1 <= short <= 10:
        problems.append(doc.problem((*at, "short_words"), "'short_words' must be 1 to 10"))
        short = 3
    lists = {name: _phrases(doc, (*at, name), problems) for name in CUE_LISTS}
    starts = _phrases(doc, (*at, "question_starts"), problems)
    found = doc.value((*at, "from_findings"))
    if not isinstance(found, dict):
        problems.append(doc.problem((*at, "from_findings"), "'from_findings' needs a mapping "
                                    "from a kind the coach finds to a move"))
        found = {}
    for kind, move in found.items():
        if kind not in PATTERN_KINDS or move not in MOVES:
            problems.append(doc.problem((*at, "from_findings", kind), f"'{kind}: {move}' must "
                                        f"map one of {', '.join(PATTERN_KINDS)} to one of "
                                        f"{', '.join(MOVES)}"))
    outweighs = _phrases(doc, (*at, "feeling_outweighs"), problems)
    return MoveCues.build(short, lists, starts, {str(k): str(v) for k, v in found.items()},
                          outweighs)


def _mood_by_move(doc: SourceDoc, problems: list[FlowProblem]) -> dict[str, int]:
    at = ("roleplay", "mood_by_move")
    raw = doc.value(at)
    if not isinstance(raw, dict) or any(m not in MOVES or type(v) is not int
                                        for m, v in raw.items()):
        problems.append(doc.problem(at, "'mood_by_move' needs a whole number for each move "
                                        f"it names ({', '.join(MOVES)})"))
        return {}
    return dict(raw)


def load_coaching(path: Path) -> tuple[Coaching | None, list[FlowProblem]]:
    doc, problems = load_source(path)
    if doc is None:
        return None, problems
    if not isinstance(doc.data, dict):
        return None, [doc.problem((), "the coaching file must be a mapping")]
    problems += _text_problems(doc) + _owning_problems(doc)
    moves = _move_cues(doc, problems)
    mood_by_move = _mood_by_move(doc, problems)
    not_names = frozenset(_phrases(doc, ("roleplay", "not_names"), problems))
    turns = doc.value(("roleplay", "max_turns"))
    if type(turns) is not int or not 1 <= turns <= 20:
        problems.append(doc.problem(("roleplay", "max_turns"), "'max_turns' must be 1 to 20"))
    change = doc.value(("roleplay", "mood_change"))
    if not isinstance(change, dict) or any(type(change.get(v)) is not int for v in VERDICTS):
        problems.append(doc.problem(("roleplay", "mood_change"), "'mood_change' needs a whole "
                                                                  "number for calm, almost, harsh"))
    if problems:
        return None, problems
    roleplay = doc.data["roleplay"]
    texts = {at: doc.value(at) for at in TEXTS}
    owning = {name: tuple(p.strip().casefold() for p in roleplay["owning"][name])
              for name in OWNING_LISTS}
    return Coaching(texts, turns, dict(change), owning=owning, moves=moves,
                    mood_by_move=mood_by_move, not_names=not_names), []
