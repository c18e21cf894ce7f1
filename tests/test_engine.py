"""The engine's moves return what they produced; nothing is appended behind the caller."""

from __future__ import annotations

from bot.engine import Engine, EngineContext, typed
from bot.flowlang.catalog import Catalog
from bot.session import Position, Session


def _ctx(catalog: Catalog, flow: str = "quiz", state: str = "name") -> EngineContext:
    return EngineContext(Session("test:alice", flow, state), catalog, catalog.registry, {},
                         services=catalog.services)


def test_a_move_returns_its_messages_and_leaves_the_callers_list_alone(
        catalog: Catalog) -> None:
    engine = Engine(catalog, catalog.registry)
    ctx = _ctx(catalog)
    ctx.out.append("said before")
    shown = engine.enter(ctx, Position("quiz", "name"))
    assert shown == ["What is your name?"]
    assert ctx.out == ["said before"]
    assert engine.answer(ctx, "Sam") == ["Hello Sam. Favourite colour?"]
    assert ctx.out == ["said before"]
    assert ctx.session.state == "colour" and ctx.session.slots["name"] == "Sam"


def test_a_move_that_is_not_possible_returns_none_and_changes_nothing(catalog: Catalog) -> None:
    engine = Engine(catalog, catalog.registry)
    ctx = _ctx(catalog)
    engine.enter(ctx, Position("quiz", "name"))
    step = ctx.session.step
    assert engine.press(ctx, 7) is None
    assert engine.skip(ctx) is None  # the name question has no skip
    assert (ctx.session.state, ctx.session.step) == ("name", step)


def test_reshow_repeats_the_step_as_it_was_sent(catalog: Catalog) -> None:
    engine = Engine(catalog, catalog.registry)
    ctx = _ctx(catalog)
    engine.enter(ctx, Position("quiz", "name"))
    first = engine.answer(ctx, "Sam")
    assert engine.reshow(ctx) == first


def test_typed_text_is_compared_as_a_label() -> None:
    assert typed("  \u201cSkip this one.\u201d ") == "skip this one"
    assert typed("RED!") == "red"
