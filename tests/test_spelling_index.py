"""Examples found by spelling: the inverted index gives the cosine of the hashed n-gram
vectors, found without a dense matrix, and the vote weighs the nearest most."""

from __future__ import annotations

import numpy as np
import pytest

from bot.understanding.char_grams import CharGrams
from bot.understanding.spelling_index import SpellingIndex, vote

TEXTS = ["he gets rough after the pub", "she checks my phone every night",
         "we had a lovely dinner on friday", "i keep thinking nobody would miss me",
         "he gets rough when he drinks", "", "can we talk about the messages tonight"]


def test_the_nearest_are_the_dense_cosine_in_order() -> None:
    grams = CharGrams()
    index = SpellingIndex.build(grams, TEXTS)
    query = "he gets rough after a few pints at the pub"
    dense = np.stack([grams.vector(t) for t in TEXTS]) @ grams.vector(query)
    numbers, similarity = index.nearest(query, 3)
    assert list(numbers) == list(np.argsort(-dense, kind="stable")[:3])
    assert similarity == pytest.approx(np.sort(dense)[::-1][:3], abs=1e-5)
    assert TEXTS[numbers[0]] == "he gets rough after the pub"


def test_nothing_to_spell_finds_nothing() -> None:
    index = SpellingIndex.build(CharGrams(), TEXTS)
    numbers, similarity = index.nearest("", 3)
    assert len(numbers) == 0 and len(similarity) == 0
    assert len(index.nearest("x", 99)[0]) == len(TEXTS)  # never more than there are


def test_the_vote_weighs_the_nearest_most() -> None:
    names = ("none", "violence")
    shares = vote(["violence", "none", "none"], np.array([0.9, 0.5, 0.5]), names)
    assert shares["violence"] > 0.99 and sum(shares.values()) == pytest.approx(1.0)
    even = vote(["violence", "none"], np.array([0.5, 0.5]), names)
    assert even == pytest.approx({"none": 0.5, "violence": 0.5})
    assert vote([], np.zeros(0), names) == {"none": 0.0, "violence": 0.0}


def test_the_index_comes_back_from_its_arrays_only_for_the_same_examples() -> None:
    grams = CharGrams()
    index = SpellingIndex.build(grams, TEXTS)
    again = SpellingIndex.from_arrays(grams, index.arrays(), len(TEXTS))
    assert again is not None
    query = "he gets rough when he has had a drink"
    assert again.nearest(query, 3)[0].tolist() == index.nearest(query, 3)[0].tolist()
    assert SpellingIndex.from_arrays(grams, index.arrays(), len(TEXTS) + 1) is None
    assert SpellingIndex.from_arrays(CharGrams(dims=1024), index.arrays(), len(TEXTS)) is None
    broken = {**index.arrays(), "examples": -index.examples - 1}  # not numbers of examples
    assert SpellingIndex.from_arrays(grams, broken, len(TEXTS)) is None
