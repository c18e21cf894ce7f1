"""Bits of what the person typed that the practice partner can say back: a short quote of
their last words and a name they used. Taken as typed, so the partner never puts words in
their mouth."""

from __future__ import annotations

import re
from collections.abc import Iterable

QUOTE_WORDS = 10
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|\n+")
_CAPITALISED = re.compile(r"(?<![\w'’])([A-Z][a-z]+)(?:['’]s)?(?![\w'’])")
_STARTS_SENTENCE = re.compile(r"(?:^|[.!?…:;\"“(]\s*)$")


def quote(text: str, words: int = QUOTE_WORDS, *, whole: bool = False) -> str:
    """The first sentence of `text` (or all of it), in curly quotes, cut after `words`
    words with "…"."""
    first = text if whole else next((s for s in _SENTENCE_END.split(text.strip()) if s.strip()),
                                    "")
    parts = first.split()
    if not parts:
        return ""
    if len(parts) > words:
        body = " ".join(parts[:words]).rstrip(",;:-–—") + "…"
    else:
        body = " ".join(parts) if whole else " ".join(parts).rstrip(".!?,;:…")
    return f"“{body}”"


def find_name(texts: Iterable[str], not_names: frozenset[str]) -> str | None:
    """The first capitalised word that is not the start of a sentence nor a common
    capitalised word (`not_names`, lower case): "late texts with Jo" gives "Jo"."""
    for text in texts:
        for match in _CAPITALISED.finditer(text):
            word = match.group(1)
            if word.casefold() in not_names or _STARTS_SENTENCE.search(text[:match.start()]):
                continue
            return word
    return None
