"""An examples file's data kept beside it: read back while the file's bytes stand, never
in place of a changed file, and kept only when it is the file's own plain data."""

from __future__ import annotations

from pathlib import Path

from bot.flowlang.source import text_overlay
from bot.understanding.fitted import data_path
from bot.understanding.kept_source import kept_source, parsed_source

BODY = "threshold: 0.8\nexamples:\n- {text: \"they said \\\"no\\\" – fine\", label: calm}\n"


def _file(tmp_path: Path, body: str = BODY) -> Path:
    path = tmp_path / "examples.yaml"
    path.write_text(body, encoding="utf-8")
    return path


def test_a_parsed_file_is_kept_and_read_back_with_the_same_data(tmp_path: Path) -> None:
    path = _file(tmp_path)
    assert kept_source(path) is None  # nothing kept yet
    doc, problems = parsed_source(path)
    assert problems == [] and doc is not None and data_path(path).is_file()
    again = kept_source(path)
    assert again is not None and again.data == doc.data and again.path == str(path)
    assert again.where == {}  # no positions: a problem found in it is parsed again


def test_a_changed_file_is_not_read_from_the_kept_copy(tmp_path: Path) -> None:
    path = _file(tmp_path)
    parsed_source(path)
    path.write_text(BODY.replace("0.8", "0.9"), encoding="utf-8")
    assert kept_source(path) is None
    doc, _ = parsed_source(path)
    assert doc is not None and kept_source(path).data["threshold"] == 0.9


def test_a_broken_or_odd_file_is_not_kept(tmp_path: Path) -> None:
    broken = _file(tmp_path, "examples: [unclosed\n")
    doc, problems = parsed_source(broken)
    assert doc is None and problems and not data_path(broken).exists()
    # Keys JSON would turn into text: the copy would not be the file's data.
    odd = tmp_path / "odd.yaml"
    odd.write_text("1: one\nexamples: []\n", encoding="utf-8")
    doc, problems = parsed_source(odd)
    assert doc is not None and problems == [] and not data_path(odd).exists()


def test_data_read_through_an_overlay_is_not_kept_but_a_kept_copy_is_overlaid(
        tmp_path: Path) -> None:
    path = _file(tmp_path)
    with text_overlay(lambda _name, data: {**data, "threshold": 0.1}):
        doc, _ = parsed_source(path)
        assert doc is not None and doc.data["threshold"] == 0.1
        assert not data_path(path).exists()
    parsed_source(path)
    with text_overlay(lambda _name, data: {**data, "threshold": 0.1}):
        assert kept_source(path).data["threshold"] == 0.1
    assert kept_source(path).data["threshold"] == 0.8


def test_a_damaged_copy_is_ignored(tmp_path: Path) -> None:
    path = _file(tmp_path)
    parsed_source(path)
    data_path(path).write_bytes(b"not an npz")
    assert kept_source(path) is None
