"""Check-ins on Discord, through discord.py against the fake Discord API: a due check-in goes
to the person's DM (opened by their id) with its buttons, a press answers it, and 50007
("Cannot send messages to this user") stops their check-ins. The clock is simulated; the
bot's own loop is stopped and its passes driven by the test."""

from __future__ import annotations

from pathlib import Path

from bot.pipeline import Coach
from bot.store.url import open_store
from tests.checkin_steps import TALK_STEPS, Clock, london
from tests.fakes.discord_api import FakeDiscordAPI
from tests.test_discord_adapter import FLOWS, Harness, labels, running, server, texts

__all__ = ["server"]  # the fake server fixture, shared with the adapter's tests
ALICE = 4242


async def ask_for_talk_checkin(h: Harness) -> None:
    await h.bot.checkins.stop()  # the test drives the passes
    done = await h.topic(ALICE, "checkins")
    for label in TALK_STEPS:
        done = await h.press(ALICE, label)
    assert "Tuesday 2025-03-11 at 18:00" in texts(done)[0]


async def test_a_due_checkin_reaches_the_dm_and_its_button_answers_it(
        server: FakeDiscordAPI, tmp_path: Path) -> None:
    clock = Clock()
    coach = Coach(FLOWS, open_store(str(tmp_path / "coach.db")), clock=clock)
    async with running(server, "", coach=coach) as h:
        await ask_for_talk_checkin(h)
        mark = len(server.calls)
        clock.now = london(11, 18)
        assert await h.bot.checkins.tick() == 1
        [checkin] = await h.reply_after(mark)
        assert "How did it go?" in checkin.content
        assert labels(checkin)[:2] == ["It went well", "It was mixed"]
        answered = await h.press(ALICE, "It went well")
        assert "I'm glad" in texts(answered)[0]
        assert await h.bot.checkins.tick() == 0, "sent once"


async def test_cannot_send_to_this_user_stops_their_checkins(
        server: FakeDiscordAPI, tmp_path: Path) -> None:
    clock = Clock()
    coach = Coach(FLOWS, open_store(str(tmp_path / "coach.db")), clock=clock)
    async with running(server, "", coach=coach) as h:
        await ask_for_talk_checkin(h)
        server.inject_error("create_message", 403,
                            {"code": 50007, "message": "Cannot send messages to this user"})
        clock.now = london(11, 18)
        assert await h.bot.checkins.tick() == 0
        listed = await h.slash(ALICE, "checkins")
        assert "No check-ins are set" in texts(listed)[0]
