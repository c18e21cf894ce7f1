"""Typed answers at a step with buttons (bot/choice_match.py), with the shipped word lists."""

from __future__ import annotations

import pytest

from bot.choice_match import KINDS, AnswerWords, Match, match, normal
from bot.texts import load_texts
from tests.conftest import REPO

SAFE = ["Yes, I feel safe", "No", "I'm not sure", "Menu"]
AGE = ["Yes, I'm 18 or older", "No, I'm under 18"]
STYLES = ["Surprise me", "Open", "Defensive", "Dismissive", "Counter-accusing", "Shut down",
          "Not now", "Menu"]
INTRO = ["Let's start", "Not now", "Menu"]
MENU = ["I was hurt and want to talk", "I crossed a line and want to repair",
        "I want to understand micro-cheating", "Boundary questions",
        "Something else / just browsing"]
KINDS_SHOWN = ["Flirting past just friendly", "Frequent, private messaging",
               "A dating profile still active", "Hiding contact with someone", "Menu"]


@pytest.fixture(scope="module")
def words() -> AnswerWords:
    texts, problems = load_texts(REPO / "flows" / "core" / "messages.yaml")
    assert texts is not None and not problems
    return AnswerWords.parse({kind: texts.get(f"choice_{kind}_words") for kind in KINDS})


def picked(text: str, labels: list[str], words: AnswerWords) -> str | None:
    found = match(text, labels, words)
    return None if found.pick is None else labels[found.pick]


@pytest.mark.parametrize(("text", "label"), [
    ("yes", "Yes, I feel safe"), ("Yeah", "Yes, I feel safe"), ("yep!", "Yes, I feel safe"),
    ("no", "No"), ("nope", "No"), ("not sure", "I'm not sure"), ("idk", "I'm not sure"),
    ("Maybe", "I'm not sure"), ("i dont know", "I'm not sure"), ("I don't know", "I'm not sure"),
])
def test_natural_answers_pick_the_button_that_means_them(text: str, label: str,
                                                         words: AnswerWords) -> None:
    assert picked(text, SAFE, words) == label


def test_yes_and_no_find_a_label_that_starts_with_them(words: AnswerWords) -> None:
    assert picked("yes", AGE, words) == "Yes, I'm 18 or older"
    assert picked("no", AGE, words) == "No, I'm under 18"


@pytest.mark.parametrize(("text", "labels", "label"), [
    ("frequent private messaging", KINDS_SHOWN, "Frequent, private messaging"),
    ("FREQUENT PRIVATE MESSAGING.", KINDS_SHOWN, "Frequent, private messaging"),
    ("lets strat", INTRO, "Let's start"),
    ("defensiv", STYLES, "Defensive"),
    ("dismisive", STYLES, "Dismissive"),
    ("counter accusing", STYLES, "Counter-accusing"),
    ("counter", STYLES, "Counter-accusing"),
    ("messaging", KINDS_SHOWN, "Frequent, private messaging"),
    ("crossed a line", MENU, "I crossed a line and want to repair"),
    ("2", STYLES, "Open"),
])
def test_labels_typed_loosely_pick_their_button(text: str, labels: list[str], label: str,
                                                words: AnswerWords) -> None:
    assert picked(text, labels, words) == label


def test_text_close_to_two_buttons_asks_about_both(words: AnswerWords) -> None:
    found = match("and want to", MENU, words)
    assert found.pick is None
    assert {MENU[i] for i in found.close} == {MENU[0], MENU[1]}


def test_text_roughly_like_one_button_asks_and_never_guesses(words: AnswerWords) -> None:
    found = match("boundaries", MENU, words)
    assert found == Match(close=(3,))


def test_two_buttons_that_both_say_yes_are_asked_about(words: AnswerWords) -> None:
    labels = ["Yes, let's go on", "Yes, but later", "No"]
    assert match("yeah", labels, words) == Match(close=(0, 1))


@pytest.mark.parametrize(("text", "labels"), [
    ("my boyfriend keeps texting his ex and I don't know what to do", MENU),
    ("I cheated", MENU),
    ("help", MENU),
    ("yes", MENU),  # no button here means yes
    ("not", INTRO),  # a short word is not a part of "Not now"
    ("op", STYLES),
    ("9", STYLES),
    ("", SAFE),
    ("?!", SAFE),
])
def test_text_like_no_button_matches_nothing(text: str, labels: list[str],
                                             words: AnswerWords) -> None:
    assert match(text, labels, words) == Match()


def test_without_fuzzy_only_exact_labels_numbers_and_answer_words_count(
        words: AnswerWords) -> None:
    assert match("defensiv", STYLES, words, fuzzy=False) == Match()
    assert match("defensive", STYLES, words, fuzzy=False).pick == 2
    assert match("idk", SAFE, words, fuzzy=False).pick == 2


def test_normal_drops_case_quotes_and_punctuation() -> None:
    assert normal("  Let’s   START! ") == "lets start"
    assert normal("Counter-accusing") == "counter accusing"
    assert normal("Step 1 · A calm conversation") == "step 1 a calm conversation"


def test_word_lists_are_phrases_separated_by_commas() -> None:
    words = AnswerWords.parse({"yes": "Yes, of course", "unsure": "not sure,, "})
    assert words.kind_of("of course") == "yes"
    assert words.kind_of("not sure") == "unsure"
    assert words.kind_of("course") is None


def test_a_phrase_inside_a_label_counts_only_as_whole_words(words: AnswerWords) -> None:
    assert words.label_kind(normal("Honestly, not sure yet")) == "unsure"
    assert words.label_kind(normal("I don't want to")) is None  # "i do" is not in it


def test_one_short_common_word_is_asked_about_never_picked(words: AnswerWords) -> None:
    assert match("help", ["Show me help lines", "Back to where I was"], words) == Match(
        close=(0,))
    assert match("what", ["Yes, I'm safe", "That's not what I meant"], words).pick is None


def test_ok_is_no_yes_at_a_safety_question(words: AnswerWords) -> None:
    assert match("ok", SAFE, words).pick is None
