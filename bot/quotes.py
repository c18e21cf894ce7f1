"""Curly and look-alike quotes folded to straight ones, one character for one.

People type on phones that curl quotes ("don’t", “yes”), and keyboards offer look-alikes
(´ ` ′ « »). Everything that compares what someone typed (button labels, the safety screen,
the coach's rules, yes/no answers) folds them the same way. One for one, so positions found
in the folded text still index the original.
"""

from __future__ import annotations

QUOTES = {
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "\u02bc": "'",
    "\u0060": "'", "\u00b4": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"', "\u00ab": '"',
    "\u00bb": '"',
}
STRAIGHT = str.maketrans(QUOTES)


def straighten(text: str) -> str:
    return text.translate(STRAIGHT)
