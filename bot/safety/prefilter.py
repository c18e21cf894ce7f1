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
    """What a text must contain for a pattern to have a chance. The pattern is a choice of
    `alternatives`; each is a list of parts it cannot match without, and a part is a set of
    strings of which the text must hold one ("made|makes|forced" and "delete|block"). The
    first part of each alternative is its most telling one: the index finds alternatives
    through its first letters, then every part is checked with `in`."""

    alternatives: tuple[tuple[tuple[str, ...], ...], ...]

    def found_in(self, text: str) -> bool:
        contains = text.__contains__
        return any(all(any(map(contains, part)) for part in alternative)
                   for alternative in self.alternatives)


def gate(pattern: re.Pattern[str]) -> Gate | None:
    """The parts each alternative of the pattern needs, or None when the rule must always
    run (some alternative needs nothing long enough to look for)."""
    if pattern.flags & re.IGNORECASE:
        return None  # the screen's patterns run on folded text; keep this path exact
    alternatives = []
    for items in _alternatives(sre_parse.parse(pattern.pattern, pattern.flags)):
        parts = sorted((part for part in _parts(items) if _strength(part) >= GRAM),
                       key=_strength, reverse=True)
        if not parts:
            return None
        alternatives.append(tuple(tuple(sorted(p, key=len, reverse=True)) for p in parts))
    return Gate(tuple(alternatives)) if alternatives else None


_ZERO_WIDTH = (sre.AT, sre.ASSERT, sre.ASSERT_NOT)


def _alternatives(items: Any) -> list[Any]:
    """The top-level choices of a pattern (a rule's patterns are joined with "|"). The parser
    pulls a prefix the choices share (a leading \\b) out in front of them; zero-width items
    consume nothing, so they are set aside to reach the choices."""
    items = list(items)
    while len(items) == 1 and items[0][0] is sre.SUBPATTERN:
        items = list(items[0][1][-1])
    core = [item for item in items if item[0] not in _ZERO_WIDTH]
    if len(core) == 1 and core[0][0] is sre.BRANCH:
        found = []
        for alternative in core[0][1][1]:
            found.extend(_alternatives(alternative))
        return found
    return [items]


# Trigrams so common in everyday English that filing a pattern under one would make it a
# candidate for nearly every message (our own short list).
COMMON_GRAMS = frozenset((
    "the", "and", "ing", "ion", "tio", "ent", "for", "her", "tha", "nth", "int", "ere", "ter",
    "was", "you", "ith", "ver", "all", "wit", "thi", "hat", "his", "ate", "ons", "one", "are",
    "not", "res", "ess", "com", "men", "ght", "sto", "ear", "nce", "out", "ave", "our", "con",
    "rea", "ome", "see", "pro", "tin", "hin", "ive", "ove", "ill", "ted", "ers", "est", "ame",
    "abo", "bou", "ust", "han", "ake", "now", "mad", "day", "wer", "eve", "whe", "hen", "yin",
    "ngs", "nts",
))


def _telling_gram(string: str) -> str:
    """A trigram of `string` (every text holding the string holds all of them), the first
    that is not among the most common ones."""
    options = [string[i : i + GRAM] for i in range(len(string) - GRAM + 1)]
    return next((g for g in options if g not in COMMON_GRAMS), options[0])


def grams(text: str) -> set[str]:
    return {text[i : i + GRAM] for i in range(len(text) - GRAM + 1)}


def _strength(options: set[str]) -> int:
    return min(len(s) for s in options) if options else 0


def _sequence(items: Any) -> set[str] | None:
    """A sequence must contain everything it is made of; keep its most telling part."""
    candidates = _parts(items)
    return max(candidates, key=_strength) if candidates else None


def _parts(items: Any) -> list[set[str]]:
    """Every part a sequence cannot match without: literal runs, and the options of its
    groups, choices and repeats that must occur at least once."""
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
    return candidates


@dataclass(frozen=True)
class GateIndex:
    """Which of many gated patterns can match a text. Each alternative of each pattern is
    filed under the first letters of its most telling part; a text's trigrams pick out the
    alternatives worth checking, and only those are checked, part by part, with `in`.
    Patterns without a gate always run."""

    gates: tuple[Gate | None, ...]
    always: frozenset[int]
    by_gram: dict[str, tuple[tuple[int, int], ...]]

    @classmethod
    def build(cls, gates: Sequence[Gate | None]) -> GateIndex:
        always = frozenset(n for n, g in enumerate(gates) if g is None)
        by_gram: dict[str, list[tuple[int, int]]] = {}
        for n, one in enumerate(gates):
            for a, alternative in enumerate(one.alternatives if one else ()):
                for gram in {_telling_gram(s) for s in alternative[0]}:
                    by_gram.setdefault(gram, []).append((n, a))
        return cls(tuple(gates), always, {g: tuple(v) for g, v in by_gram.items()})

    def candidates(self, text: str, present: set[str]) -> list[int]:
        """Indices of the patterns that may match `text` (whose trigrams are `present`),
        in their original order."""
        found = set(self.always)
        tried: set[tuple[int, int]] = set()
        contains = text.__contains__
        for gram in present & self.by_gram.keys():
            for key in self.by_gram[gram]:
                n = key[0]
                if n in found or key in tried:
                    continue
                tried.add(key)
                alternative = self.gates[n].alternatives[key[1]]  # type: ignore[union-attr]
                if all(any(map(contains, part)) for part in alternative):
                    found.add(n)
        return sorted(found)
