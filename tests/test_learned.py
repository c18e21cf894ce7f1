"""The learned reader: fitted from examples in closed form; it acts only past its threshold,
on messages long enough to read, with its nearest examples agreeing."""

from __future__ import annotations

import numpy as np
import pytest

from bot.understanding.char_grams import CharGrams
from bot.understanding.embedder import StaticEmbedder
from bot.understanding.features import Features
from bot.understanding.learned import Example, LearnedReader, _most_alike
from tests.conftest import REPO

LABELS = ("none", "risk")
EXAMPLES = tuple(
    [Example(t, "risk") for t in (
        "he hits me when he is drunk", "she slapped me hard across the face",
        "he punched me in the stomach", "my partner kicked me down the stairs",
        "he beat me until I could not stand", "she threw a glass at my head")]
    + [Example(t, "none") for t in (
        "can we talk about the messages tonight", "I felt hurt when I saw the texts",
        "I would like us to agree on what is okay with exes", "let's go for a walk and talk",
        "I want to understand why you kept it from me", "thank you for listening to me")])


@pytest.fixture(scope="module")
def reader() -> LearnedReader:
    embedder = StaticEmbedder.load(REPO / "flows" / "models" / "minilm-static")
    return LearnedReader.fit(Features(embedder, CharGrams()), LABELS, EXAMPLES, ridge=0.1,
                             threshold=0.5, min_words=4, neighbours=3, agree=2)


def test_it_reads_wording_it_was_not_given(reader: LearnedReader) -> None:
    reading = reader.read("my husband struck me and I am bruised")
    assert reading.label == "risk" and reading.lead_over("none") > 0
    assert reading.nearest[0][0].label == "risk"
    assert reader.leans_away("my husband struck me and I am bruised", "none") is not None


def test_a_calm_line_does_not_lean_away(reader: LearnedReader) -> None:
    assert reader.leans_away("could we talk about it after dinner tonight", "none") is None


def test_short_messages_are_left_to_the_rules(reader: LearnedReader) -> None:
    assert not reader.can_read("he hit")
    assert reader.leans_away("he hit me", "none") is None


def test_the_threshold_and_the_neighbours_both_decide(reader: LearnedReader) -> None:
    text = "my husband struck me and I am bruised"
    strict = LearnedReader(reader.features, LABELS, EXAMPLES, reader.vectors, reader.weights,
                           threshold=99.0)
    assert strict.leans_away(text, "none") is None
    lonely = LearnedReader(reader.features, LABELS, EXAMPLES, reader.vectors, reader.weights,
                           threshold=0.0, neighbours=3, agree=4)
    assert lonely.leans_away(text, "none") is None


def test_a_message_nearly_the_same_as_an_example_needs_only_the_close_lead(
        reader: LearnedReader) -> None:
    text = "she slapped me hard across the face again"
    reading = reader.read(text)
    assert reading.nearest[0][0].label == "risk" and reading.nearest[0][1] >= 0.8
    lead = reading.lead_over("none")
    strict = LearnedReader(reader.features, LABELS, EXAMPLES, reader.vectors, reader.weights,
                           threshold=lead + 1.0)
    assert strict.leans_away(text, "none") is None  # the weights alone fall short
    close = LearnedReader(reader.features, LABELS, EXAMPLES, reader.vectors, reader.weights,
                          threshold=lead + 1.0, close=0.8, close_lead=lead - 0.1)
    assert close.leans_away(text, "none") is not None
    too_far = LearnedReader(reader.features, LABELS, EXAMPLES, reader.vectors, reader.weights,
                            threshold=lead + 1.0, close=0.99999, close_lead=lead - 0.1)
    assert too_far.leans_away(text, "none") is None
    no_lead = LearnedReader(reader.features, LABELS, EXAMPLES, reader.vectors, reader.weights,
                            threshold=lead + 1.0, close=0.8, close_lead=lead + 0.1)
    assert no_lead.leans_away(text, "none") is None


def test_a_message_nearly_the_same_as_a_usual_example_is_not_close(
        reader: LearnedReader) -> None:
    text = "can we talk about the messages tonight please"
    reading = reader.read(text)
    assert reading.nearest[0][0].label == "none"
    assert not reader.is_close(reading, "none")
    close = LearnedReader(reader.features, LABELS, EXAMPLES, reader.vectors, reader.weights,
                          threshold=99.0, close=0.1, close_lead=-99.0)
    assert close.leans_away(text, "none") is None


