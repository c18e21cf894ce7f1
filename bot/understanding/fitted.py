"""Fitted weights kept beside an examples file, so a start does not pay for the fit.

With character n-grams the ridge solve is over four thousand features and takes seconds;
the weights depend only on the examples, the labels, the ridge and what the features are,
so they are saved with a digest of those and used while the digest matches. When a
counsellor edits the examples, the next start fits again and saves (where it may write)."""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

SUFFIX = ".weights.npz"


def weights_path(examples_file: Path) -> Path:
    return examples_file.with_name(examples_file.stem + SUFFIX)


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
    try:
        with np.load(path, allow_pickle=False) as saved:
            if str(saved["digest"]) != expected:
                return None
            weights = saved["weights"]
    except (OSError, KeyError, ValueError):
        return None
    return weights.astype(np.float32) if weights.shape == shape else None


def save(path: Path, fitted_from: str, weights: np.ndarray) -> bool:
    """Write atomically (several processes may start at once); False where it may not."""
    try:
        handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(handle, "wb") as file:
            np.savez(file, digest=np.array(fitted_from), weights=weights)
        os.chmod(temporary, 0o644)  # as readable as the examples beside it
        os.replace(temporary, path)
    except OSError as error:
        log.info("learned stage: fitted weights not saved beside the examples (%s)",
                 error.strerror or type(error).__name__)
        return False
    return True
