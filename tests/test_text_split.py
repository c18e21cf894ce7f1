"""Cutting long replies into messages (adapters/text_split.py, used by Telegram and Discord):
lengths in UTF-16 units, cuts at natural boundaries and never inside a grapheme cluster."""

from __future__ import annotations

import random

from adapters.text_split import is_grapheme_boundary, split_text, utf16_len

# Grapheme clusters a reader sees as one character, each more than one code point.
CLUSTERS = [
    "👩\u200d👩\u200d👧\u200d👦",  # a family: four emoji joined by ZWJ
    "🇩🇪", "🇯🇵",  # flags: pairs of regional indicators
    "e\u0301", "a\u0308\u0323",  # a letter with combining accents
    "❤\ufe0f",  # a variation selector
    "1\ufe0f\u20e3",  # a keycap
    "👍🏽",  # a skin tone
    "🏴\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f",  # Scotland's flag
    "\u1100\u1161\u11a8",  # a Hangul syllable written as jamo
    "क्ष",  # an Indic conjunct (consonant, virama, consonant)
]


def test_a_hard_cut_never_splits_a_grapheme_cluster() -> None:
    rng = random.Random(5)
    for _ in range(40):
        clusters = [rng.choice(CLUSTERS) for _ in range(rng.randint(20, 120))]
        text = "".join(clusters)  # no spaces: only hard cuts
        starts, at = {0}, 0
        for cluster in clusters:
            at += len(cluster)
            starts.add(at)
        for limit in (14, 15, 17, 29, 64, 101):  # the longest cluster is 14 units
            chunks = split_text(text, limit)
            assert "".join(chunks) == text
            assert all(utf16_len(chunk) <= limit for chunk in chunks)
            cut = 0
            for chunk in chunks[:-1]:
                cut += len(chunk)
                assert cut in starts, f"cut inside {text[cut - 3:cut + 3]!r} (limit {limit})"
    # One cluster longer than the limit has to be cut somewhere: between code points.
    stacked = "a" + "\u0301" * 30
    assert "".join(split_text(stacked, 10)) == stacked


def test_text_boundaries_are_grapheme_boundaries_too() -> None:
    text = "word " + "\u0301" * 3 + "x" * 20  # a space with accents on it is one cluster
    chunks = split_text(text, 12)
    assert "".join(chunks).replace(" ", "") == text.replace(" ", "")
    assert not any(chunk.startswith("\u0301") for chunk in chunks)


def test_lengths_are_utf16_units_as_the_platforms_count() -> None:
    assert utf16_len("abc") == 3
    assert utf16_len("😀") == 2  # outside the basic plane: a surrogate pair
    assert utf16_len("é") == 1 and utf16_len("e\u0301") == 2
    assert is_grapheme_boundary("a😀b", 1) and not is_grapheme_boundary("e\u0301x", 1)
    assert split_text("a b", 10) == ["a b"]
