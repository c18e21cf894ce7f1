"""Safety in the real core: screening first, help that matches, nothing risky kept."""

from __future__ import annotations

import logging
import re
from pathlib import Path

from bot.flowlang.catalog import Catalog
from bot.messages import Incoming
from bot.pipeline import Coach
from bot.store.memory import MemoryStore
from bot.store.sqlite import SQLiteStore
from tests.conftest import REPO, Chat

SHIPPED = REPO / "flows"
VIOLENCE = "he hit me last night and I'm scared of him"
UNSURE = "he gets really angry when I bring it up"


async def _at_the_why_question(coach: Coach) -> Chat:
    chat = Chat(coach)
    await chat.send("/start quiz")
    await chat.send("Sam")
    await chat.press("Red")
    return chat


async def test_a_risk_stops_the_step_and_is_never_kept(safety_catalog: Catalog, store,
                                                       caplog) -> None:
    caplog.set_level(logging.DEBUG)
    coach = Coach(safety_catalog, store)
    chat = await _at_the_why_question(coach)
    reply = await chat.send(VIOLENCE)
    assert "hurt, threatened or frightened" in reply.text
    assert "Help you can reach now:" in reply.text
    assert VIOLENCE not in reply.text and "hit me" not in reply.text
    assert chat.labels == ["I'm safe right now", "I'm not safe", "Menu"]
    session = await store.load(chat.user.key)
    assert session is not None
    assert "why" not in session.slots and session.held is None
    assert VIOLENCE not in session.to_json()
    assert session.slots["safety_concern"] == "violence"
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "event=safety_risk_violence" in logged and "hit me" not in logged
    reply = await chat.press("I'm safe right now")
    assert "won't help you rehearse confronting" in reply.text
    assert "Couples counselling isn't the right place" in reply.text
    reply = await chat.press("Back to where I was")
    assert reply.parts == ["Why red?"]


async def test_unsure_asks_gently_and_keeps_the_answer_only_if_safe(safety_catalog: Catalog,
                                                                   store) -> None:
    coach = Coach(safety_catalog, store)
    chat = await _at_the_why_question(coach)
    reply = await chat.send(UNSURE)
    assert "made me want to check in" in reply.text
    assert UNSURE not in reply.text
    reply = await chat.press("Yes, I'm safe")
    assert reply.parts[0] == "Thank you. I've kept what you wrote, so let's carry on."
    assert reply.parts[-1] == "Want a side trip?"
    session = await store.load(chat.user.key)
    assert session is not None and session.slots["why"] == UNSURE and session.held is None


async def test_unsure_then_not_safe_drops_the_answer(safety_catalog: Catalog, store) -> None:
    coach = Coach(safety_catalog, store)
    chat = await _at_the_why_question(coach)
    await chat.send(UNSURE)
    reply = await chat.press("No, I'm not safe")
    assert "Please get help now" in reply.text
    session = await store.load(chat.user.key)
    assert session is not None and "why" not in session.slots and session.held is None
    assert UNSURE not in session.to_json()


async def test_self_harm_in_a_first_message(safety_catalog: Catalog, store) -> None:
    coach = Coach(safety_catalog, store)
    chat = Chat(coach, "new")
    reply = await chat.send("i dont want to be here anymore, i want to die")
    assert "thinking about hurting yourself" in reply.text
    assert "crisis line" in reply.text
    reply = await chat.press("I'm safe right now")
    assert "Back to where I was" not in chat.labels  # a pause first, never straight back
    await chat.press("A moment to steady myself")
    reply = await chat.press("Menu")
    assert "Pick a topic." in reply.text


async def test_idioms_are_not_alarms(safety_catalog: Catalog, store) -> None:
    coach = Coach(safety_catalog, store)
    chat = await _at_the_why_question(coach)
    reply = await chat.send("this is killing me, honestly, he hit the gym with her")
    assert reply.parts == ["Want a side trip?"]


async def test_sos_works_mid_flow_and_keeps_the_session(safety_catalog: Catalog, store,
                                                        monkeypatch) -> None:
    coach = Coach(safety_catalog, store)
    chat = await _at_the_why_question(coach)
    before = chat.labels
    reply = await chat.send("/sos")
    assert "I don't have a local number for your country" in reply.text
    assert "findahelpline.com" in reply.text
    assert chat.labels == before and reply.expects_text
    reply = await chat.send("because")
    assert reply.parts == ["Want a side trip?"]


