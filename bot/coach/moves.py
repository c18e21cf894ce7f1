"""What kind of thing a practice line is (the move the partner answers): an accusation, a
feeling, a question, a request, an apology (full, with "but", or a non-apology), sarcasm, a
very short reply, a boundary proposal, or something else.

The cue words are language content, kept in `flows/coach/coaching.yaml` (`roleplay.moves`);
the line coach's own findings (blame, contempt, a "but"-apology) come first, so the partner
reacts to what the coach would point out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from bot.coach.partner import MOVES
from bot.quotes import straighten

CUE_LISTS = ("short", "apology", "sarcasm", "boundary", "feeling", "request", "question")
_WORD = re.compile(r"[\w']+")
_FIRST_PERSON = re.compile(r"(?<!\w)(?:i|im|i'm|i've|ive|me|my)(?!\w)")


def _any_of(phrases: Iterable[str]) -> re.Pattern[str]:
    """Whole words or phrases; a cue of punctuation only ("...") matches as typed."""
    parts = [re.escape(p.casefold()) for p in sorted(phrases, key=len, reverse=True) if p]
    return re.compile(r"(?<!\w)(?:" + "|".join(parts) + r")(?!\w)" if parts else r"(?!)")


@dataclass(frozen=True)
class MoveCues:
    short_words: int
    cues: Mapping[str, re.Pattern[str]]
    question_starts: re.Pattern[str]
    from_findings: Mapping[str, str]  # a kind the line coach found -> the move it makes
    # findings a named feeling outweighs ("I've been so anxious every time...": a feeling,
    # not blame, though "every" is an absolute)
    feeling_outweighs: frozenset[str] = frozenset()

    @classmethod
    def build(cls, short_words: int, lists: Mapping[str, Sequence[str]],
              question_starts: Sequence[str], from_findings: Mapping[str, str],
              feeling_outweighs: Iterable[str] = ()) -> MoveCues:
        starts = "|".join(re.escape(w.casefold()) for w in question_starts)
        return cls(short_words, {name: _any_of(lists.get(name, ())) for name in CUE_LISTS},
                   re.compile(rf"^(?:{starts})(?!\w)" if starts else r"(?!)"),
                   dict(from_findings), frozenset(feeling_outweighs))


def _has(cues: MoveCues, name: str, text: str) -> bool:
    return bool(cues.cues[name].search(text))


def _apology(norm: str, kinds: set[str], cues: MoveCues) -> str | None:
    for kind in ("but_apology", "non_apology"):
        if kind in kinds:
            return kind
    found = cues.cues["apology"].search(norm)
    if not found:
        return None
    after = norm[found.end():]
    if re.search(r"(?<!\w)but(?!\w)", after):
        return "but_apology"
    if re.match(r"\W*(?:if|that)\s+you\b|\W*you\s+(?:feel|felt|were|are|got)\b", after):
        return "non_apology"  # sorry *that you feel*, sorry *if you were* upset
    return "apology"


def read_move(text: str, kinds: Iterable[str], cues: MoveCues,
              positives: Iterable[str] = ()) -> str:
    """The move of one practice line; `kinds` are the line coach's findings and `positives`
    what it found working (a feeling named in the first person is a feeling statement)."""
    norm = straighten(text).casefold().strip()
    found = set(kinds)
    words = _WORD.findall(norm)
    if not words:
        return "short"
    apology = _apology(norm, found, cues)
    if apology:
        return apology
    if ("named_feeling" in set(positives) and _FIRST_PERSON.search(norm)
            and found <= cues.feeling_outweighs):
        return "feeling"
    for kind, move in cues.from_findings.items():
        if kind in found and move in MOVES:
            return move
    if (len(words) <= cues.short_words and _has(cues, "short", norm)
            and not _has(cues, "feeling", norm)):
        return "short"
    for name in ("sarcasm", "boundary", "feeling"):
        if _has(cues, name, norm):
            return name
    if cues.question_starts.search(norm) or _has(cues, "question", norm):
        return "question"
    if _has(cues, "request", norm):
        return "request"
    if norm.endswith("?"):
        return "question"
    if len(words) <= cues.short_words:
        return "short"
    return "other"
