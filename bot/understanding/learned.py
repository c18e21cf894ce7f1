"""A linear reader over a message's features (sentence embeddings and character n-grams),
fitted from the examples beside the flows, so an example a counsellor adds changes what the
coach understands at the next start, with nothing to retrain by hand.

Ridge regression, one-vs-rest, in closed form: the same on every machine, and as good as
logistic regression on our validation split (docs/understanding.md has the comparison)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

from bot.understanding.features import Features
from bot.understanding.spelling_index import SpellingIndex, vote

NEAREST_SHOWN = 3
# Examples whose vectors are made and summed into a fit at once: what bounds a fit's memory
# (a part of 8,449-wide rows is 69 MB; all 52,000 examples at once would be 1.8 GB).
FIT_ROWS = 2048
_WORDS = re.compile(r"[^\W\d_]+")
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+|\n+")


@dataclass(frozen=True)
class Example:
    text: str
    label: str
    kinds: tuple[str, ...] = ()


@dataclass(frozen=True)
class Reading:
    """What the learned stage reads in a message: the label it leans to, how far ahead of
    the next label it is (the margin), and the labelled examples nearest to it."""

    label: str
    scores: dict[str, float]
    margin: float
    nearest: tuple[tuple[Example, float], ...]
    # How strongly each kind the examples are marked with (sarcasm, minimising...) is read:
    # above 0 leans to "marked so" (the targets are +1 marked, -1 not).
    kind_scores: dict[str, float] = field(default_factory=dict)

    def lead_over(self, other: str) -> float:
        """How much the best label other than `other` scores above `other`."""
        return _lead(self.scores, other)

    def label_away(self, usual: str, neighbours: int) -> str:
        """The label other than `usual` the weights read most among those the nearest
        examples carry (any, when none does): the weights name the category better than a
        count of neighbours (docs/understanding.md), and an example shown as the reason
        still carries what was decided."""
        near = {example.label for example, _similarity in self.nearest[:neighbours]} - {usual}
        return max(near, key=self.scores.__getitem__) if near else self.best_except(usual)

    def best_except(self, other: str) -> str:
        return max((label for label in self.scores if label != other),
                   key=self.scores.__getitem__)


@dataclass(frozen=True)
class LearnedReader:
    features: Features
    labels: tuple[str, ...]
    examples: tuple[Example, ...]
    vectors: np.ndarray  # the examples' vectors for finding the nearest (Features.both)
    weights: np.ndarray  # (dims + 1) x (labels + kinds)
    threshold: float  # what a caller needs from lead_over/margin before acting on a reading
    min_words: int = 4  # shorter messages say too little to read: only the rules judge them
    neighbours: int = 5  # how many nearest examples are asked ...
    agree: int = 3  # ... and how many of them must lean the same way as the weights
    kinds: tuple[str, ...] = ()  # the kinds the examples are marked with, after the labels
    # A message whose nearest example is this alike in meaning (0 turns it off), and not
    # `usual`, needs only `close_lead` over `usual`: the weights average a rare wording away
    # even when an example says almost the same ("i cut again last night").
    close: float = 0.0
    close_lead: float = 0.0
    # A reading this strong (0: none is), with `agree` nearest examples agreeing, is more than
    # a caller's few words of context can set aside (the screen's setting, in_setting.py).
    overrule: float = 0.0
    # A long message whose whole reads as `usual` is read sentence by sentence too: a risk
    # told in one sentence of a long story is averaged away in the whole. A sentence of
    # `sentence_words` words or more that reads so by `sentence_lead` (0 turns it off), with
    # `agree` nearest examples agreeing, is enough.
    sentence_lead: float = 0.0
    sentence_words: int = 6
    # What the rules and the weights leave is also put to a vote of the `spelling_neighbours`
    # examples spelt most alike (character n-grams), the nearest weighing most; a lead of
    # `spelling_lead` (0 turns it off) over `usual` is enough. Near-wordings of a labelled
    # example are found so, where the weights average them away.
    spelling: SpellingIndex | None = None
    spelling_neighbours: int = 10
    spelling_lead: float = 0.0
    # ... when the nearest of them is at least this alike: an ordinary line shares a few
    # words with some risky example ("the argument about money"), a near-wording shares more.
    spelling_alike: float = 0.0
    # ... and when the message has this many words: a short one ("I'm safe right now") shares
    # most of its few n-grams with a risky example that says the opposite.
    spelling_words: int = 6
    # A label another reading put on a message (the rules' category) gives way to the one the
    # whole message reads as, when that one leads it by this much (0 turns it off) and one of
    # the nearest examples carries it: a rule names a form ("if I ... then"), not what the
    # message is about ("if I lose it and hurt him").
    rename_lead: float = 0.0

    def can_read(self, text: str) -> bool:
        return len(_WORDS.findall(text)) >= self.min_words

    def leans_away(self, text: str, usual: str) -> Reading | None:
        """The reading, when `text` reads as something other than `usual` (none, calm): by
        the threshold over `usual`, with `agree` of its nearest examples not `usual` either,
        so what is shown as the reason supports what was decided (and `label_away` names the
        label those examples carry)."""
        if not self.can_read(text):
            return None
        reading = self.read(text, max(self.neighbours, NEAREST_SHOWN))
        lead = reading.lead_over(usual)
        if lead >= self.threshold and self._agreeing(reading, usual) >= self.agree:
            return reading
        return reading if self.is_close(reading, usual) and lead >= self.close_lead else None

    def leans_away_in_a_sentence(self, text: str, usual: str) -> Reading | None:
        """The reading of the first sentence of a longer message that reads as something
        other than `usual` by `sentence_lead`."""
        parts = [part for part in _SENTENCE_BREAK.split(text) if part.strip()]
        if not self.sentence_lead or len(parts) < 2:
            return None
        for part in parts:
            # The weights first: finding the nearest examples costs most, and most sentences
            # of a long story fall short of the lead without them.
            if len(_WORDS.findall(part)) < self.sentence_words:
                continue
            scored = self._scored(part)
            if _lead(scored[0], usual) < self.sentence_lead:
                continue
            reading = self._reading(*scored, max(self.neighbours, NEAREST_SHOWN))
            if self._agreeing(reading, usual) >= self.agree:
                return reading
        return None

    def leans_away_by_spelling(self, text: str, usual: str) -> Reading | None:
        """The vote of the examples spelt most alike, when it leans away from `usual` by
        `spelling_lead`: those examples, with their similarity, are the reading's nearest."""
        if (self.spelling is None or not self.spelling_lead or not self.can_read(text)
                or len(_WORDS.findall(text)) < self.spelling_words):
            return None
        numbers, similarity = self.spelling.nearest(text, self.spelling_neighbours)
        if not len(numbers) or similarity[0] < self.spelling_alike:
            return None
        found = [self.examples[n] for n in numbers]
        shares = vote([e.label for e in found], similarity, self.labels)
        reading = Reading(max(shares, key=shares.__getitem__), shares, 0.0,
                          tuple(zip(found, map(float, similarity), strict=True)))
        return reading if reading.lead_over(usual) >= self.spelling_lead else None

    def names_otherwise(self, text: str, named: str, usual: str) -> str | None:
        """The label, neither `named` nor `usual`, that the whole of `text` reads as by
        `rename_lead` over `named`, with one of its nearest examples carrying it."""
        if not self.rename_lead or not self.can_read(text):
            return None
        scored = self._scored(text)
        scores = scored[0]
        best = max((label for label in scores if label not in (named, usual)),
                   key=scores.__getitem__, default=None)
        if best is None or named not in scores or scores[best] - scores[named] < self.rename_lead:
            return None
        reading = self._reading(*scored, self.neighbours)
        return best if any(e.label == best for e, _ in reading.nearest) else None

    def is_strong(self, reading: Reading, usual: str) -> bool:
        return (bool(self.overrule) and reading.lead_over(usual) >= self.overrule
                and self._agreeing(reading, usual) >= self.agree)

    def _agreeing(self, reading: Reading, usual: str) -> int:
        return sum(e.label != usual for e, _ in reading.nearest[: self.neighbours])

    def is_close(self, reading: Reading, usual: str) -> bool:
        """The nearest example says nearly the same and is not `usual`."""
        if not self.close or not reading.nearest:
            return False
        nearest, similarity = reading.nearest[0]
        return nearest.label != usual and similarity >= self.close

    @classmethod
    def fit(cls, features: Features, labels: tuple[str, ...],
            examples: tuple[Example, ...], ridge: float, threshold: float,
            min_words: int = 4, neighbours: int = 5, agree: int = 3,
            weights: np.ndarray | None = None, close: float = 0.0,
            close_lead: float = 0.0, overrule: float = 0.0, sentence_lead: float = 0.0,
            sentence_words: int = 6, spelling_neighbours: int = 10,
            spelling_lead: float = 0.0, spelling_alike: float = 0.0,
            spelling_words: int = 6, spelling: SpellingIndex | None = None,
            vectors: np.ndarray | None = None, rename_lead: float = 0.0) -> LearnedReader:
        """Fit, or take `weights` fitted before from the same examples (fitted.py), and
        `spelling` indexed and `vectors` (the examples' neighbour vectors) made before
        from them."""
        texts = [e.text for e in examples]
        kinds = kinds_of(examples)
        if weights is None:
            near: list[np.ndarray] = []

            def parts() -> Iterator[np.ndarray]:
                for start in range(0, len(texts), FIT_ROWS):
                    part = features.matrix(texts[start:start + FIT_ROWS])
                    if vectors is None:  # a copy: the part itself is let go after summing
                        near.append(features.neighbours_from(part).copy())
                    yield part

            weights = solve_ridge(parts(), [{e.label, *e.kinds} for e in examples],
                                  labels + kinds, ridge, features.dims)
            if vectors is None:
                vectors = np.concatenate(near) if near else features.neighbour_matrix([])
        elif vectors is None:
            vectors = features.neighbour_matrix(texts)
        if spelling is None and spelling_lead and features.grams is not None:
            spelling = SpellingIndex.build(features.grams, texts)
        return cls(features, labels, examples, np.ascontiguousarray(vectors), weights, threshold,
                   min_words, neighbours, min(agree, neighbours), kinds, close, close_lead,
                   overrule, sentence_lead, sentence_words, spelling, spelling_neighbours,
                   spelling_lead, spelling_alike, spelling_words, rename_lead)

    def _scored(self, text: str) -> tuple[dict[str, float], np.ndarray, np.ndarray]:
        """The labels' scores, the weights' whole output and the meaning vector."""
        vector, meaning = self.features.both(text)
        raw = np.append(vector, np.float32(1.0)) @ self.weights
        return {label: float(s) for label, s in zip(self.labels, raw, strict=False)}, raw, meaning

    def read(self, text: str, nearest: int = NEAREST_SHOWN) -> Reading:
        return self._reading(*self._scored(text), nearest)

    def _reading(self, scores: dict[str, float], raw: np.ndarray, meaning: np.ndarray,
                 nearest: int) -> Reading:
        kind_scores = {kind: float(s) for kind, s in zip(
            self.kinds, raw[len(self.labels):], strict=True)}
        ranked = sorted(scores.values(), reverse=True)
        similarity = self.vectors @ meaning
        similar = tuple((self.examples[i], float(similarity[i]))
                        for i in _most_alike(similarity, nearest))
        return Reading(max(scores, key=scores.__getitem__), scores,
                       ranked[0] - ranked[1] if len(ranked) > 1 else ranked[0], similar,
                       kind_scores)


