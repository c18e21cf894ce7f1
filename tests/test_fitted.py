"""Fitted weights beside the examples: used only while they match what they came from."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bot.understanding import fitted


def test_the_weights_file_sits_beside_the_examples(tmp_path: Path) -> None:
    assert fitted.weights_path(tmp_path / "screen_examples.yaml") == (
        tmp_path / "screen_examples.weights.npz")


def test_any_change_in_what_was_fitted_changes_the_digest() -> None:
    base = fitted.digest("r", ("none", "risk"), 0.3, [("a", "none"), ("b", "risk")])
    assert base == fitted.digest("r", ("none", "risk"), 0.3, [("a", "none"), ("b", "risk")])
    assert len({base,
                fitted.digest("r2", ("none", "risk"), 0.3, [("a", "none"), ("b", "risk")]),
                fitted.digest("r", ("none", "risk"), 0.4, [("a", "none"), ("b", "risk")]),
                fitted.digest("r", ("none", "risk"), 0.3, [("a", "none"), ("b", "none")]),
                fitted.digest("r", ("none", "risk"), 0.3, [("ab", "none")])}) == 5


def test_saved_weights_load_back_only_for_their_digest_and_shape(tmp_path: Path) -> None:
    path = tmp_path / "x.weights.npz"
    weights = np.arange(6, dtype=np.float32).reshape(3, 2)
    assert fitted.save(path, "d1", weights)
    assert np.array_equal(fitted.load(path, "d1", (3, 2)), weights)
    assert fitted.load(path, "d2", (3, 2)) is None
    assert fitted.load(path, "d1", (4, 2)) is None
    assert fitted.load(tmp_path / "missing.npz", "d1", (3, 2)) is None


def test_a_broken_file_is_stale_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "x.weights.npz"
    path.write_bytes(b"not a zip")
    assert fitted.load(path, "d1", (3, 2)) is None


def test_a_place_it_cannot_write_is_no_error(tmp_path: Path) -> None:
    """An installed coach's flows may be read-only: the fit is kept in memory instead."""
    (tmp_path / "file").write_text("")
    assert not fitted.save(tmp_path / "file" / "x.weights.npz", "d1",
                           np.zeros((1, 1), np.float32))


def test_other_arrays_load_back_by_name_for_their_digest(tmp_path: Path) -> None:
    path = fitted.index_path(tmp_path / "screen_examples.yaml")
    assert path == tmp_path / "screen_examples.spelling.npz"
    starts = np.arange(4, dtype=np.int64)
    assert fitted.save(path, "d1", starts=starts, scale=np.ones(2, np.float32))
    saved = fitted.load_arrays(path, "d1", ("starts", "scale"))
    assert saved is not None and np.array_equal(saved["starts"], starts)
    assert fitted.load_arrays(path, "d2", ("starts",)) is None
    assert fitted.load_arrays(path, "d1", ("weights",)) is None  # not what was saved
