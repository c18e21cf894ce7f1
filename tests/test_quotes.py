"""One quote folding for everything that compares what people type."""

from __future__ import annotations

from bot.quotes import QUOTES, straighten


def test_curly_and_look_alike_quotes_become_straight_one_for_one() -> None:
    typed = "don\u2019t \u201cyes\u201d \u00abnon\u00bb it\u02bcs `x\u00b4"
    assert straighten(typed) == "don't \"yes\" \"non\" it's 'x'"
    assert len(straighten(typed)) == len(typed)
    assert set(QUOTES.values()) == {"'", '"'}
