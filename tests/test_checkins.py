"""Check-ins through the real core on the shipped flows, with a simulated clock: sent once
at their time, late once with a kind word after the bot was down, let go past a day, never
in quiet hours, moved with the timezone, stopped by /checkins, by /delete and when the
person blocked the bot. (The stores' side runs over all three in tests/test_sessions.py;
two processes on PostgreSQL in tests/test_postgres.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.checkin_loop import CheckinLoop, Delivered
from bot.app import load_flows
from bot.flowlang.catalog import Catalog
from bot.messages import Reply, UserKey
from bot.pipeline import Coach
from bot.store.memory import MemoryStore
from bot.store.sqlite import SQLiteStore
from tests.checkin_steps import DAY, Clock, london, talk_checkin, weekly_checkin
from tests.conftest import Chat

ASKED = "How did it go?"


@pytest.fixture(scope="module")
def shipped() -> Catalog:
    return load_flows()


def coach_at(shipped: Catalog, clock: Clock, store: object | None = None) -> Coach:
    return Coach(shipped, store or MemoryStore(), clock=clock)  # type: ignore[arg-type]


async def test_a_talk_checkin_is_sent_once_at_its_time_and_its_buttons_work(
        shipped: Catalog) -> None:
    clock = Clock()
    coach = coach_at(shipped, clock)
    chat = Chat(coach)
    confirmed = await talk_checkin(chat)
    assert "Tuesday 2025-03-11 at 18:00 (Europe/London)" in confirmed
    clock.now = london(11, 17, 59)
    assert await coach.due_checkins("test") == []
    clock.now = london(11, 18, 0)
    [(user, reply)] = await coach.due_checkins("test")
    assert user == chat.user and ASKED in reply.text and "late" not in reply.text
    assert await coach.due_checkins("test") == [], "committed as sent: never twice"
    chat.last = reply
    answer = await chat.press("It went well")
    assert "I'm glad" in answer.text
    back = await chat.press("Back to where I was")
    assert "Done: I'll check in" in back.text, "back where they were before it"


async def test_due_while_the_bot_was_down_is_sent_late_once_with_a_kind_word(
        shipped: Catalog, tmp_path: Path) -> None:
    clock = Clock()
    store = SQLiteStore(tmp_path / "coach.db")
    chat = Chat(coach_at(shipped, clock, store))
    await talk_checkin(chat)
    await store.close()
    clock.now = london(12, 9, 30)  # down from before 18:00 yesterday until now
    again = SQLiteStore(tmp_path / "coach.db")
    try:
        coach = coach_at(shipped, clock, again)
        [(_, reply)] = await coach.due_checkins("test")
        assert reply.parts[0].startswith("A little late")
        assert ASKED in reply.text
        assert await coach.due_checkins("test") == []
        clock.advance(DAY)
        assert await coach.due_checkins("test") == []
    finally:
        await again.close()


async def test_more_than_a_day_late_is_let_go_and_a_weekly_one_keeps_its_next_week(
        shipped: Catalog) -> None:
    clock = Clock()
    coach = coach_at(shipped, clock)
    chat = Chat(coach)
    await weekly_checkin(chat)  # Sundays 18:00; the first is 16 March
    clock.now = london(17, 18, 1)  # a day and a minute late
    assert await coach.due_checkins("test") == []
    session = await coach.store.load(chat.user.key)
    assert session is not None and session.due == london(23, 18)
    clock.now = london(23, 18, 5)
    [(_, reply)] = await coach.due_checkins("test")
    assert "weekly check-in" in reply.text and "A little late" not in reply.text


async def test_quiet_hours_are_kept_when_asking_and_when_sending(shipped: Catalog) -> None:
    clock = Clock()
    coach = coach_at(shipped, clock)
    chat = Chat(coach)
    refused = await talk_checkin(chat, at="22:30")
    assert "quiet hours" in refused
    await chat.press("Another time")
    await chat.press("20:00")
    assert "at 20:00" in chat.last.text  # type: ignore[union-attr]
    await chat.send("/checkins")
    await chat.press("Change quiet hours")
    await chat.press("20:00–09:00")  # now 20:00 is quiet
    clock.now = london(11, 20, 0)
    assert await coach.due_checkins("test") == []
    clock.now = london(12, 8, 59)
    assert await coach.due_checkins("test") == []
    clock.now = london(12, 9, 0)
    [(_, reply)] = await coach.due_checkins("test")
    assert reply.parts[0].startswith("A little late")


async def test_a_new_timezone_keeps_the_local_time(shipped: Catalog) -> None:
    clock = Clock()
    coach = coach_at(shipped, clock)
    chat = Chat(coach)
    await weekly_checkin(chat)
    await chat.send("/checkins")
    await chat.press("Change my timezone")
    listed = await chat.send("UTC+2")
    assert "every Sunday at 18:00 (UTC+02:00)" in listed.text
    clock.now = london(16, 15, 59)  # 17:59 at UTC+2
    assert await coach.due_checkins("test") == []
    clock.now = london(16, 16, 0)
    assert len(await coach.due_checkins("test")) == 1
    await chat.send("/checkins")
    await chat.press("Change my timezone")
    unknown = await chat.send("Mars/Olympus")
    assert "I don't know that timezone" in unknown.text


async def test_checkins_stop_lists_nothing_and_sends_nothing(shipped: Catalog) -> None:
    clock = Clock()
    coach = coach_at(shipped, clock)
    chat = Chat(coach)
    await talk_checkin(chat)
    listed = await chat.send("/checkins")
    assert "How your talk went: Tuesday 2025-03-11 at 18:00" in listed.text
    await chat.press("Stop a check-in")
    stopped = await chat.press("All of them")
    assert "Stopped." in stopped.text and "No check-ins are set" in stopped.text
    clock.advance(2 * DAY)
    assert await coach.due_checkins("test") == []


async def test_nothing_is_sent_after_delete(shipped: Catalog) -> None:
    clock = Clock()
    coach = coach_at(shipped, clock)
    chat = Chat(coach)
    await talk_checkin(chat)
    await chat.send("/delete")
    await chat.press("Yes, delete everything")
    clock.now = london(11, 18, 30)
    assert await coach.due_checkins("test") == []
    assert await coach.store.due(clock.now, "test", 10) == []


async def test_a_blocked_persons_checkins_stop(shipped: Catalog) -> None:
    clock = Clock()
    coach = coach_at(shipped, clock)
    chat = Chat(coach)
    await weekly_checkin(chat)
    delivered: list[UserKey] = []

    async def blocked(user: UserKey, reply: Reply) -> Delivered:
        delivered.append(user)
        return Delivered.BLOCKED

    loop = CheckinLoop(coach, "test", blocked)
    clock.now = london(16, 18)
    assert await loop.tick() == 0
    assert delivered == [chat.user]
    session = await coach.store.load(chat.user.key)
    assert session is not None and session.due is None and not session.checkins["items"]
    clock.advance(7 * DAY)
    assert await loop.tick() == 0 and delivered == [chat.user]


async def test_the_weeks_as_text_picture_and_export(shipped: Catalog) -> None:
    clock = Clock()
    coach = coach_at(shipped, clock)
    chat = Chat(coach)
    await weekly_checkin(chat)
    for week, answer in ((16, "Kept it"), (23, "Not yet")):
        clock.now = london(week, 18)
        [(_, reply)] = await coach.due_checkins("test")
        chat.last = reply
        assert "Being open" in reply.text
        await chat.press(answer)
        if answer == "Not yet":
            await chat.send("work got busy")
            step = chat.last
            assert step is not None and "gentle next step" in step.text
            await chat.press("Next")
    weeks = await chat.press("See my weeks")
    [picture] = weeks.attachments
    assert picture.mime_type == "image/png" and picture.data.startswith(b"\x89PNG")
    assert picture.text is not None and "Being open" in picture.text
    assert "✓ ✗" in picture.text
    exported = await chat.send("/export")
    assert "Your commitments, week by week" in exported.text and "✓ ✗" in exported.text
    assert "every Sunday at 18:00" in exported.text


async def test_a_busy_moment_waits_an_hour(shipped: Catalog) -> None:
    """Someone in the middle of the safety flow is not interrupted; it comes an hour later."""
    clock = Clock()
    coach = coach_at(shipped, clock)
    chat = Chat(coach)
    await talk_checkin(chat)
    await chat.send("/start safety")
    clock.now = london(11, 18)
    assert await coach.due_checkins("test") == []
    await chat.send("/menu")
    clock.now = london(11, 19)
    [(_, reply)] = await coach.due_checkins("test")
    assert reply.parts[0].startswith("A little late")