async def test_help_lines_follow_the_configured_country(safety_catalog: Catalog, store) -> None:
    coach = Coach(safety_catalog, store, config={"country": "gb"})
    chat = await _at_the_why_question(coach)
    reply = await chat.send("/sos")
    assert "call 999" in reply.text and "116 123" in reply.text
    assert "don't have a local number" not in reply.text
    reply = await chat.send("she slapped me and said she'd kill me if I leave")
    assert "0808 2000 247" in reply.text
    coach = Coach(safety_catalog, MemoryStore(), config={"country": "ca"})
    chat = await _at_the_why_question(coach)
    reply = await chat.send("my boyfriend tracks my location and reads all my messages")
    assert "watching your phone or location" in reply.text
    assert "call 911" in reply.text and "don't have a local number" in reply.text


async def test_retention_purges_untouched_sessions(safety_catalog: Catalog,
                                                   tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "r.db")
    now = [1_000_000_000.0]
    try:
        coach = Coach(safety_catalog, store, config={"retention_days": "90"},
                      clock=lambda: now[0])
        old = Chat(coach, "old")
        await old.send("/start quiz")
        session = await store.load(old.user.key)
        assert session is not None
        await store._write(lambda c: c.execute("UPDATE sessions SET updated_at = ?",
                                               (now[0] - 91 * 86400,)))
        fresh = Chat(coach, "fresh")
        now[0] += 2 * 3600
        await fresh.send("/start quiz")
        assert coach._purging is not None
        await coach._purging
        assert await store.load(old.user.key) is None
        assert await store.load(fresh.user.key) is not None
    finally:
        await store.close()


DEMANDING = re.compile(
    r"\b(ask|demand|insist|require|make|get|tell)\b[^.!?]{0,40}\b(them|him|her|partner|"
    r"partner's)\b[^.!?]{0,30}\b(password|passcode|phone|location|messages)\b|"
    r"\b(check|go through|look through|read|monitor|track)\b[^.!?]{0,20}\b(their|his|her|"
    r"partner's)\b[^.!?]{0,15}\b(phone|messages|location|password|email)", re.I)
NEGATION = re.compile(r"\b(no|not|never|don't|doesn't|won't|isn't|rather than|instead of|"
                      r"without)\b", re.I)


def _all_flow_text() -> list[tuple[str, str]]:
    texts = []
    for path in sorted(SHIPPED.rglob("*.yaml")):
        if path.name in ("screen_rules.yaml", "feedback_rules.yaml") or path.name.endswith(
                "_examples.yaml"):
            # word lists and labelled examples for recognising such talk, not things the bot
            # advises (a coach example is only ever quoted as a line that lands as harsh)
            continue
        for line in path.read_text().splitlines():
            texts.append((path.name, line))
    return texts


def test_no_flow_coaches_anyone_to_police_a_partner() -> None:
    """Transparency is voluntary: nothing says to demand or check a partner's devices."""
    offenders = []
    for name, line in _all_flow_text():
        for sentence in re.split(r"(?<=[.!?])\s+", line):
            if DEMANDING.search(sentence) and not NEGATION.search(sentence):
                if "Partner:" in sentence or "checking my phone" in sentence:
                    continue
                offenders.append(f"{name}: {sentence.strip()}")
    assert offenders == []


def test_the_policing_check_would_catch_a_bad_line() -> None:
    for bad in ("Ask your partner for their phone password.",
                "Check his phone when he's asleep.",
                "Insist that she shares her location with you."):
        assert DEMANDING.search(bad) and not NEGATION.search(bad), bad


async def test_a_session_past_retention_is_erased_when_its_owner_returns(
        safety_catalog: Catalog, tmp_path: Path) -> None:
    """The background purge may not have reached it yet: the returning person must not get
    their expired answers back, and nothing of them may be saved again."""
    import time

    store = SQLiteStore(tmp_path / "r.db")
    later = [0.0]
    try:
        coach = Coach(safety_catalog, store, config={"retention_days": "90"},
                      clock=lambda: time.time() + later[0])
        chat = Chat(coach, "back")
        await chat.send("/start quiz")
        await chat.send("Sam")
        later[0] = 91 * 86400
        reply = await coach.open(Incoming(chat.user))
        assert "Welcome back" not in reply.text and "Sam" not in reply.text
        stored = await store.load(chat.user.key)
        assert stored is not None and "name" not in stored.slots
    finally:
        await store.close()
