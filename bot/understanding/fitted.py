"""Fitted weights kept beside an examples file, so a start does not pay for the fit.

With character n-grams the ridge solve is over four thousand features and takes seconds;
the weights depend only on the examples, the labels, the ridge and what the features are,
so they are saved with a digest of those and used while the digest matches. When a
counsellor edits the examples, the next start fits again and saves (where it may write).

The spelling index (spelling_index.py), the examples' meaning vectors and the file's parsed
data (kept_source.py) are kept the same way, each in a file of its own: they are rebuilt from
the examples in a few seconds, so they are local caches, not shipped (megabytes each)."""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

SUFFIX = ".weights.npz"
INDEX_SUFFIX = ".spelling.npz"
VECTORS_SUFFIX = ".vectors.npz"
DATA_SUFFIX = ".data.npz"  # the file's parsed data (kept_source.py)


def _beside(examples_file: Path, suffix: str) -> Path:
    return examples_file.with_name(examples_file.stem + suffix)


def weights_path(examples_file: Path) -> Path:
    return _beside(examples_file, SUFFIX)


def index_path(examples_file: Path) -> Path:
    return _beside(examples_file, INDEX_SUFFIX)


def vectors_path(examples_file: Path) -> Path:
    return _beside(examples_file, VECTORS_SUFFIX)


def data_path(examples_file: Path) -> Path:
    return _beside(examples_file, DATA_SUFFIX)


def digest(recipe: str, labels: tuple[str, ...], ridge: float,
           examples: list[tuple[str, str]]) -> str:
    """What the weights were fitted from; any change makes them stale."""
    sha = hashlib.sha256()
    for part in (recipe, "\x1f".join(labels), repr(float(ridge))):
        sha.update(part.encode() + b"\x1e")
    for text, label in examples:
        sha.update(text.encode() + b"\x1f" + label.encode() + b"\x1e")
    return sha.hexdigest()


def load(path: Path, expected: str, shape: tuple[int, int]) -> np.ndarray | None:
    """The saved weights when they were fitted from exactly this; None otherwise."""
    saved = load_arrays(path, expected, ("weights",))
    if saved is None or saved["weights"].shape != shape:
        return None
    return saved["weights"].astype(np.float32)


def load_arrays(path: Path, expected: str, names: tuple[str, ...]
                ) -> dict[str, np.ndarray] | None:
    """The arrays saved under `names` when they came from exactly this; None otherwise."""
    try:
        with np.load(path, allow_pickle=False) as saved:
            if str(saved["digest"]) != expected:
                return None
            return {name: saved[name] for name in names}
    except (OSError, KeyError, ValueError, EOFError):
        return None


def save(path: Path, fitted_from: str, weights: np.ndarray | None = None,
         **arrays: np.ndarray) -> bool:
    """Write atomically (several processes may start at once); False where it may not."""
    if weights is not None:
        arrays["weights"] = weights
    try:
        handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(handle, "wb") as file:
            np.savez(file, digest=np.array(fitted_from), **arrays)
        os.chmod(temporary, 0o644)  # as readable as the examples beside it
        os.replace(temporary, path)
    except OSError as error:
        log.info("learned stage: %s not saved beside the examples (%s)", path.name,
                 error.strerror or type(error).__name__)
        return False
    return True
