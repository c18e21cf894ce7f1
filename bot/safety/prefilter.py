"""A cheap pre-check that lets the screen skip rules that cannot match a message.

For each rule's regular expression we work out, from its parsed form, a set of literal
strings of which every match must contain at least one. A rule whose strings' first three
letters appear nowhere in the message cannot match, so its (comparatively slow) regex is not
run. The check only ever skips rules that provably cannot match; when a pattern gives no
such guarantee, the rule always runs. Same results, a fraction of the time.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from re import _constants as sre  # type: ignore[attr-defined]
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any

GRAM = 3
_REPEATS = (sre.MAX_REPEAT, sre.MIN_REPEAT, getattr(sre, "POSSESSIVE_REPEAT", sre.MAX_REPEAT))


def required_strings(pattern: re.Pattern[str]) -> frozenset[str] | None:
    """Literal strings one of which every match contains, or None when unknown."""
    found = _sequence(sre_parse.parse(pattern.pattern, pattern.flags))
    if found is None:
        return None
    if pattern.flags & re.IGNORECASE:
        found = {s.lower() for s in found}
    return frozenset(found)


@dataclass(frozen=True)
class Gate:
    """What a text must contain for a pattern to have a chance: one of `strings` (checked
    with `in`, cheap next to a regex scan), found fast through their first `grams`."""

    grams: frozenset[str]
    strings: tuple[str, ...]

    def found_in(self, text: str) -> bool:
        return any(map(text.__contains__, self.strings))  # the loop stays in C


def gate(pattern: re.Pattern[str]) -> Gate | None:
    """The required strings and their first letters, or None when the rule must always run."""
    strings = required_strings(pattern)
    if not strings or min(len(s) for s in strings) < GRAM:
        return None
    return Gate(frozenset(s[:GRAM] for s in strings),
                tuple(sorted(strings, key=len, reverse=True)))


def grams(text: str) -> set[str]:
    return {text[i : i + GRAM] for i in range(len(text) - GRAM + 1)}


def _strength(options: set[str]) -> int:
    return min(len(s) for s in options) if options else 0


def _sequence(items: Any) -> set[str] | None:
    """A sequence must contain everything it is made of; keep its most telling part."""
    candidates: list[set[str]] = []
    run: list[str] = []
    for op, arg in items:
        if op is sre.LITERAL:
            run.append(chr(arg))
            continue
        if run:
            candidates.append({"".join(run)})
            run = []
        part: set[str] | None = None
        if op is sre.SUBPATTERN:
            part = _sequence(arg[-1])
        elif op is sre.BRANCH:
            part = set()
            for alternative in arg[1]:
                options = _sequence(alternative)
                if options is None:
                    part = None
                    break
                part |= options
        elif op in _REPEATS and arg[0] >= 1:
            part = _sequence(arg[2])
        if part:
            candidates.append(part)
    if run:
        candidates.append({"".join(run)})
    return max(candidates, key=_strength) if candidates else None


@dataclass(frozen=True)
class GateIndex:
    """Which of many gated patterns can match a text, found from the text's trigrams in one
    set intersection instead of one test per pattern. Patterns without a gate always run."""

    always: frozenset[int]
    by_gram: dict[str, frozenset[int]]

    @classmethod
    def build(cls, gates: Sequence[Gate | None]) -> GateIndex:
        always = frozenset(n for n, g in enumerate(gates) if g is None)
        by_gram: dict[str, set[int]] = {}
        for n, one in enumerate(gates):
            for gram in one.grams if one else ():
                by_gram.setdefault(gram, set()).add(n)
        return cls(always, {g: frozenset(ns) for g, ns in by_gram.items()})

    def candidates(self, present: set[str]) -> list[int]:
        """Indices of the patterns that may match, in their original order."""
        found = set(self.always)
        for gram in present & self.by_gram.keys():
            found |= self.by_gram[gram]
        return sorted(found)
