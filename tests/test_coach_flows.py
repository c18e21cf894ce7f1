"""The coach's flow actions and conditions on the shipped flows: the practice partner's two
roles, no line said twice running, watching a partner never kept as a commitment, and no way
back into a rehearsal once violence or control has been shared."""

from __future__ import annotations

import pytest

from bot.app import build_registry, load_flows
from bot.coach.actions import owning_slips
from bot.coach.coaching import Coaching
from bot.engine import EngineContext
from bot.flowlang.catalog import Catalog
from bot.pipeline import Coach
from bot.session import Session
from bot.store.memory import MemoryStore
from tests.conftest import Chat

REHEARSALS = ("talk", "roleplay", "repair")

REGISTRY = build_registry()


@pytest.fixture(scope="module")
def shipped() -> Catalog:
    return load_flows()


@pytest.fixture
def coaching(shipped: Catalog) -> Coaching:
    coaching = shipped.services.get("coaching")
    assert isinstance(coaching, Coaching)
    return coaching


def _ctx(shipped: Catalog, **slots: str) -> EngineContext:
    session = Session("test:rp", "roleplay", "partner_opens", slots=dict(slots))
    return EngineContext(session, shipped, REGISTRY, {}, services=shipped.services)


def test_a_defence_is_noticed_in_an_apology(coaching: Coaching) -> None:
    assert owning_slips("I'm sorry, but you were never home.", coaching) == ["but"]
    assert owning_slips("Honestly it was nothing. Nothing happened.", coaching) == ["excuse"]
    assert owning_slips("I'm sorry. I did it, and I can see it hurt you.", coaching) == []
    assert owning_slips("I'm sorry. I'll be open about it, but only if you want to hear it.",
                        coaching) == ["but"]
    assert owning_slips("I wanted to talk but I was scared.", coaching) == []


def test_slot_policing_reads_the_slot(shipped: Catalog) -> None:
    condition = REGISTRY.conditions["slot_policing"].func
    ctx = _ctx(shipped, commit_open="I will check his phone every night and track his location",
               commit_closeness="I will share my location with you when I'm out late")
    assert condition(ctx, "commit_open") is True
    assert condition(ctx, "commit_closeness") is False
    assert condition(ctx, "commit_nothing") is False


# -- safety: no way back into a rehearsal --------------------------------------------------

def _rehearsal_positions(session: Session) -> list[str]:
    places = [*session.calls, *session.back, *([session.last] if session.last else [])]
    return [f"{p.flow}.{p.state}" for p in places if p.flow in REHEARSALS]


async def _adult(coach: Coach) -> Chat:
    """A new person who has confirmed their age, at the menu."""
    chat = Chat(coach)
    await chat.send("/start")
    await chat.press("Yes, I'm 18 or older")
    return chat


async def _in_practice(coach: Coach) -> Chat:
    """Someone hurt, practising with the partner: roleplay called from talk."""
    chat = await _adult(coach)
    await chat.press("I was hurt and want to talk")
    await chat.press("Yes, I feel safe")
    await chat.press("Frequent, private messaging")
    await chat.press("hurt")
    await chat.press("1 · Direct")
    await chat.press("Keep it as it is")
    await chat.press("Continue")
    await chat.press("Practise with my partner")
    reply = await chat.press("Defensive")
    assert "Partner:" in reply.text
    return chat


@pytest.mark.parametrize("message, concern", [
    ("he choked me last week when I asked about her", "violence"),
    ("my boyfriend tracks my location and reads all my messages", "coercive_control"),
])
async def test_after_violence_or_control_every_way_into_a_rehearsal_is_gone(
        shipped: Catalog, message: str, concern: str) -> None:
    store = MemoryStore()
    coach = Coach(shipped, store)
    chat = await _in_practice(coach)
    before = await store.load(chat.user.key)
    assert before is not None and _rehearsal_positions(before)
    await chat.send(message)
    reply = await chat.press("I'm safe right now")
    assert "Back to where I was" not in chat.labels
    assert {"Ideas for a safety plan", "Support just for you"} <= set(chat.labels)
    session = await store.load(chat.user.key)
    assert session is not None
    assert session.slots["safety_concern"] == concern
    assert _rehearsal_positions(session) == []
    assert message not in session.to_json()
    for flow in REHEARSALS:
        reply = await chat.send(f"/start {flow}")
        assert "won't help you practise raising this with your partner" in reply.text, flow
        assert "Partner:" not in reply.text


