"""Reading a typed yes or no, with the shipped word lists."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.confirm import Answer, ConfirmWords
from bot.texts import load_texts
from tests.conftest import REPO

LABELS = {"yes_label": "Yes, delete everything", "no_label": "No, keep it"}


@pytest.fixture(scope="module")
def words() -> ConfirmWords:
    texts, problems = load_texts(REPO / "flows" / "core" / "messages.yaml")
    assert texts is not None and not problems
    return ConfirmWords.for_delete(texts)


@pytest.mark.parametrize(("typed", "answer"), [
    ("yes", Answer.YES), ("Yes please", Answer.YES), ("ok, delete it all", Answer.YES),
    ("Delete everything.", Answer.YES), ("go ahead", Answer.YES), ("yes delete", Answer.YES),
    ("no", Answer.NO), ("Don\u2019t delete it", Answer.NO), ("cancel", Answer.NO),
    ("no thanks, keep it", Answer.NO), ("wait", Answer.NO),
    ("yes no", Answer.UNCLEAR), ("yes but not my notes", Answer.UNCLEAR),
    ("maybe", Answer.UNCLEAR), ("it", Answer.UNCLEAR), ("", Answer.UNCLEAR),
    ("...", Answer.UNCLEAR), ("sam", Answer.UNCLEAR),
])
def test_only_a_clear_answer_counts(words: ConfirmWords, typed: str, answer: Answer) -> None:
    assert words.read(typed, **LABELS) is answer


def test_the_button_labels_typed_count(words: ConfirmWords) -> None:
    assert words.read("yes, DELETE everything", **LABELS) is Answer.YES
    assert words.read("No, keep it!", **LABELS) is Answer.NO


@given(st.text())
def test_any_text_gets_an_answer(words: ConfirmWords, text: str) -> None:
    assert words.read(text, **LABELS) in Answer
