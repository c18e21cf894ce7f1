"""The practice partner: answers what was said, uses the person's words, never repeats a
line in a practice nor a tip twice running, and forgives nothing for a "but"."""

from __future__ import annotations

import importlib.util
import itertools
import sys
from types import ModuleType

import pytest

from bot.app import build_registry, load_flows
from bot.coach.coaching import Coaching
from bot.coach.partner import MOVES, STYLES, PartnerBook, service_name
from bot.engine import EngineContext
from bot.flowlang.catalog import Catalog
from bot.pipeline import Coach
from bot.session import Session
from bot.store.memory import MemoryStore
from tests.conftest import REPO, practising

PREFIX, TIP = "Partner: ", "Coach: "
REGISTRY = build_registry()
CALM = "I hear you, and I'm sorry it hurt. Can we keep talking?"


@pytest.fixture(scope="module")
def shipped() -> Catalog:
    return load_flows()


@pytest.fixture(scope="module")
def coaching(shipped: Catalog) -> Coaching:
    coaching = shipped.services.get("coaching")
    assert isinstance(coaching, Coaching)
    return coaching


def _book(shipped: Catalog, role: str) -> PartnerBook:
    book = shipped.services[service_name(role)]
    assert isinstance(book, PartnerBook)
    return book


def _ctx(shipped: Catalog, **slots: str) -> EngineContext:
    session = Session("test:rp", "roleplay", "partner_opens", slots=dict(slots))
    return EngineContext(session, shipped, REGISTRY, {}, services=shipped.services)


def _practise(ctx: EngineContext, replies: list[str]) -> list[str]:
    """The partner's lines for the opener and then each reply, as the flow runs them."""
    REGISTRY.actions["roleplay_start"].func(ctx, None)
    for reply in replies:
        ctx.session.step += 1
        ctx.session.slots["rp_reply"] = reply
        REGISTRY.actions["roleplay_turn"].func(ctx, None)
    return [line[len(PREFIX):] for line in ctx.out if line.startswith(PREFIX)]


def _tips(ctx: EngineContext) -> list[str]:
    return [line[len(TIP):] for line in ctx.out if line.startswith(TIP)]


def _keys(ctx: EngineContext) -> list[str]:
    return ctx.session.slots["rp_used"].split(",")


def _simulator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "simulate_practice", REPO / "tools" / "simulate_practice.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["simulate_practice"] = module
    spec.loader.exec_module(module)
    return module


def test_a_thousand_simulated_practices_repeat_no_line_and_no_tip_twice_running() -> None:
    figures = _simulator().simulate(1000)
    assert figures.sessions == 1000 and figures.turns > 3000
    assert figures.sessions_with_a_repeated_line == 0
    assert figures.tips_twice_in_a_row == 0
    assert figures.quoting > 0  # the person's own words come back
    assert sum(figures.mood_after_calm) / len(figures.mood_after_calm) > 0.5
    assert max(figures.mood_after_jabs) <= -1  # a jab or a "but" never opens them up


@pytest.mark.parametrize("role", ["hurt", "crossed"])
def test_every_style_has_forty_lines_or_more_all_different(shipped: Catalog,
                                                           role: str) -> None:
    book = _book(shipped, role)
    for style in STYLES:
        texts = [line.text for moods in book.styles[style].answers.values()
                 for lines in moods.values() for line in lines]
        assert len(set(texts)) == len(texts) >= 40, style


@pytest.mark.parametrize("role", ["hurt", "crossed"])
@pytest.mark.parametrize("style", STYLES)
def test_eight_identical_replies_still_hear_nine_different_lines(
        shipped: Catalog, role: str, style: str) -> None:
    for user in range(6):
        ctx = _ctx(shipped, rp_role=role, role=role, rp_pick=style, best_opener=CALM)
        ctx.session.user_key = f"test:{user}"
        lines = _practise(ctx, [CALM] * 8)
        assert len(lines) == 9 and len(set(_keys(ctx))) == 9, lines
        tips = _tips(ctx)
        assert all(a != b for a, b in itertools.pairwise(tips)), tips


@pytest.mark.parametrize("reply, move", [
    ("You always put her first.", "accusation"),
    ("I feel hurt when I see you hiding your phone.", "feeling"),
    ("What does he mean to you?", "question"),
    ("Could we put our phones away at dinner?", "request"),
    ("Oh sure, just a friend.", "sarcasm"),
    ("ok", "short"),
    ("From now on, can we both be open about new friends?", "boundary"),
])
def test_the_partner_answers_what_kind_of_thing_was_said(shipped: Catalog, reply: str,
                                                         move: str) -> None:
    ctx = _ctx(shipped, rp_role="hurt", role="hurt", rp_pick="defensive", best_opener=CALM)
    _practise(ctx, [reply])
    assert _keys(ctx)[-1].split(".")[1] == move


