"""The practice partner's lines, from `flows/coach/partner_crossed.yaml` and
`partner_hurt.yaml`: by style, then by what the person just said (the move), then by mood.

A counsellor edits these files; they are checked as the flows load (problems as file:line).
Choosing a line never repeats one already said in the practice, and falls back from the
move's lines at this mood to the neighbouring moods, then to `other`, so a style with enough
lines can hold a whole practice without saying anything twice.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bot.flowlang.errors import FlowProblem
from bot.flowlang.source import SourceDoc, load_source
from bot.templates import placeholders

MOODS = ("tense", "guarded", "opening")
STYLES = ("open", "defensive", "dismissive", "counter_accusing", "shut_down")
MOVES = ("opener", "accusation", "feeling", "question", "request", "apology", "but_apology",
         "non_apology", "sarcasm", "short", "boundary", "other")
# What a partner line may quote of the person: their last words, a name they typed, and
# what happened, as the partner would say it.
WORDS = frozenset({"quote", "name", "behavior"})
# The partner who plays opposite each person: someone hurt practises with the partner who
# crossed a line, and the other way round.
PARTNER_FILES = {"hurt": Path("coach") / "partner_crossed.yaml",
                 "crossed": Path("coach") / "partner_hurt.yaml"}
SERVICE = "partner"  # services[f"partner:{role}"], role being the person practising
WORDED_WEIGHT = 3  # how much likelier a line with the person's words is than one without
MIN_LINES = 1  # per cell, without a name or the behaviour, so every cell can always answer


def service_name(role: str) -> str:
    return f"{SERVICE}:{role}"


@dataclass(frozen=True)
class Line:
    """One partner line and where it lives, so a practice can remember it was said."""

    key: str  # style.move.mood.index
    text: str
    needs: frozenset[str]


@dataclass(frozen=True)
class PartnerStyle:
    label: str
    start_mood: int
    answers: Mapping[str, Mapping[str, tuple[Line, ...]]]  # move -> mood -> lines

    def count(self) -> int:
        return sum(len(lines) for moods in self.answers.values() for lines in moods.values())


@dataclass(frozen=True)
class PartnerBook:
    styles: Mapping[str, PartnerStyle]

    def line(self, style: str, move: str, mood: str, used: set[str],
             known: Mapping[str, str], rng: random.Random) -> Line:
        """A line not said yet in this practice, for this move at this mood if one is left;
        lines quoting a word the coach does not have are left out."""
        answers = self.styles[style].answers
        fallbacks = [(move, m) for m in _near(mood)] + [("other", m) for m in _near(mood)]
        for at_move, at_mood in fallbacks:
            fresh = [line for line in answers[at_move][at_mood]
                     if line.key not in used and line.needs <= known.keys()]
            if fresh:
                # a line that says back the person's own words is the better answer
                weights = [WORDED_WEIGHT if line.needs else 1 for line in fresh]
                return rng.choices(fresh, weights)[0]
        # Every fitting line was said: the longest practice outran the file. Repeat the
        # move's own line rather than say something that does not fit.
        plain = [line for line in answers[move][mood] if line.needs <= known.keys()]
        return rng.choice(plain)


def _near(mood: str) -> list[str]:
    """This mood first, then the others by distance (tense-guarded-opening)."""
    at = MOODS.index(mood)
    return sorted(MOODS, key=lambda m: (abs(MOODS.index(m) - at), MOODS.index(m)))


def mood_name(mood: int) -> str:
    return "tense" if mood <= -1 else "guarded" if mood == 0 else "opening"


def _lines(doc: SourceDoc, style: str, move: str, mood: str,
           problems: list[FlowProblem]) -> tuple[Line, ...]:
    at = ("styles", style, "answers", move, mood)
    raw = doc.value(at)
    if not isinstance(raw, list) or not all(isinstance(t, str) and t.strip() for t in raw):
        problems.append(doc.problem(at, f"'{style}.{move}.{mood}' needs a list of lines"))
        return ()
    lines = []
    for index, text in enumerate(raw):
        names, bad = placeholders(text)
        unknown = sorted(set(names) - WORDS)
        if unknown or bad:
            problems.append(doc.problem((*at, index), f"a partner line may use only "
                                        f"${{quote}}, ${{name}} and ${{behavior}}, not "
                                        f"{', '.join(unknown) or 'a broken placeholder'}"))
        lines.append(Line(f"{style}.{move}.{mood}.{index}", text.strip(),
                          frozenset(names) & WORDS))
    if sum(not (line.needs - {"quote"}) for line in lines) < MIN_LINES:
        problems.append(doc.problem(at, f"'{style}.{move}.{mood}' needs a line without "
                                        "${name} or ${behavior}, so it can always answer"))
    return tuple(lines)


def _style(doc: SourceDoc, style: str, problems: list[FlowProblem]) -> PartnerStyle | None:
    raw = doc.value(("styles", style))
    if not isinstance(raw, dict):
        problems.append(doc.problem(("styles",), f"partner style '{style}' is missing"))
        return None
    label, start = raw.get("label"), raw.get("start_mood")
    if not isinstance(label, str) or not label.strip():
        problems.append(doc.problem(("styles", style), f"style '{style}' needs a 'label'"))
    if type(start) is not int or not -3 <= start <= 2:
        problems.append(doc.problem(("styles", style, "start_mood"),
                                    f"style '{style}' needs a 'start_mood' from -3 to 2"))
    answers = {move: {mood: _lines(doc, style, move, mood, problems) for mood in MOODS}
               for move in MOVES}
    extra = sorted(set(raw.get("answers") or {}) - set(MOVES))
    if extra:
        problems.append(doc.problem(("styles", style, "answers", extra[0]), "unknown move "
                                    f"'{extra[0]}' (moves: {', '.join(MOVES)})", key=True))
    return PartnerStyle(str(label), start if type(start) is int else 0, answers)


def _repeats(doc: SourceDoc, styles: Mapping[str, PartnerStyle]) -> list[FlowProblem]:
    """The same line twice would be said twice in one practice."""
    seen: dict[str, str] = {}
    problems = []
    for style in styles.values():
        for moods in style.answers.values():
            for lines in moods.values():
                for line in lines:
                    folded = " ".join(line.text.casefold().split())
                    if folded in seen:
                        s, m, md, i = line.key.split(".")
                        problems.append(doc.problem(("styles", s, "answers", m, md, int(i)),
                                                    f"this line is also at {seen[folded]}"))
                    seen.setdefault(folded, line.key)
    return problems


def load_partner(path: Path) -> tuple[PartnerBook | None, list[FlowProblem]]:
    doc, problems = load_source(path)
    if doc is None:
        return None, problems
    if not isinstance(doc.data, dict) or not isinstance(doc.data.get("styles"), dict):
        return None, [doc.problem((), "a partner file needs a 'styles' mapping")]
    styles = {name: style for name in STYLES
              if (style := _style(doc, name, problems)) is not None}
    extra = sorted(set(doc.data["styles"]) - set(STYLES))
    if extra:
        problems.append(doc.problem(("styles", extra[0]), f"unknown style '{extra[0]}' "
                                    f"(styles: {', '.join(STYLES)})", key=True))
    problems += _repeats(doc, styles)
    if problems:
        return None, problems
    return PartnerBook(styles), []
