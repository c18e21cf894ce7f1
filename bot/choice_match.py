"""Reading a typed answer at a step with buttons: which button the person meant.

People type "yes", "idk", "lets strat" or "defensive" rather than a label word for word.
This module decides, without guessing: one button it is sure of, two (or one) close ones to
ask about ("Did you mean …?"), or none. The words it knows ("yeah", "not sure") are language
content and come from `flows/core/messages.yaml`; only the method is here.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

from rapidfuzz import fuzz

from bot.quotes import straighten

SURE = 88  # a score this high, well ahead of the next button, picks the button
CLOSE = 72  # a score this high is worth a "Did you mean …?"
MARGIN = 10  # how far ahead of the next button a sure pick must be
MIN_PART = 4  # a part of a label must be at least this long to count
SHORT_WORD = 5  # one word shorter than this is too common to pick a button alone
KINDS = ("yes", "no", "unsure")


@dataclass(frozen=True)
class AnswerWords:
    """Phrases that mean yes, no or "not sure", as typed and as a label starts."""

    kinds: dict[str, frozenset[str]] = field(default_factory=dict)

    @classmethod
    def parse(cls, lists: dict[str, str]) -> AnswerWords:
        """`lists` maps a kind to its phrases, separated by commas ("yes, yeah, of course")."""
        return cls({kind: frozenset(p for p in (normal(x) for x in text.split(",")) if p)
                    for kind, text in lists.items()})

    def kind_of(self, text: str) -> str | None:
        """The kind a whole typed answer is ("yeah" -> yes), or None."""
        return next((kind for kind, words in self.kinds.items() if text in words), None)

    def label_kind(self, label: str) -> str | None:
        """The kind a label answers with: its start ("Yes, I feel safe") or its whole
        ("I'm not sure"). "Not now" is no answer to "are you sure": only exact phrases count."""
        first = label.split(" ", 1)[0]
        for kind, words in self.kinds.items():
            if label in words or first in words:
                return kind
        for kind, words in self.kinds.items():
            if any(" " in w and f" {w} " in f" {label} " for w in words):
                return kind
        return None


@dataclass(frozen=True)
class Match:
    """`pick`: the index of the button meant; `close`: indexes to ask about, closest first."""

    pick: int | None = None
    close: tuple[int, ...] = ()


NO_MATCH = Match()


def normal(text: str) -> str:
    """Any capitals, quotes and punctuation away, single spaces: "Let's start!" -> "lets
    start", "Counter-accusing" -> "counter accusing"."""
    out = []
    for ch in straighten(text).casefold():
        if ch in "'’":
            continue
        cat = unicodedata.category(ch)[0]
        out.append(" " if cat in "PSZ" or ch.isspace() else ch)
    return " ".join("".join(out).split())


def match(text: str, labels: Sequence[str], words: AnswerWords, *,
          fuzzy: bool = True) -> Match:
    """Which of `labels` a typed `text` means. Exact (label or number) and answer words
    pick at once; otherwise a fuzzy score, and a button is picked only when it is clearly
    the one. Without `fuzzy`, only exact labels, numbers and answer words count."""
    wanted = normal(text)
    if not wanted or not labels:
        return NO_MATCH
    if wanted.isdecimal():
        number = int(wanted)
        return Match(pick=number - 1) if 1 <= number <= len(labels) else NO_MATCH
    names = [normal(label) for label in labels]
    if wanted in names:
        return Match(pick=names.index(wanted))
    kind = words.kind_of(wanted)
    if kind is not None:
        meant = [i for i, name in enumerate(names) if words.label_kind(name) == kind]
        if len(meant) == 1:
            return Match(pick=meant[0])
        return Match(close=tuple(meant[:2])) if meant else NO_MATCH
    return _fuzzy(wanted, names) if fuzzy else NO_MATCH


def _fuzzy(wanted: str, names: Sequence[str]) -> Match:
    ranked = sorted(((score(wanted, name), i) for i, name in enumerate(names)),
                    key=lambda pair: (-pair[0], pair[1]))  # a tie: the earlier button first
    best, first = ranked[0]
    second = ranked[1][0] if len(ranked) > 1 else 0.0
    if best >= SURE and best - second >= MARGIN:
        return Match(pick=first)
    close = tuple(i for s, i in ranked[:2] if s >= CLOSE)
    return Match(close=close)


def score(wanted: str, name: str) -> float:
    """0-100: how like a label the typed text is, as a whole (typos: "lets strat") or as a
    clear part of it ("defensive", "counter accusing" in a longer label). A part counts
    only word by word, so "no" is not a part of "not now"."""
    whole = fuzz.ratio(wanted, name)
    if len(wanted) > len(name) + 8:
        return whole  # far longer than the label: a sentence, not this button
    if len(wanted) < MIN_PART or len(wanted) >= len(name):
        return whole
    return max(whole, _part(wanted, name))


def _part(wanted: str, name: str) -> float:
    """Every typed word is like a word of the label, in order, and the words together make
    a real part of it: the weakest word's score."""
    label_words = name.split()
    typed_words = wanted.split()
    if len(typed_words) > len(label_words):
        return 0.0
    best = 0.0
    for start in range(len(label_words) - len(typed_words) + 1):
        window = label_words[start:start + len(typed_words)]
        scores = [fuzz.ratio(t, w) if len(t) >= 3 else (100.0 if t == w else 0.0)
                  for t, w in zip(typed_words, window, strict=True)]
        if sum(len(t) for t in typed_words) < MIN_PART + 2 and len(typed_words) == 1:
            scores = [s if s == 100 else 0.0 for s in scores]  # short words: exact only
        best = max(best, min(scores))
    if len(typed_words) == 1 and len(wanted) < SHORT_WORD:
        return min(best, SURE - 1)  # "what", "help": worth asking about, never a pick
    return best * 0.97  # a part is a little less sure than the whole label

