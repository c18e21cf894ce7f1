"""Cutting long replies into messages a platform accepts, at natural boundaries.

Telegram and Discord both count message length in UTF-16 code units (an emoji outside the
basic plane counts twice), so that is what is measured here.

A cut never falls inside a grapheme cluster (what a reader sees as one character: an emoji
joined with ZWJ, a flag, a letter with combining accents, a keycap, an emoji with a skin tone
or a variation selector, a Hangul syllable written as jamo). The boundaries follow the rules
of Unicode's UAX #29 that matter for cutting, from `unicodedata`, with no extra dependency.
Only a single cluster longer than the whole limit (hundreds of stacked accents) is cut
inside, between code points, because there is no other way to send it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

_BOUNDARIES = (re.compile(r"\n\s*\n"), re.compile(r"\n"), re.compile(r"(?<=[.!?…])\s+"),
               re.compile(r"\s+"))
ZWJ, ZWNJ = "\u200d", "\u200c"
_MARKS = frozenset({"Mn", "Me", "Mc"})


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _extends(char: str) -> bool:
    """Grapheme_Extend, SpacingMark and ZWJ: joins the character before it (GB9, GB9a)."""
    code = ord(char)
    return (unicodedata.category(char) in _MARKS or char in (ZWJ, ZWNJ)
            or 0xFE00 <= code <= 0xFE0F or 0xE0100 <= code <= 0xE01EF  # variation selectors
            or 0x1F3FB <= code <= 0x1F3FF  # emoji skin tones
            or 0xE0020 <= code <= 0xE007F  # tag characters (subdivision flags)
            or code in (0xFF9E, 0xFF9F))  # halfwidth katakana sound marks


def _prepend(char: str) -> bool:
    """Prepend characters (GB9b): they join the character after them."""
    code = ord(char)
    return (0x0600 <= code <= 0x0605 or code in (0x06DD, 0x070F, 0x0890, 0x0891, 0x08E2,
                                                0x110BD, 0x110CD))


def _regional(char: str) -> bool:
    return 0x1F1E6 <= ord(char) <= 0x1F1FF


def _hangul(char: str) -> str:
    """Hangul syllable type: L, V, T, LV, LVT or '' (GB6 to GB8)."""
    code = ord(char)
    if 0x1100 <= code <= 0x115F or 0xA960 <= code <= 0xA97C:
        return "L"
    if 0x1160 <= code <= 0x11A7 or 0xD7B0 <= code <= 0xD7C6:
        return "V"
    if 0x11A8 <= code <= 0x11FF or 0xD7CB <= code <= 0xD7FB:
        return "T"
    if 0xAC00 <= code <= 0xD7A3:
        return "LV" if (code - 0xAC00) % 28 == 0 else "LVT"
    return ""


_HANGUL_JOINS = {"L": {"L", "V", "LV", "LVT"}, "LV": {"V", "T"}, "V": {"V", "T"},
                 "LVT": {"T"}, "T": {"T"}}


def is_grapheme_boundary(text: str, index: int) -> bool:
    """May `text` be cut before `text[index]` without splitting what a reader sees as one
    character?"""
    if index <= 0 or index >= len(text):
        return True
    before, after = text[index - 1], text[index]
    if before == "\r" and after == "\n":
        return False
    if before in "\r\n" or after in "\r\n":
        return True
    if _extends(after) or _prepend(before):
        return False
    if before == ZWJ:  # GB11: a ZWJ sequence (👩‍👩‍👧) is one picture
        return False
    if _hangul(after) in _HANGUL_JOINS.get(_hangul(before), ()):
        return False
    if _regional(before) and _regional(after):  # GB12/13: flags are pairs of indicators
        run = 0
        while index - 1 - run >= 0 and _regional(text[index - 1 - run]):
            run += 1
        return run % 2 == 0
    # GB9c, simplified: a virama between two letters makes an Indic conjunct.
    return not (unicodedata.combining(before) == 9 and unicodedata.category(after) == "Lo")


def _prefix_within(text: str, limit: int) -> int:
    """How many characters of `text` fit in `limit` UTF-16 units."""
    units = 0
    for index, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > limit:
            return index
    return len(text)


def _cluster_start(text: str, end: int) -> int:
    """`end`, moved back to the start of the grapheme cluster it falls in (0 if the cluster
    starts the text)."""
    while end > 0 and not is_grapheme_boundary(text, end):
        end -= 1
    return end


def _cut(text: str, limit: int) -> int:
    """Where the next chunk ends: the coarsest boundary (paragraph, line, sentence, word) in
    the back half of the window; a hard cut, between grapheme clusters, only for a run
    without spaces."""
    end = _prefix_within(text, limit)
    window = text[:end]
    fallback = 0
    for boundary in _BOUNDARIES:
        ends = [m.end() for m in boundary.finditer(window)
                if is_grapheme_boundary(text, m.end())]
        if ends and ends[-1] >= end // 2:
            return ends[-1]
        fallback = max(fallback, ends[-1] if ends else 0)
    if fallback:
        return fallback
    hard = end
    while hard > 1 and text[hard - 1] == "\\":  # never separate an escape from its character
        hard -= 1
    safe = _cluster_start(text, hard)
    return safe or hard  # one cluster longer than the limit: no choice but to cut inside


def split_text(text: str, limit: int) -> list[str]:
    """Chunks of at most `limit` units, cut at paragraph, line, sentence or word boundaries,
    and never inside a grapheme cluster."""
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


def pack(parts: Sequence[str], limit: int) -> list[str]:
    """A reply's parts as few messages as fit under `limit`: parts joined by a blank line,
    long parts split. One reply reads as one message, and each message sent counts against
    the platform's rate limit for the whole bot."""
    messages: list[str] = []
    current = ""
    for part in parts:
        for chunk in split_text(part, limit):
            joined = f"{current}\n\n{chunk}" if current else chunk
            if utf16_len(joined) <= limit:
                current = joined
            else:
                messages.append(current)
                current = chunk
    if current:
        messages.append(current)
    return messages