def test_a_but_apology_earns_no_forgiveness(shipped: Catalog, coaching: Coaching) -> None:
    for style in STYLES:
        ctx = _ctx(shipped, rp_role="crossed", role="crossed", rp_pick=style,
                   best_opener=CALM)
        _practise(ctx, [CALM, CALM, "I'm sorry, but you were never home."])
        assert _keys(ctx)[-1].split(".")[1] == "but_apology", style
        moods = int(ctx.session.slots["rp_mood"])
        ctx2 = _ctx(shipped, rp_role="crossed", role="crossed", rp_pick=style,
                    best_opener=CALM)
        _practise(ctx2, [CALM, CALM])
        assert moods < int(ctx2.session.slots["rp_mood"]) or moods == -3
        assert _tips(ctx)[-1] in {coaching.tip("crossed", "but"),
                                  coaching.tip("crossed", "by_move", "but_apology")}


def test_calm_specific_lines_open_the_partner_up_over_turns(shipped: Catalog) -> None:
    ctx = _ctx(shipped, rp_role="hurt", role="hurt", rp_pick="defensive",
               best_opener="You always lie to me.")
    _practise(ctx, ["I felt hurt when I saw the messages to Jo last night.",
                    "Can you help me understand what they mean to you?",
                    "I'd like us to agree to be open about new friends."])
    assert _keys(ctx)[0].split(".")[2] == "tense"
    assert _keys(ctx)[-1].split(".")[2] == "opening"


def test_the_partner_uses_the_person_s_words(shipped: Catalog) -> None:
    quoted = named = behaviour = 0
    for user, style in itertools.product(range(20), STYLES):
        ctx = _ctx(shipped, rp_role="hurt", role="hurt", rp_pick=style, best_opener=CALM,
                   behavior="you messaging Jo every night")
        ctx.session.user_key = f"test:{user}"
        lines = _practise(ctx, ["You never tell me anything about your day.",
                                "What does Jo mean to you?"])
        quoted += any("“You never tell me anything" in line for line in lines)
        named += any("Jo" in line for line in lines)
        behaviour += any("me messaging Jo every night" in line for line in lines)
        assert not any("${" in line for line in lines), lines
    assert quoted and named and behaviour


def test_a_practice_runs_eight_turns_then_sums_up_with_the_best_line(
        shipped: Catalog, coaching: Coaching) -> None:
    assert coaching.max_turns == 8
    ctx = _ctx(shipped, rp_role="hurt", role="hurt", rp_pick="open", best_opener=CALM)
    best = "I felt hurt when I saw the messages last night. Can we talk about it?"
    _practise(ctx, ["You always do this.", best, "ok"])
    REGISTRY.actions["roleplay_summary"].func(ctx, None)
    summary = ctx.out[-1]
    assert f"“{best.rstrip('?')}" in summary or f"“{best}" in summary
    assert "What worked:" in summary and "One thing to change:" in summary


def test_someone_who_crossed_a_line_hears_the_partner_who_was_hurt(shipped: Catalog) -> None:
    ctx = _ctx(shipped, rp_role="crossed", role="crossed", rp_pick="defensive",
               best_opener=CALM)
    lines = _practise(ctx, [CALM])
    hurt = {line.text for moods in _book(shipped, "crossed").styles["defensive"].answers.values()
            for ls in moods.values() for line in ls}
    assert all(line in hurt or "“" in line for line in lines)
    assert set(MOVES) == set(_book(shipped, "crossed").styles["defensive"].answers)


async def test_a_whole_practice_through_the_flow(shipped: Catalog) -> None:
    chat = await practising(Coach(shipped, MemoryStore()))
    reply = await chat.send("I feel uneasy about the late texts. Can we talk?")
    assert reply.text.count(PREFIX) == 1
    said = []
    for turn in range(8):
        reply = await chat.send(["You always do this.", "ok", "What does she mean to you?",
                                 "I feel lonely.", "Oh sure.", "Could we talk weekly?",
                                 "I'd like us to agree on no secret chats.",
                                 "Thanks for listening."][turn])
        said += [p for p in reply.parts if p.startswith(PREFIX)]
    assert len(said) == 8 and len(set(said)) == 8
    assert "That's the end of this practice" in reply.text
    assert "Your best line:" in reply.text


@pytest.mark.parametrize("behaviour, said_back", [
    ("you messaging Jo every night", "me messaging Jo every night"),
    ("the late-night messages with Jo that I kept from you",
     "the late-night messages with Jo that you kept from me"),
    ("that your dating app profile is still active", None),
    ("you text your coworker every night", None),  # a clause: not inside a partner line
    ("you " + "really " * 12 + "text", None),
    ("", None),
])
def test_what_happened_is_said_back_as_the_partner_would_say_it(
        shipped: Catalog, behaviour: str, said_back: str | None) -> None:
    from bot.coach.practice import _what_happened
    assert _what_happened(_ctx(shipped), behaviour) == said_back
