"""The learned stage's examples file: which model and features, which labels, the labelled
examples and the threshold, in YAML beside the flows (`safety/screen_examples.yaml`,
`coach/feedback_examples.yaml`). Loaded with the flows like any data file: a broken file is a
problem with its position, never a crash mid-conversation."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bot.flowlang.errors import FlowProblem
from bot.flowlang.source import SourceDoc
from bot.paths import shipped_flows
from bot.understanding import fitted
from bot.understanding.char_grams import CharGrams
from bot.understanding.embedder import ModelError, StaticEmbedder
from bot.understanding.features import PARTS, Features
from bot.understanding.kept_source import kept_source, parsed_source
from bot.understanding.learned import Example, LearnedReader, kinds_of
from bot.understanding.spelling_index import SpellingIndex

# The numbers an examples file may set, with their defaults.
NUMBERS = (("ridge", 0.3), ("threshold", 0.5), ("min_words", 4), ("neighbours", 5),
           ("agree", 3), ("close", 0.0), ("close_lead", 0.0), ("overrule", 0.0),
           ("sentence_lead", 0.0), ("sentence_words", 6), ("spelling_neighbours", 10),
           ("spelling_lead", 0.0), ("spelling_alike", 0.0), ("spelling_words", 6),
           ("rename_lead", 0.0))


@functools.lru_cache(maxsize=4)
def _embedder(folder: Path) -> StaticEmbedder:
    """One copy of a model per process, however many catalogs load it."""
    return StaticEmbedder.load(folder)


@functools.lru_cache(maxsize=8)
def _fitted(folder: Path, parts: tuple[str, ...], labels: tuple[str, ...],
            examples: tuple[Example, ...], numbers: tuple[tuple[str, float], ...],
            examples_file: Path) -> LearnedReader:
    """The reader, from what is kept beside `examples_file` where it was made from exactly
    these examples; what is not kept is built, and kept for the next start."""
    n = dict(numbers)
    saved = fitted.weights_path(examples_file)
    features = Features(_embedder(folder) if "embeddings" in parts else None,
                        CharGrams() if "char_grams" in parts else None)
    fitted_from = fitted.digest(features.recipe, labels, n["ridge"],
                                [(e.text, " ".join((e.label, *e.kinds))) for e in examples])
    weights = fitted.load(saved, fitted_from,
                          (features.dims + 1, len(labels) + len(kinds_of(examples))))
    spelling = (_spelling_index(features.grams, examples, fitted_from,
                                fitted.index_path(examples_file))
                if n["spelling_lead"] and features.grams is not None else None)
    vectors_file = fitted.vectors_path(examples_file)
    vectors = _kept_vectors(vectors_file, fitted_from, features, len(examples))
    reader = LearnedReader.fit(features, labels, examples, n["ridge"], n["threshold"],
                               int(n["min_words"]), int(n["neighbours"]), int(n["agree"]),
                               weights, n["close"], n["close_lead"], n["overrule"],
                               n["sentence_lead"], int(n["sentence_words"]),
                               int(n["spelling_neighbours"]), n["spelling_lead"],
                               n["spelling_alike"], int(n["spelling_words"]), spelling,
                               vectors, n["rename_lead"])
    if weights is None:
        fitted.save(saved, fitted_from, reader.weights)
    if vectors is None:
        fitted.save(vectors_file, fitted_from, vectors=reader.vectors)
    return reader


def _kept_vectors(path: Path, fitted_from: str, features: Features, count: int
                  ) -> np.ndarray | None:
    """The examples' meaning vectors kept from an earlier start: embedding forty thousand
    examples again is most of a start's time."""
    kept = fitted.load_arrays(path, fitted_from, ("vectors",))
    if kept is None:
        return None
    vectors = kept["vectors"]
    width = features.embedder.dims if features.embedder is not None else features.dims
    if vectors.dtype != np.float32 or vectors.shape != (count, width):
        return None
    return vectors


def _spelling_index(grams: CharGrams, examples: tuple[Example, ...], fitted_from: str,
                    index: Path) -> SpellingIndex:
    """The index kept beside the examples when it was built from exactly them; else built
    (2.5 s for sixteen thousand examples) and kept there for the next start."""
    saved = fitted.load_arrays(index, fitted_from, ("examples", "starts", "scale"))
    built = (SpellingIndex.from_arrays(grams, saved, len(examples))
             if saved is not None else None)
    if built is None:
        built = SpellingIndex.build(grams, [e.text for e in examples])
        fitted.save(index, fitted_from, **built.arrays())
    return built


