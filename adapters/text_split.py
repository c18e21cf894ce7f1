"""Cutting long replies into messages a platform accepts, at natural boundaries.

Telegram and Discord both count message length in UTF-16 code units (an emoji outside the
basic plane counts twice), so that is what is measured here.
"""

from __future__ import annotations

import re

_BOUNDARIES = (re.compile(r"\n\s*\n"), re.compile(r"\n"), re.compile(r"(?<=[.!?…])\s+"),
               re.compile(r"\s+"))


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _prefix_within(text: str, limit: int) -> int:
    """How many characters of `text` fit in `limit` UTF-16 units."""
    units = 0
    for index, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > limit:
            return index
    return len(text)


def _cut(text: str, limit: int) -> int:
    """Where the next chunk ends: the coarsest boundary (paragraph, line, sentence, word) in
    the back half of the window; a hard cut only for a run without spaces."""
    end = _prefix_within(text, limit)
    window = text[:end]
    fallback = 0
    for boundary in _BOUNDARIES:
        ends = [m.end() for m in boundary.finditer(window)]
        if ends and ends[-1] >= end // 2:
            return ends[-1]
        fallback = max(fallback, ends[-1] if ends else 0)
    if fallback:
        return fallback
    while end > 1 and text[end - 1] == "\\":  # never separate an escape from its character
        end -= 1
    return end


def split_text(text: str, limit: int) -> list[str]:
    """Chunks of at most `limit` units, cut at paragraph, line, sentence or word boundaries."""
    text = text.strip()
    chunks: list[str] = []
    while utf16_len(text) > limit:
        cut = _cut(text, limit)
        head, text = text[:cut].rstrip(), text[cut:].lstrip()
        if head:
            chunks.append(head)
    if text:
        chunks.append(text)
    return chunks
