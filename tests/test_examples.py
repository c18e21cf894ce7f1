"""The learned stage's examples files: the shipped ones load and are what the builder writes,
never hold a hold-out message, and a broken file is a problem with its line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

from bot.coach.feedback_rules import VERDICTS
from bot.safety.screen import LABELS
from bot.understanding import fitted
from bot.understanding.examples import _fitted, _load_unchanged, examples_loader
from tests.conftest import REPO
from tools.build_examples import SPENT, rendered

SCREEN = REPO / "flows" / "safety" / "screen_examples.yaml"
COACH = REPO / "flows" / "coach" / "feedback_examples.yaml"


def test_the_shipped_examples_load() -> None:
    screen, problems = examples_loader(LABELS, "category")(SCREEN)
    assert problems == [] and screen is not None and len(screen.examples) > 2000
    coach, problems = examples_loader(VERDICTS, "verdict")(COACH)
    assert problems == [] and coach is not None and coach.labels == VERDICTS
    # The file's numbers reach the reader: the screen reads a message nearly the same as a
    # risky example; the coach does not.
    assert (screen.close, screen.close_lead) == (0.8, 0.4) and coach.close == 0.0
    # ... and reads past a negation or a reassurance of the rules at a lead of 1.0
    assert screen.overrule == 1.0 and coach.overrule == 0.0
    # ... and a longer message sentence by sentence
    assert (screen.sentence_lead, screen.sentence_words) == (1.2, 6)
    assert coach.sentence_lead == 0.0
    # ... and puts what is left to the vote of the examples spelt most alike
    assert (screen.spelling_neighbours, screen.spelling_lead, screen.spelling_alike,
            screen.spelling_words) == (10, 0.6, 0.45, 6)
    assert screen.spelling is not None and coach.spelling is None
    # ... and names a rules flag by what the whole message reads as
    assert screen.rename_lead == 0.8 and coach.rename_lead == 0.0


def test_the_flows_hold_what_the_builder_writes() -> None:
    for path, text in rendered().items():
        assert path.read_text(encoding="utf-8") == text, (
            f"{path.name} differs: run .venv/bin/python tools/build_examples.py")


def test_the_shipped_weights_were_fitted_from_the_shipped_examples(tmp_path: Path) -> None:
    """A start uses the weights beside the examples only while they match; the shipped ones
    must match, or every start would fit again."""
    for path, labels, key in ((SCREEN, LABELS, "category"), (COACH, VERDICTS, "verdict")):
        saved = fitted.weights_path(path)
        before = saved.read_bytes()
        reader, _problems = examples_loader(labels, key)(path)
        assert reader is not None and saved.read_bytes() == before
        copy = tmp_path / path.parent.name / path.name
        copy.parent.mkdir()
        copy.write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
        (tmp_path / "models").symlink_to(REPO / "flows" / "models") if not (
            tmp_path / "models").exists() else None
        np.testing.assert_array_equal(
            np.load(saved)["weights"], reader.weights,
            err_msg=f"{saved.name} is stale: run .venv/bin/python tools/build_examples.py")


def test_no_fresh_hold_out_message_is_an_example() -> None:
    held = set()
    for path in (REPO / "tests" / "data").glob("holdout_fresh*/*.yaml"):
        if path.parent.name in SPENT:
            continue
        held |= {" ".join(i["text"].split()).casefold()
                 for i in yaml.safe_load(path.read_text(encoding="utf-8"))["items"]}
    for path in (SCREEN, COACH):
        examples = yaml.safe_load(path.read_text(encoding="utf-8"))["examples"]
        assert not held & {e["text"].casefold() for e in examples}


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "safety" / "screen_examples.yaml"
    path.parent.mkdir(parents=True)
    (tmp_path / "models").symlink_to(REPO / "flows" / "models")
    path.write_text(body, encoding="utf-8")
    return path


def test_a_wrong_label_is_reported_at_its_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "model: ../models/minilm-static\nthreshold: 0.8\nexamples:\n"
                            "- {text: he hit me hard, category: violence}\n"
                            "- {text: we talked, category: fine}\n"
                            "- {text: a, category: none}\n")
    reader, problems = examples_loader(LABELS, "category")(path)
    assert reader is None
    assert [(p.line, p.message.split(":")[0]) for p in problems] == [
        (5, "each example needs text and a category"),
        (4, "no example for coercive_control, self_harm")]


def test_a_missing_model_is_one_problem(tmp_path: Path) -> None:
    path = _write(tmp_path, "model: ../models/nowhere\nexamples:\n"
                            + "".join(f"- {{text: example {label}, category: {label}}}\n"
                                      for label in LABELS))
    reader, problems = examples_loader(LABELS, "category")(path)
    assert reader is None and len(problems) == 1 and "missing config.json" in str(problems[0])


def test_a_negative_threshold_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, "model: ../models/minilm-static\nthreshold: -1\nexamples:\n"
                            + "".join(f"- {{text: example {label}, category: {label}}}\n"
                                      for label in LABELS))
    _reader, problems = examples_loader(LABELS, "category")(path)
    assert ["'threshold' must be a number, 0 or more" in p.message for p in problems] == [True]


def test_an_unchanged_file_is_read_once_and_an_edited_one_again(tmp_path: Path) -> None:
    """A catalog per language reads the same examples: parsed once while the file stands."""
    body = "model: ../models/minilm-static\nthreshold: 0.8\nexamples:\n" + "".join(
        f"- {{text: a first example for {label}, category: {label}}}\n" for label in LABELS)
    path = _write(tmp_path, body)
    load = examples_loader(LABELS, "category")
    first, problems = load(path)
    assert first is not None and problems == []
    assert load(path)[0] is first  # not parsed again
    path.write_text(body + "- {text: one more example of violence, category: violence}\n",
                    encoding="utf-8")
    again, _ = load(path)
    assert again is not None and again is not first and len(again.examples) == len(LABELS) + 1


def test_the_spelling_index_is_kept_beside_the_examples_and_read_back(tmp_path: Path) -> None:
    """A start builds the index once and keeps it; the next start reads it instead, and an
    edit to the examples builds it again."""
    body = ("model: ../models/minilm-static\nfeatures: [embeddings, char_grams]\n"
            "threshold: 0.8\nspelling_lead: 0.6\nexamples:\n"
            + "".join(f"- {{text: a first example for {label}, category: {label}}}\n"
                      for label in LABELS))
    path = _write(tmp_path, body)
    first, problems = examples_loader(LABELS, "category")(path)
    kept = fitted.index_path(path)
    assert problems == [] and first is not None and first.spelling is not None
    assert kept.is_file()
    built = kept.stat().st_mtime_ns
    _fitted.cache_clear()  # as a new process starts
    _load_unchanged.cache_clear()
    again, _ = examples_loader(LABELS, "category")(path)
    assert again is not None and again is not first and kept.stat().st_mtime_ns == built
    assert again.spelling.nearest("a first example for violence", 2)[0].tolist() == (
        first.spelling.nearest("a first example for violence", 2)[0].tolist())
    path.write_text(body + "- {text: one more example of violence, category: violence}\n",
                    encoding="utf-8")
    edited, _ = examples_loader(LABELS, "category")(path)
    assert edited is not None and len(edited.spelling.scale) == len(LABELS) + 1


def test_the_examples_vectors_are_kept_and_read_back_only_while_they_fit(tmp_path: Path
                                                                        ) -> None:
    """Embedding the examples is most of a start: kept beside them, read back at the next
    start with the same result, built again after an edit or when the kept file is wrong."""
    body = "model: ../models/minilm-static\nthreshold: 0.8\nexamples:\n" + "".join(
        f"- {{text: a first example for {label}, category: {label}}}\n" for label in LABELS)
    path = _write(tmp_path, body)
    first, problems = examples_loader(LABELS, "category")(path)
    kept = fitted.vectors_path(path)
    assert problems == [] and first is not None and kept.is_file()
    built = kept.stat().st_mtime_ns
    _fitted.cache_clear()  # as a new process starts
    _load_unchanged.cache_clear()
    again, _ = examples_loader(LABELS, "category")(path)
    assert again is not None and again is not first and kept.stat().st_mtime_ns == built
    np.testing.assert_array_equal(again.vectors, first.vectors)
    # A kept file of the wrong shape is not used; the vectors are made and kept again.
    with np.load(kept) as saved:
        fitted.save(kept, str(saved["digest"]), vectors=saved["vectors"][:1])
    _fitted.cache_clear()
    _load_unchanged.cache_clear()
    mended, _ = examples_loader(LABELS, "category")(path)
    assert mended is not None and mended.vectors.shape == first.vectors.shape
    assert np.load(kept)["vectors"].shape == first.vectors.shape
    path.write_text(body + "- {text: one more example of violence, category: violence}\n",
                    encoding="utf-8")
    edited, _ = examples_loader(LABELS, "category")(path)
    assert edited is not None and len(edited.vectors) == len(LABELS) + 1
    assert len(np.load(kept)["vectors"]) == len(LABELS) + 1


def test_a_kept_file_with_a_problem_still_reports_its_line(tmp_path: Path) -> None:
    """The kept copy of the data has no positions: a problem found in it (here, a model
    removed after the copy was kept) points at its line all the same."""
    body = "threshold: 0.8\nmodel: ../models/minilm-static\nexamples:\n" + "".join(
        f"- {{text: a first example for {label}, category: {label}}}\n" for label in LABELS)
    path = _write(tmp_path, body)
    assert examples_loader(LABELS, "category")(path)[0] is not None
    (tmp_path / "models").unlink()
    (tmp_path / "models").mkdir()
    _fitted.cache_clear()
    _load_unchanged.cache_clear()
    reader, problems = examples_loader(LABELS, "category")(path)
    assert reader is None and [p.line for p in problems] == [2]
