"""What the learned stage sees of a message: the parts an examples file names, each
L2-normalised and laid side by side for the weights. Nearest examples are found by the
sentence embedding alone (the n-grams' spelling says little about meaning), so a start needs
the examples' embeddings but not their n-grams, once the weights are fitted."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bot.understanding.char_grams import CharGrams
from bot.understanding.embedder import StaticEmbedder

# The names an examples file's `features` may use: data, never code to import.
PARTS = ("embeddings", "char_grams")


@dataclass(frozen=True)
class Features:
    embedder: StaticEmbedder | None
    grams: CharGrams | None

    @property
    def dims(self) -> int:
        return ((self.embedder.dims if self.embedder is not None else 0)
                + (self.grams.dims if self.grams is not None else 0))

    @property
    def recipe(self) -> str:
        parts = []
        if self.embedder is not None:
            parts.append(f"embeddings:{self.embedder.fingerprint}")
        if self.grams is not None:
            parts.append(self.grams.recipe)
        return "+".join(parts)

    def both(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """The vector the weights read and the one nearest examples are found by."""
        meaning = self.embedder.embed(text) if self.embedder is not None else None
        spelling = self.grams.vector(text) if self.grams is not None else None
        if meaning is None:
            return spelling, spelling
        if spelling is None:
            return meaning, meaning
        return np.concatenate([meaning, spelling]), meaning

    def vector(self, text: str) -> np.ndarray:
        return self.both(text)[0]

    def matrix(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dims), dtype=np.float32)
        return np.stack([self.vector(text) for text in texts])

    def neighbour_matrix(self, texts: list[str]) -> np.ndarray:
        if self.embedder is not None:
            return self.embedder.embed_many(texts)
        if not texts:
            return np.zeros((0, self.dims), dtype=np.float32)
        return np.stack([self.grams.vector(text) for text in texts])

    def neighbours_from(self, full: np.ndarray) -> np.ndarray:
        """The neighbour part of full vectors (rows), without computing anything again."""
        return full[..., : self.embedder.dims] if self.embedder is not None else full