def _lead(scores: dict[str, float], usual: str) -> float:
    """How much the best label other than `usual` scores above it (before the nearest
    examples are found, for a sentence that may not need them)."""
    rest = [score for label, score in scores.items() if label != usual]
    return max(rest) - scores[usual] if rest else 0.0


def _most_alike(similarity: np.ndarray, count: int) -> list[int]:
    """The `count` most similar, most similar first (ties by position): a partial sort,
    since only a handful of many thousands of examples are wanted."""
    count = min(count, len(similarity))
    if count <= 0:
        return []
    kth = -np.partition(-similarity, count - 1)[count - 1]
    candidates = np.flatnonzero(similarity >= kth)  # with every tie of the last one
    # Most similar first, then by position (lexsort's last key is its first).
    return candidates[np.lexsort((candidates, -similarity[candidates]))][:count].tolist()


def kinds_of(examples: tuple[Example, ...]) -> tuple[str, ...]:
    return tuple(sorted({kind for example in examples for kind in example.kinds}))


def solve_ridge(parts: Iterable[np.ndarray], targets: list[set[str]], columns: tuple[str, ...],
                ridge: float, dims: int) -> np.ndarray:
    """One-vs-rest ridge with a bias column, as (dims + 1) x columns float32 weights: +1
    where an example is marked with the column's label or kind, -1 where not. The examples'
    vectors come in `parts` of rows, summed into the normal equations one part at a time, so
    a fit never holds a second copy of them all beside the bias column."""
    signs = np.array([[column in target for column in columns] for target in targets],
                     dtype=np.float32).reshape(len(targets), len(columns)) * 2 - 1
    if len(targets) <= dims:
        # Fewer examples than dimensions (a small flows folder, a test): the same weights
        # from the examples' own square, X'(XX' + ridge)^-1 y, instead of the dims' one.
        rows = [np.hstack([part, np.ones((len(part), 1), dtype=np.float32)]) for part in parts]
        design = (np.concatenate(rows) if rows else np.zeros((0, dims + 1), np.float32)
                  ).astype(np.float64)
        kernel = design @ design.T
        kernel[np.diag_indices_from(kernel)] += ridge
        return (design.T @ np.linalg.solve(kernel, signs.astype(np.float64))).astype(np.float32)
    gram = np.zeros((dims + 1, dims + 1), dtype=np.float64)
    moments = np.zeros((dims + 1, len(columns)), dtype=np.float64)
    done = 0
    for part in parts:
        design = np.hstack([part, np.ones((len(part), 1), dtype=np.float32)])
        gram += design.T @ design
        moments += design.T @ signs[done:done + len(part)]
        done += len(part)
    gram[np.diag_indices_from(gram)] += ridge
    return np.linalg.solve(gram, moments).astype(np.float32)