def examples_loader(labels: tuple[str, ...], label_key: str
                    ) -> Callable[[Path], tuple[LearnedReader | None, list[FlowProblem]]]:
    """A DataFile loader for examples labelled with one of `labels` under `label_key`."""

    def load(path: Path) -> tuple[LearnedReader | None, list[FlowProblem]]:
        try:
            stat = path.stat()
        except OSError:
            return _load(path, labels, label_key)
        # A file unchanged since it was read (same size and time) is not parsed again: the
        # examples are the biggest files beside the flows, and a catalog is built per language.
        reader, problems = _load_unchanged(path, stat.st_size, stat.st_mtime_ns, labels,
                                           label_key)
        return reader, list(problems)

    return load


@functools.lru_cache(maxsize=8)
def _load_unchanged(path: Path, _size: int, _mtime_ns: int, labels: tuple[str, ...],
                    label_key: str) -> tuple[LearnedReader | None, list[FlowProblem]]:
    return _load(path, labels, label_key)


def _load(path: Path, labels: tuple[str, ...], label_key: str
          ) -> tuple[LearnedReader | None, list[FlowProblem]]:
    doc = kept_source(path)
    spec, problems = _read(doc, labels, label_key) if doc is not None else (None, [])
    if spec is None:  # not kept, or its data has a problem to show at its line
        doc, problems = parsed_source(path)
        if doc is None:
            return None, problems
        spec, problems = _read(doc, labels, label_key)
    if spec is None:
        return None, problems
    folder, parts, examples, numbers = spec
    try:
        return _fitted(folder.resolve(), parts, labels, examples,
                       tuple(sorted(numbers.items())), Path(doc.path).resolve()), []
    except ModelError as error:
        if not doc.where:  # the kept copy has no positions: the file has them
            doc = parsed_source(path)[0] or doc
        return None, [doc.problem(("model",), str(error))]


def _read(doc: SourceDoc, labels: tuple[str, ...], label_key: str
          ) -> tuple[tuple[Path, tuple[str, ...], tuple[Example, ...], dict[str, float]]
                     | None, list[FlowProblem]]:
    data: Any = doc.data
    if not isinstance(data, dict):
        return None, [doc.problem((), "an examples file must be a mapping with model, "
                                      "threshold and examples")]
    problems = []
    model = data.get("model")
    if not isinstance(model, str) or not model.strip():
        problems.append(doc.problem(("model",), "'model' must name the model's folder, "
                                                "relative to this file"))
    numbers = {}
    for key, default in NUMBERS:
        value = data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            problems.append(doc.problem((key,), f"'{key}' must be a number, 0 or more"))
        numbers[key] = float(value) if isinstance(value, (int, float)) else default
    parts = data.get("features", ["embeddings"])
    if (not isinstance(parts, list) or not parts
            or any(not isinstance(part, str) or part not in PARTS for part in parts)):
        problems.append(doc.problem(("features",), f"'features' must list one or more of "
                                                   f"{', '.join(PARTS)}"))
        parts = ["embeddings"]
    raw = data.get("examples")
    if not isinstance(raw, list) or not raw:
        return None, [*problems, doc.problem(("examples",), "'examples' must be a list")]
    examples = []
    for n, item in enumerate(raw):
        text, label = (item.get("text"), item.get(label_key)) if isinstance(item, dict) else (
            None, None)
        if not isinstance(text, str) or not text.strip() or label not in labels:
            problems.append(doc.problem(("examples", n), f"each example needs text and a "
                                                         f"{label_key}: one of "
                                                         f"{', '.join(labels)}"))
            continue
        kinds = item.get("kinds") or ()
        examples.append(Example(text.strip(), label, tuple(str(k) for k in kinds)))
    missing = [label for label in labels if label not in {e.label for e in examples}]
    if missing:
        problems.append(doc.problem(("examples",), f"no example for {', '.join(missing)}"))
    if problems:
        return None, problems
    folder = Path(doc.path).parent / str(model)
    return (folder, tuple(p for p in PARTS if p in parts), tuple(examples), numbers), []


def shipped_reader(relative: str, labels: tuple[str, ...], label_key: str
                   ) -> LearnedReader | None:
    """The shipped examples' reader, for flows folders that bring no examples of their own
    (as the shipped rules serve folders without rules). None when they cannot load."""
    return _shipped(relative, labels, label_key)


@functools.lru_cache(maxsize=4)
def _shipped(relative: str, labels: tuple[str, ...], label_key: str) -> LearnedReader | None:
    reader, _problems = examples_loader(labels, label_key)(shipped_flows() / relative)
    return reader
