"""The learned stage's features: the named parts side by side."""

from __future__ import annotations

import numpy as np
import pytest

from bot.understanding.char_grams import CharGrams
from bot.understanding.embedder import StaticEmbedder
from bot.understanding.features import Features
from tests.conftest import REPO


@pytest.fixture(scope="module")
def embedder() -> StaticEmbedder:
    return StaticEmbedder.load(REPO / "flows" / "models" / "minilm-static")


def test_both_parts_lie_side_by_side(embedder: StaticEmbedder) -> None:
    features = Features(embedder, CharGrams(dims=128))
    vector = features.vector("she reads my messages every night")
    assert vector.shape == (embedder.dims + 128,) == (features.dims,)
    assert np.array_equal(vector[: embedder.dims], embedder.embed(
        "she reads my messages every night"))


def test_nearest_examples_are_found_by_meaning_alone(embedder: StaticEmbedder) -> None:
    features = Features(embedder, CharGrams(dims=64))
    full, meaning = features.both("he said I would regret it")
    assert np.array_equal(meaning, embedder.embed("he said I would regret it"))
    assert np.array_equal(features.neighbours_from(full[None, :])[0], meaning)
    assert np.array_equal(features.neighbour_matrix(["he said I would regret it"])[0], meaning)
    grams_only = Features(None, CharGrams(dims=64))
    assert np.array_equal(grams_only.both("x y z")[1], grams_only.vector("x y z"))


def test_the_recipe_changes_with_the_parts(embedder: StaticEmbedder) -> None:
    recipes = {Features(embedder, None).recipe, Features(None, CharGrams()).recipe,
               Features(embedder, CharGrams()).recipe}
    assert len(recipes) == 3
    assert embedder.fingerprint in Features(embedder, None).recipe


def test_no_texts_is_an_empty_matrix(embedder: StaticEmbedder) -> None:
    assert Features(embedder, CharGrams(dims=64)).matrix([]).shape == (0, embedder.dims + 64)
