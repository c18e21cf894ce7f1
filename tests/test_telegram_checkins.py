"""Check-ins on Telegram, through python-telegram-bot against the fake Bot API server: a due
check-in goes to the person's private chat with its buttons, a press answers it, and a 403
(they blocked the bot) stops their check-ins. The clock is simulated; the bot's own loop is
stopped and its passes driven by the test."""

from __future__ import annotations

from pathlib import Path

from bot.store.url import open_store
from tests.checkin_steps import TALK_STEPS, Clock, london
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.telegram_harness import ALICE, Harness, labels, running, texts

pytest_plugins = ["tests.telegram_fixtures"]


async def ask_for_talk_checkin(h: Harness) -> None:
    await h.begin(ALICE)
    done = await h.send(ALICE, "/checkins")
    for label in TALK_STEPS:
        done = await h.press(ALICE, label)
    assert "Done: I'll check in Tuesday 2025-03-11 at 18:00" in texts(done)[0]


async def test_a_due_checkin_reaches_the_private_chat_and_its_button_answers_it(
        server: FakeTelegramAPI, tmp_path: Path) -> None:
    clock = Clock()
    async with running(server, open_store(str(tmp_path / "coach.db")), clock=clock) as h:
        await server.wait_for("getUpdates", include_pending=True)
        await h.bot.checkins.stop()  # the test drives the passes
        await ask_for_talk_checkin(h)
        before = len(h.messages(ALICE))
        clock.now = london(11, 18)
        assert await h.bot.checkins.tick() == 1
        [checkin] = await h.until_keyboard(ALICE, before)
        assert "How did it go?" in (checkin.text or "")
        assert labels(checkin)[:2] == ["It went well", "It was mixed"]
        answered = await h.press(ALICE, "It was hard")
        assert "I'm sorry it was hard" in texts(answered)[0]
        assert await h.bot.checkins.tick() == 0, "sent once"


async def test_a_blocked_person_gets_nothing_and_their_checkins_stop(
        server: FakeTelegramAPI, tmp_path: Path) -> None:
    clock = Clock()
    async with running(server, open_store(str(tmp_path / "coach.db")), clock=clock) as h:
        await server.wait_for("getUpdates", include_pending=True)
        await h.bot.checkins.stop()
        await ask_for_talk_checkin(h)
        before = len(h.messages(ALICE))
        server.block_chat(ALICE)
        clock.now = london(11, 18)
        assert await h.bot.checkins.tick() == 0
        assert len(h.messages(ALICE)) == before
        server.unblock_chat(ALICE)
        listed = await h.send(ALICE, "/checkins")
        assert "No check-ins are set" in texts(listed)[0]
