"""What of the person's words the practice partner may say back."""

from __future__ import annotations

from bot.coach.their_words import find_name, quote

NOT_NAMES = frozenset({"i", "i'm", "monday", "instagram"})


def test_a_quote_is_the_first_sentence_cut_at_ten_words() -> None:
    assert quote("You never tell me anything. And then you lie.") == (
        "“You never tell me anything”")
    assert quote("I saw the late messages to your ex every single night this month") == (
        "“I saw the late messages to your ex every single…”")
    assert quote("   ") == ""
    assert quote("ok") == "“ok”"
    assert quote("I felt hurt. Can we talk?", whole=True) == "“I felt hurt. Can we talk?”"


def test_a_name_is_a_capitalised_word_inside_a_sentence() -> None:
    assert find_name(["the late-night messages with Jo that I kept from you"],
                     NOT_NAMES) == "Jo"
    assert find_name(["I saw you on Instagram on Monday with Sam's photos"],
                     NOT_NAMES) == "Sam"
    assert find_name(["Honestly, I'm tired. Really tired."], NOT_NAMES) is None
    assert find_name(["", "you and Alex"], NOT_NAMES) == "Alex"
