"""Hashed character and word n-grams: the spelling a static embedding averages away
("regret it" against "make sure I regret it", "airtag", "rn", typos) stays visible to the
learned stage, at the cost of a set of a few hundred strings per message."""

from __future__ import annotations

import itertools
import re
import unicodedata
import zlib
from dataclasses import dataclass

import numpy as np

_WORD = re.compile(r"[^\W\d_]+|\d+")
_SPACE = re.compile(r"\s+")
_NUMBER = re.compile(r"\d+")
_MARKUP = re.compile(r"[<>@#*_~|\\/{}\[\]^=+$%`]+")
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})


def normalised(text: str) -> str:
    """Case, accents' composed forms, curly quotes, numbers, markup and runs of spaces made
    alike. That a number is there can say something ("3am", "20 mins"); its digits do not
    (a passcode, the id in a chat mention), and neither do a platform's markup characters:
    the weights would learn them from a few examples and read them into the next."""
    text = unicodedata.normalize("NFKC", text).translate(_QUOTES).casefold()
    return _SPACE.sub(" ", _MARKUP.sub(" ", _NUMBER.sub("0", text))).strip()


@dataclass(frozen=True)
class CharGrams:
    # 8,192 buckets: at 49,000 examples, 4,096 let too many grams share one (the validation
    # split in docs/understanding.md); 16,384 read better still, but its fit needs 4 GB.
    dims: int = 8192
    sizes: tuple[int, ...] = (3, 4, 5)
    max_chars: int = 3072

    @property
    def recipe(self) -> str:
        """What changes the vectors: part of the fitted weights' digest."""
        return (f"char_grams:crc32:{self.dims}:{','.join(map(str, self.sizes))}:words+pairs"
                ":numbers0:no_markup")

    def grams(self, text: str) -> set[str]:
        padded = f" {normalised(text[: self.max_chars])} "
        out = {padded[i:i + n] for n in self.sizes for i in range(len(padded) - n + 1)}
        words = _WORD.findall(padded)
        out.update(f"w:{word}" for word in words)
        out.update(f"b:{a} {b}" for a, b in itertools.pairwise(words))
        return out

    def buckets(self, text: str) -> np.ndarray:
        """The hashed buckets its grams fall in, each once, in order."""
        return np.unique(np.fromiter((zlib.crc32(gram.encode()) % self.dims
                                      for gram in self.grams(text)), dtype=np.int32))

    def vector(self, text: str) -> np.ndarray:
        """1 in each hashed bucket a gram falls in, L2-normalised (zeros for no grams)."""
        vector = np.zeros(self.dims, dtype=np.float32)
        buckets = self.buckets(text)
        if len(buckets):
            vector[buckets] = np.float32(1.0 / np.sqrt(len(buckets)))
        return vector
