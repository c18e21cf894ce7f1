"""Check-in turns taken without a message (bot/checkins/turns.py), in couple mode, through
the real core on a simulated clock: the one "ready when you are" note after "Show us both",
the weekly check-in on "our agreements", and that neither is ever sent after /unpair or
/delete, or while sharing is paused for someone with a safety concern on record."""

from __future__ import annotations

import pytest

from bot.app import load_flows
from bot.flowlang.catalog import Catalog
from bot.pipeline import Coach
from bot.store.memory import MemoryStore
from tests.checkin_steps import DAY, Clock, london
from tests.test_pairing_couple import Recorder, answer_boundaries, paired

READY = "ready to compare the boundary questions"
SAME = ["Friendly is fine.", "No DMs.", "Open.", "Lies."]
CANARY = "canary-5d1c"


@pytest.fixture(scope="module")
def flows() -> Catalog:
    return load_flows()


async def couple(flows: Catalog, clock: Clock) -> tuple[Coach, Recorder, Recorder]:
    """Alex on Telegram, Sam on Discord, both finished the boundary questions, each with a
    private reflection carrying a canary; nobody has tapped "Show us both" yet."""
    coach = Coach(flows, MemoryStore(), clock=clock)
    alex, sam = await paired(coach)
    await answer_boundaries(alex, SAME)
    await answer_boundaries(sam, SAME)
    for chat in (alex, sam):
        session = await coach.store.load(chat.user.key)
        assert session is not None
        session.slots["reflection"] = f"{chat.user.key} {CANARY}"
        await coach.store.save(session)
    return coach, alex, sam


async def test_the_partner_hears_once_that_the_other_is_ready_and_nothing_more(
        flows: Catalog) -> None:
    clock = Clock()  # Monday 10:00 in London (and UTC): outside anyone's quiet hours
    coach, alex, sam = await couple(flows, clock)
    assert "Show us both" in sam.labels
    await sam.press("Show us both")
    assert await coach.due_checkins("discord") == [], "the one who tapped hears nothing"
    [(user, reply)] = await coach.due_checkins("telegram")
    assert user == alex.user and READY in reply.text
    assert CANARY not in reply.text and "No DMs." not in reply.text, "no answers in it"
    assert "Open what we share" in [c.label for c in reply.choices]
    assert await coach.due_checkins("telegram") == [], "committed as sent: never twice"
    clock.advance(2 * DAY)
    assert await coach.due_checkins("telegram") == []
    alex.last = reply
    opened = await alex.press("Open what we share")
    assert "Show us both: boundaries" in [c.label for c in opened.choices]
    assert "Show us both? /together" not in opened.text, "the note counted as told"
    await alex.press("Show us both: boundaries")
    assert await coach.due_checkins("discord") == [], "both tapped: no note to anyone"


async def test_the_note_waits_for_the_end_of_quiet_hours(flows: Catalog) -> None:
    """Alex gave no timezone: the default quiet hours (21:00-08:00) count in UTC."""
    clock = Clock(london(10, 23))
    coach, _, sam = await couple(flows, clock)
    await sam.press("Show us both")
    assert await coach.due_checkins("telegram") == []
    clock.now = london(11, 7, 59)
    assert await coach.due_checkins("telegram") == []
    clock.now = london(11, 8, 0)
    [(_, reply)] = await coach.due_checkins("telegram")
    assert READY in reply.text and "late" not in reply.text


@pytest.mark.parametrize("ending", ["unpair", "delete", "own_delete"])
async def test_no_note_after_the_pairing_ended_while_it_waited(flows: Catalog,
                                                              ending: str) -> None:
    clock = Clock(london(10, 23))
    coach, alex, sam = await couple(flows, clock)
    await sam.press("Show us both")
    if ending == "unpair":
        await sam.send("/unpair")
        await sam.press("Yes, end it")
    elif ending == "delete":
        await sam.send("/delete")
        await sam.press("Yes, delete everything")
    else:
        await alex.send("/delete")
        await alex.press("Yes, delete everything")
    clock.now = london(11, 9)
    assert await coach.due_checkins("telegram") == []
    if ending != "own_delete":
        session = await coach.store.load(alex.user.key)
        assert session is not None and session.due is None, "let go, not kept for later"


async def agreements_checkin(alex: Recorder, sam: Recorder) -> str:
    """Both show their (same) answers; Alex asks for the weekly check-in on the agreements,
    on Sundays at 18:00 in London."""
    await sam.press("Show us both")
    await alex.send("/together")
    for label in ("Show us both: boundaries", "Our agreements",
                  "A weekly check-in on these, just for me", "Yes, pick a day", "Sunday",
                  "18:00"):
        await alex.press(label)
    return (await alex.press("UK (London)")).parts[0]


async def test_a_weekly_checkin_on_our_agreements_is_private_and_ends_with_the_pairing(
        flows: Catalog) -> None:
    clock = Clock()
    coach, alex, sam = await couple(flows, clock)
    confirmed = await agreements_checkin(alex, sam)
    assert "every Sunday at 18:00 (Europe/London)" in confirmed
    listed = (await alex.send("/checkins")).text
    assert "agreements with your partner" in listed
    clock.now = london(16, 18)
    [(user, reply)] = await coach.due_checkins("telegram")
    assert user == alex.user and "check-in on your agreements" in reply.text
    assert "Online: No DMs." in reply.text, "the agreements both accepted"
    alex.last = reply
    await alex.press("Partly")
    await alex.send(f"We slipped once {CANARY}")
    assert await coach.due_checkins("discord") == []
    heard = sam.everything() + "".join(r.text for _, r in await coach.due_checkins("discord"))
    assert "check-in" not in heard and CANARY not in heard, "Sam is told nothing of it"
    await sam.send("/unpair")
    await sam.press("Yes, end it")
    clock.now = london(23, 18)
    assert await coach.due_checkins("telegram") == [], "never after the partner's /unpair"
    session = await coach.store.load(alex.user.key)
    assert session is not None and "ours" not in session.checkins.get("items", {})
    assert session.checkins["weeks"]["ci_ours"], "their own answers stay theirs"


async def test_unpair_stops_ones_own_agreements_checkin(flows: Catalog) -> None:
    clock = Clock()
    coach, alex, sam = await couple(flows, clock)
    await agreements_checkin(alex, sam)
    await alex.send("/unpair")
    await alex.press("Yes, end it")
    session = await coach.store.load(alex.user.key)
    assert session is not None and session.due is None
    clock.now = london(16, 18)
    assert await coach.due_checkins("telegram") == []


async def test_a_concern_recorded_later_pauses_sharing_without_telling_the_partner(
        flows: Catalog) -> None:
    clock = Clock()
    coach, alex, sam = await couple(flows, clock)
    await agreements_checkin(alex, sam)
    assert "controlling" in (await alex.send("He tracks my location and reads my texts.")).text
    await alex.send("/menu")
    paused = await alex.send("/together")
    assert "paused sharing" in paused.text
    assert "Show us both: boundaries" not in paused.text
    assert "paused sharing" not in (await alex.send("/menu")).text, "said once"
    clock.now = london(16, 18)
    assert await coach.due_checkins("telegram") == [], "the agreements check-in waits"
    session = await coach.store.load(alex.user.key)
    assert session is not None and session.due is not None, "paused, not stopped"
    heard = sam.everything() + (await sam.send("/together")).text
    heard += (await sam.press("Our agreements")).text
    for word in ("safety", "paused", "concern", "control", "location"):
        assert word not in heard.casefold(), f"{word!r} reached the partner"
