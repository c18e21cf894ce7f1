"""Finding words in a line: spans stay exact, quotes are someone else's, negation counts."""

from __future__ import annotations

from bot.coach.feedback_rules import compiled_rules
from bot.coach.feedback_text import (
    find_kind,
    find_shouting,
    in_reported,
    negated,
    normalise,
    prepare,
)


def test_normalising_keeps_the_length_so_spans_index_the_original() -> None:
    for text in ("I’m SO tired", "İstanbul trip “again”", "ok"):
        assert len(normalise(text)) == len(text)
    assert normalise("You’re ALWAYS late") == "you're always late"


def test_a_quote_with_own_words_around_it_is_reported_speech() -> None:
    t = prepare('When you said "you are crazy" I felt small', compiled_rules())
    start = t.norm.index("you are crazy")
    assert in_reported(t, start, start + len("you are crazy"))
    whole = prepare('"you are crazy"', compiled_rules())  # nothing else: the writer's own words
    assert whole.reported == ()


def test_a_negator_just_before_a_match_negates_it_but_if_does_not() -> None:
    assert negated("i'm not saying you ", 4)
    assert not negated("if you weren't such a ", 4)
    assert not negated("not that it matters, but honestly i think you ", 4)


def test_a_kind_found_in_a_quote_is_not_the_writers() -> None:
    rules = compiled_rules()
    insult = rules.kinds["insult"]
    own = prepare("You are such a liar.", rules)
    quoted = prepare('She told me "you are such a liar" and I froze.', rules)
    assert find_kind(insult, own, 4)
    assert not find_kind(insult, quoted, 4)


def test_shouting_is_capital_words_and_bang_runs_not_acronyms() -> None:
    rules = compiled_rules()
    line = prepare("WHY did you DO that!!! on FB", rules)
    spans = [f.excerpt for f in find_shouting(line, rules)]
    assert "WHY" in spans[0] and "!!!" in spans
    assert not any("FB" in s for s in spans)