def test_a_strong_reading_is_one_by_the_overrule_lead_with_neighbours_agreeing(
        reader: LearnedReader) -> None:
    text = "my husband struck me and I am bruised"
    reading = reader.read(text, 3)
    lead = reading.lead_over("none")

    def with_overrule(overrule: float, agree: int = 2) -> LearnedReader:
        return LearnedReader(reader.features, LABELS, EXAMPLES, reader.vectors, reader.weights,
                             threshold=0.0, neighbours=3, agree=agree, overrule=overrule)

    assert with_overrule(lead - 0.1).is_strong(reading, "none")
    assert not with_overrule(lead + 0.1).is_strong(reading, "none")
    assert not with_overrule(lead - 0.1, agree=4).is_strong(reading, "none")
    assert not with_overrule(0.0).is_strong(reading, "none")  # 0: no reading is
    assert with_overrule(0.0).leans_away(text, "none") is not None


def test_a_sentence_of_a_longer_message_can_lean_away(reader: LearnedReader) -> None:
    risk = "my husband struck me and I am bruised all over."
    text = f"We went for dinner on Friday night. {risk} Then we watched a film together."
    lead = reader.read(risk).lead_over("none")

    def with_sentences(sentence_lead: float, words: int = 6) -> LearnedReader:
        return LearnedReader(reader.features, LABELS, EXAMPLES, reader.vectors, reader.weights,
                             threshold=99.0, neighbours=3, agree=2,
                             sentence_lead=sentence_lead, sentence_words=words)

    found = with_sentences(lead - 0.1).leans_away_in_a_sentence(text, "none")
    assert found is not None and found.lead_over("none") == pytest.approx(lead, abs=1e-5)
    assert with_sentences(lead + 0.1).leans_away_in_a_sentence(text, "none") is None
    assert with_sentences(lead - 0.1, words=20).leans_away_in_a_sentence(text, "none") is None
    assert with_sentences(0.0).leans_away_in_a_sentence(text, "none") is None  # off
    # one sentence alone is the whole message, read already
    assert with_sentences(lead - 0.1).leans_away_in_a_sentence(risk, "none") is None


def test_a_message_spelt_like_risky_examples_leans_away_by_their_vote(
        reader: LearnedReader) -> None:
    spelt = LearnedReader.fit(reader.features, LABELS, EXAMPLES, 0.1, 99.0, neighbours=3,
                              agree=2, spelling_neighbours=3, spelling_lead=0.5)
    text = "he punched me in the stomach again last night"
    found = spelt.leans_away_by_spelling(text, "none")
    assert found is not None and found.label_away("none", 3) == "risk"
    assert found.nearest[0][0].text == "he punched me in the stomach"
    assert spelt.leans_away_by_spelling("can we talk about the messages tonight please",
                                        "none") is None
    assert spelt.leans_away_by_spelling("he hit", "none") is None  # too short to read
    distant = LearnedReader.fit(reader.features, LABELS, EXAMPLES, 0.1, 99.0, neighbours=3,
                                agree=2, spelling_neighbours=3, spelling_lead=0.5,
                                spelling_alike=0.99)
    assert distant.leans_away_by_spelling(text, "none") is None  # the nearest not that alike
    wordy = LearnedReader.fit(reader.features, LABELS, EXAMPLES, 0.1, 99.0, neighbours=3,
                              agree=2, spelling_neighbours=3, spelling_lead=0.5,
                              spelling_words=20)
    assert wordy.leans_away_by_spelling(text, "none") is None  # too few words to go by
    assert reader.spelling is None  # 0 turns it off: no index is built
    assert reader.leans_away_by_spelling(text, "none") is None


def test_fitting_is_the_same_every_time(reader: LearnedReader) -> None:
    again = LearnedReader.fit(reader.features, LABELS, EXAMPLES, 0.1, 0.5)
    assert (again.weights == reader.weights).all()


def test_weights_fitted_before_are_used_as_given(reader: LearnedReader) -> None:
    given = reader.weights * 0
    again = LearnedReader.fit(reader.features, LABELS, EXAMPLES, 0.1, 0.5, weights=given)
    assert again.weights is given
    assert again.read("he punched me in the stomach").scores == {"none": 0.0, "risk": 0.0}


def test_nearest_examples_are_scored_as_a_similarity(reader: LearnedReader) -> None:
    """By meaning alone (the embedding's cosine), whatever the weights read."""
    reading = reader.read("he punched me in the stomach")
    assert reading.nearest[0][0].text == "he punched me in the stomach"
    assert reading.nearest[0][1] == pytest.approx(1.0, abs=1e-5)


def test_numpy_uses_one_blas_thread_unless_the_operator_says_otherwise() -> None:
    """bot/__init__.py: a pool of BLAS threads makes the learned stage's small products many
    times slower on a busy machine; an operator's own setting is kept."""
    import os
    import subprocess
    import sys

    code = "import bot, os; print(os.environ['OPENBLAS_NUM_THREADS'])"
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=60, check=True)
    assert done.stdout.strip() == "1"
    env["OPENBLAS_NUM_THREADS"] = "4"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=60, check=True)
    assert done.stdout.strip() == "4"


