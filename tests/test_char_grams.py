"""Character n-grams: spelling kept; case, curly quotes, digits and markup not."""

from __future__ import annotations

import numpy as np

from bot.understanding.char_grams import CharGrams, normalised


def test_case_quotes_and_spaces_are_made_alike() -> None:
    assert normalised("He  SAID \u2018you\u2019ll see\u2019") == "he said 'you'll see'"


def test_a_number_is_kept_its_digits_and_markup_are_not() -> None:
    """A passcode or a chat mention's id is no sign of anything; that a time is there may be."""
    assert normalised("<@987654321098765432> texted at 3am, code 4471") == (
        "0 texted at 0am, code 0")
    assert normalised("@everyone *really* #done a/b") == "everyone really done a b"
    assert normalised("went to A&E, <3") == "went to a&e, 0"
    assert CharGrams().grams("code 4471") == CharGrams().grams("code 1234")


def test_grams_hold_letters_words_and_word_pairs() -> None:
    grams = CharGrams().grams("an AirTag in her bag")
    assert {"air", "irta", "w:airtag", "b:airtag in"} <= grams


def test_a_vector_is_unit_length_and_the_same_every_time() -> None:
    grams = CharGrams(dims=512)
    one, two = grams.vector("put an airtag in her bag"), grams.vector("put an airtag in her bag")
    assert np.array_equal(one, two)
    assert float(np.linalg.norm(one)) == np.float32(1.0) or abs(np.linalg.norm(one) - 1) < 1e-6


def test_nothing_to_read_is_a_zero_vector() -> None:
    assert not CharGrams(dims=64).vector("").any()


def test_a_typo_stays_close_and_another_subject_does_not() -> None:
    grams = CharGrams()
    base = grams.vector("i put a tracker on his car")
    assert base @ grams.vector("i put a trackr on his car") > base @ grams.vector(
        "can we talk about dinner tonight")


def test_the_recipe_names_what_changes_the_vectors() -> None:
    assert CharGrams(dims=64).recipe != CharGrams(dims=128).recipe
