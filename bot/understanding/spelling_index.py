"""The labelled examples found by how a message is spelt: the share of character n-gram
buckets it has in common with each, through an index from bucket to examples. Near-wordings
("he gets rough after the pub", "gets rough after a few pints") are found this way when the
linear weights average them away, and the examples found are the reason shown."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bot.understanding.char_grams import CharGrams

# How sharply the nearest outweigh the rest in a vote: exp(similarity / SHARPNESS).
SHARPNESS = 0.05


@dataclass(frozen=True)
class SpellingIndex:
    grams: CharGrams
    examples: np.ndarray  # example numbers, grouped by bucket
    starts: np.ndarray  # where each bucket's group begins in `examples` (dims + 1)
    scale: np.ndarray  # 1 / sqrt(buckets) for each example

    @classmethod
    def build(cls, grams: CharGrams, texts: list[str]) -> SpellingIndex:
        buckets = [grams.buckets(text) for text in texts]
        sizes = np.array([len(b) for b in buckets], dtype=np.int64)
        flat = np.concatenate(buckets) if buckets else np.zeros(0, dtype=np.int32)
        # the smallest integers that hold every example's number: a few million of them
        kind = np.int16 if len(texts) < 2**15 else np.int32
        owners = np.repeat(np.arange(len(texts), dtype=kind), sizes)
        order = np.argsort(flat, kind="stable")
        starts = np.searchsorted(flat[order], np.arange(grams.dims + 1))
        scale = np.where(sizes > 0, 1.0 / np.sqrt(np.maximum(sizes, 1)), 0.0)
        return cls(grams, owners[order], starts.astype(np.int64), scale.astype(np.float32))

    def arrays(self) -> dict[str, np.ndarray]:
        """What `from_arrays` takes back: kept beside the examples (fitted.py)."""
        return {"examples": self.examples, "starts": self.starts, "scale": self.scale}

    @classmethod
    def from_arrays(cls, grams: CharGrams, arrays: dict[str, np.ndarray],
                    count: int) -> SpellingIndex | None:
        """The index saved for `count` examples by these grams; None if it does not fit."""
        examples, starts, scale = arrays["examples"], arrays["starts"], arrays["scale"]
        if (len(starts) != grams.dims + 1 or len(scale) != count
                or (len(starts) and int(starts[-1]) != len(examples))
                or (len(examples) and (int(examples.min()) < 0
                                       or int(examples.max()) >= count))):
            return None
        return cls(grams, examples, starts.astype(np.int64), scale.astype(np.float32))

    def nearest(self, text: str, count: int) -> tuple[np.ndarray, np.ndarray]:
        """The `count` most alike examples (their numbers) and their cosine similarity."""
        mine = self.grams.buckets(text)
        if not len(mine) or not len(self.scale):
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        starts, ends = self.starts[mine], self.starts[mine + 1]
        lengths = ends - starts
        positions = (np.repeat(starts - np.cumsum(lengths) + lengths, lengths)
                     + np.arange(int(lengths.sum())))
        shared = np.bincount(self.examples[positions], minlength=len(self.scale))
        similarity = shared * self.scale / np.sqrt(len(mine))
        count = min(count, len(similarity))
        top = np.argpartition(-similarity, count - 1)[:count]
        top = top[np.argsort(-similarity[top], kind="stable")]
        return top, similarity[top].astype(np.float32)


def vote(labels: list[str], similarity: np.ndarray, names: tuple[str, ...]) -> dict[str, float]:
    """Each label's share of the nearest examples' say, the nearest weighing most."""
    weights = np.exp((similarity - similarity.max()) / SHARPNESS) if len(similarity) else []
    total = float(np.sum(weights)) or 1.0
    shares = dict.fromkeys(names, 0.0)
    for label, weight in zip(labels, weights, strict=True):
        shares[label] += float(weight) / total
    return shares
