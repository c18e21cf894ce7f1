"""Static sentence embeddings: normalised, deterministic, closer for paraphrases, and a clear
error for a model folder that is not whole."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from bot.understanding.embedder import ModelError, StaticEmbedder
from tests.conftest import REPO

MODEL = REPO / "flows" / "models" / "minilm-static"


@pytest.fixture(scope="module")
def embedder() -> StaticEmbedder:
    return StaticEmbedder.load(MODEL)


def test_an_embedding_is_unit_length_and_the_same_every_time(embedder: StaticEmbedder) -> None:
    first = embedder.embed("I saw the messages and I feel hurt")
    assert first.shape == (embedder.dims,) and first.dtype == np.float32
    assert abs(float(np.linalg.norm(first)) - 1) < 1e-5
    assert np.array_equal(first, embedder.embed("I saw the messages and I feel hurt"))


def test_a_paraphrase_is_nearer_than_another_subject(embedder: StaticEmbedder) -> None:
    hit, struck, talk = (embedder.embed(t) for t in (
        "he hit me", "he struck me across the face", "can we talk tonight"))
    assert hit @ struck > hit @ talk + 0.2


@pytest.mark.parametrize("text", ["", "   ", "🙂🙂", "\x00"])
def test_text_with_no_known_token_is_a_zero_vector(embedder: StaticEmbedder,
                                                   text: str) -> None:
    assert not embedder.embed(text).any()


def test_very_long_text_is_cut_not_refused(embedder: StaticEmbedder) -> None:
    assert embedder.embed("words " * 50_000).any()


def test_a_folder_missing_a_file_is_named(tmp_path: Path) -> None:
    shutil.copytree(MODEL, tmp_path / "m")
    (tmp_path / "m" / "tokenizer.json").unlink()
    with pytest.raises(ModelError, match=r"missing tokenizer\.json"):
        StaticEmbedder.load(tmp_path / "m")


def test_vectors_that_do_not_fit_the_tokenizer_are_refused(tmp_path: Path) -> None:
    from safetensors.numpy import save_file

    shutil.copytree(MODEL, tmp_path / "m")
    save_file({"embeddings": np.zeros((10, 4), dtype=np.int8)},
              str(tmp_path / "m" / "model.safetensors"))
    with pytest.raises(ModelError, match="do not fit"):
        StaticEmbedder.load(tmp_path / "m")