async def test_a_safety_check_outside_a_rehearsal_still_goes_back(shipped: Catalog) -> None:
    chat = await _adult(Coach(shipped, MemoryStore()))
    await chat.send("/start needs")
    await chat.press("Let's start")
    await chat.send("he choked me last week when I asked about her")
    await chat.press("I'm safe right now")
    reply = await chat.press("Back to where I was")
    assert "1 of 3" in reply.text


async def test_start_roleplay_asks_the_safety_question(shipped: Catalog) -> None:
    chat = await _adult(Coach(shipped, MemoryStore()))
    await chat.press("I was hurt and want to talk")
    await chat.send("/menu")
    reply = await chat.send("/start roleplay")
    assert "do you feel safe talking to your partner" in reply.text
    reply = await chat.press("I'm not sure")
    assert "nervous about how the talk will go" in reply.text
    reply = await chat.press("Afraid of how they'd react")
    assert "your safety comes first" in reply.text
    reply = await chat.send("/start roleplay")
    assert "won't play them for practice" in reply.text


def test_answers_are_composed_in_question_order_with_skipped_ones_named_once(
        shipped: Catalog) -> None:
    compose = REGISTRY.actions["compose_answers"].func
    labels = {"q1": "First thing", "q2": "Second thing", "q3": "Third thing"}
    ctx = _ctx(shipped, q3="three", q1="one")
    compose(ctx, labels)
    assert ctx.session.slots["answers_text"] == (
        "• First thing: one\n• Third thing: three\n• Still to talk about: Second thing.")
    ctx = _ctx(shipped)
    compose(ctx, labels)
    assert ctx.session.slots["answers_text"] == (
        "• Still to talk about: First thing; second thing; third thing.")


async def test_nervous_at_the_roleplay_safety_question_goes_on_to_the_styles(
        shipped: Catalog) -> None:
    chat = await _adult(Coach(shipped, MemoryStore()))
    await chat.press("I was hurt and want to talk")
    await chat.send("/menu")
    await chat.send("/start roleplay")
    await chat.press("I'm not sure")
    reply = await chat.press("Nervous about how it goes")
    assert "practising is a good way to take the edge off" in reply.text
    assert "safety" not in reply.text.lower()


def test_a_line_is_set_aside_as_watching_only_for_the_rules_words(shipped: Catalog) -> None:
    """The flows drop a policing opener; a resemblance alone must never drop what was typed."""
    from bot.coach import feedback
    from bot.understanding.learned import Example, LearnedReader

    watching = tuple(Example(t, "harsh", ("surveillance",)) for t in (
        "I want to know your plans every evening", "tell me your plans for every evening",
        "I need to know what your plans are each evening"))
    calm = tuple(Example(t, label) for t, label in (
        ("thank you for telling me", "calm"), ("I felt hurt, can we talk", "calm"),
        ("can we talk soon", "almost")))
    reader = LearnedReader.fit(feedback.shipped_learned().features, feedback.VERDICTS,
                               watching + calm, ridge=0.1, threshold=0.0, min_words=1,
                               neighbours=3, agree=2)
    text = "I'd like to know your plans for the evening"
    assert [f.kind for f in feedback.analyse(text, learned=reader).findings] == ["policing"]
    ctx = _ctx(shipped, my_opener=text)
    ctx.services = {**shipped.services, feedback.LEARNED: reader}
    assert not REGISTRY.conditions["slot_policing"].func(ctx, "my_opener")
    ctx.session.slots["my_opener"] = "Give me your phone."
    assert REGISTRY.conditions["slot_policing"].func(ctx, "my_opener")