def test_the_label_named_is_the_weights_choice_among_the_nearest_examples() -> None:
    from bot.understanding.learned import Reading

    near = tuple((Example(f"e{n}", label), 0.9) for n, label in enumerate(
        ("violence", "violence", "self_harm", "none")))
    scores = {"none": -1.0, "violence": 0.2, "self_harm": 0.6, "coercive_control": 0.9}
    reading = Reading("coercive_control", scores, 0.3, near)
    assert reading.label_away("none", 4) == "self_harm"  # not the count, not one unshown
    assert reading.label_away("none", 2) == "violence"
    alone = Reading("coercive_control", scores, 0.3, ((Example("e", "none"), 0.9),))
    assert alone.label_away("none", 1) == "coercive_control"


@pytest.mark.parametrize("count", [0, 1, 3, 50, 500])
def test_the_most_alike_are_found_by_a_partial_sort_as_by_a_full_one(count: int) -> None:
    similarity = np.random.default_rng(count).random(300).astype(np.float32)
    similarity[[7, 8]] = 2.0  # a tie at the top: the earlier example comes first
    expected = sorted(range(len(similarity)), key=lambda i: (-similarity[i], i))[:count]
    assert _most_alike(similarity, count) == expected


def test_a_label_given_elsewhere_gives_way_to_a_clear_reading_of_the_whole() -> None:
    """The rules name a form ("if I ... then"); the examples name what a message is about."""
    import dataclasses

    labels = ("none", "violence", "coercive_control")
    examples = tuple(
        [Example(t, "violence") for t in (
            "he hits me when he is drunk", "she slapped me hard across the face",
            "he punched me in the stomach", "he beat me until I could not stand")]
        + [Example(t, "coercive_control") for t in (
            "he reads all my messages every night", "she makes me hand over my phone",
            "he tracks my location and checks my bank app", "she decides who I can see")]
        + [Example(t, "none") for t in (
            "can we talk about the messages tonight", "I felt hurt when I saw the texts")])
    embedder = StaticEmbedder.load(REPO / "flows" / "models" / "minilm-static")
    reader = LearnedReader.fit(Features(embedder, CharGrams()), labels, examples, ridge=0.1,
                               threshold=0.5, neighbours=3, agree=2)
    text = "if I say it he will punch me in the face again"
    scores = reader.read(text).scores
    lead = scores["violence"] - scores["coercive_control"]
    assert lead > 0

    def renaming(rename_lead: float) -> LearnedReader:
        return dataclasses.replace(reader, rename_lead=rename_lead)

    assert renaming(lead - 0.05).names_otherwise(text, "coercive_control", "none") == "violence"
    assert renaming(lead + 0.05).names_otherwise(text, "coercive_control", "none") is None
    assert renaming(0.0).names_otherwise(text, "coercive_control", "none") is None  # off
    assert renaming(0.01).names_otherwise(text, "violence", "none") is None  # already so
    assert renaming(0.01).names_otherwise("punch me again", "coercive_control", "none") is None
    # a nearest example must carry the new name, so what is shown supports it
    unlike = dataclasses.replace(renaming(0.01), examples=tuple(
        Example(e.text, "coercive_control") for e in examples))
    assert unlike.names_otherwise(text, "coercive_control", "none") is None


def _closed_form(rows: np.ndarray, signs: np.ndarray, ridge: float) -> np.ndarray:
    design = np.hstack([rows, np.ones((len(rows), 1))]).astype(np.float64)
    return np.linalg.solve(design.T @ design + ridge * np.eye(design.shape[1]), design.T @ signs)


@pytest.mark.parametrize("count", [50, 20])  # more examples than dimensions, and fewer
def test_ridge_summed_in_parts_or_solved_through_the_examples_is_the_closed_form(
        count: int) -> None:
    """Many examples: the normal equations are summed a part at a time, to bound a fit's
    memory. Few: the examples' own square is solved, as small as they are."""
    from bot.understanding.learned import solve_ridge

    rows = np.random.default_rng(count).random((count, 30)).astype(np.float32)
    targets = [{"risk"} if n % 3 else {"none"} for n in range(count)]
    signs = np.array([[c in t for c in ("none", "risk")] for t in targets], float) * 2 - 1
    expected = _closed_form(rows, signs, 0.3)
    parted = solve_ridge(iter([rows[:7], rows[7:13], rows[13:]]), targets, ("none", "risk"),
                         0.3, 30)
    whole = solve_ridge([rows], targets, ("none", "risk"), 0.3, 30)
    np.testing.assert_allclose(parted, expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(whole, expected, rtol=1e-4, atol=1e-5)
