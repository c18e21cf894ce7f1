"""The engine's moves return what they produced; nothing is appended behind the caller."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.app import load_catalog
from bot.engine import Engine, EngineContext, typed
from bot.flowlang.catalog import Catalog
from bot.person_words import PERSON_WORDS_FILE
from bot.session import Position, Session
from tests.conftest import CORE_FLOWS, REPO


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


NOTICED = """\
id: noticed
title: Noticed
start: what
states:
  what:
    say: What have you noticed?
    ask: {slot: behavior, max_length: 40, address: partner, strip_prefix: ["I've noticed"]}
    next: opener
  opener:
    say: "I've noticed ${behavior}."
    choices:
      - {label: Again, to: what}
      - {label: Done, flow: menu}
"""


def _noticed_catalog(tmp_path: Path) -> Catalog:
    flows = tmp_path / "flows"
    shutil.copytree(CORE_FLOWS, flows)
    shutil.copy(REPO / "flows" / PERSON_WORDS_FILE, flows / PERSON_WORDS_FILE)
    (flows / "noticed.yaml").write_text(NOTICED, encoding="utf-8")
    return load_catalog([flows])


@pytest.mark.parametrize(("typed", "kept"), [
    ("I've noticed he texts his coworker", "you text your coworker"),
    ("I've noticed I saw him flirting with Sam", "you flirting with Sam"),
    ("he saw him", "he saw him"),
    # Said to the partner it would pass max_length (40): kept as typed, prefix taken off.
    ("I've noticed he's at the gym with his ex most nights",
     "he's at the gym with his ex most nights"),
])
def test_an_answer_is_kept_as_said_to_whom_the_ask_names(tmp_path: Path, typed: str,
                                                         kept: str) -> None:
    catalog = _noticed_catalog(tmp_path)
    engine = Engine(catalog, catalog.registry)
    ctx = _ctx(catalog, "noticed", "what")
    engine.enter(ctx, Position("noticed", "what"))
    assert engine.answer(ctx, typed) == [f"I've noticed {kept}."]
    assert ctx.session.slots["behavior"] == kept
