"""One update up to the core's commit (adapters/telegram/handling.py): "typing" while the core
works, groups answered only when addressed, duplicates skipped, and an update confirmed to
Telegram only once it was committed or the person was told it did not go through."""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest
from telegram import Update

from adapters.telegram.handling import HANDLE_ATTEMPTS, taken_rows
from adapters.telegram.ledger import Taken
from adapters.telegram.translate import PRIVATE_CHAT_BUTTON, adapter_text, to_incoming
from bot.store.sqlite import SQLiteStore
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.telegram_harness import (
    ALICE,
    BOB,
    FAST,
    GROUP,
    INTRO,
    RETRY_AFTER_WARNING,
    TEXTS,
    WAIT,
    FlakyDisk,
    GatedDisk,
    Harness,
    labels,
    ledger_count,
    ledger_path,
    mode_settings,
    running,
    said_to,
    texts,
)

pytest_plugins = ["tests.telegram_fixtures"]


async def test_typing_shows_while_a_slow_core_works_and_never_after_the_reply(
        server: FakeTelegramAPI, tmp_path: Path) -> None:
    store = GatedDisk(tmp_path / "slow.db")
    async with running(server, store, typing_after=0.01) as slow:
        after = len(slow.messages(BOB))
        server.push_command(BOB, "start", "boundaries")
        await server.wait_for("sendChatAction")  # while the core waits for its disk
        store.gate.set()
        await slow.until_keyboard(BOB, after)
        await slow.settled()
    [typing] = server.calls_to("sendChatAction")
    assert (typing.params["chat_id"], typing.params["action"]) == (BOB, "typing")
    first_reply = next(c for c in server.calls_to("sendMessage") if c.params["chat_id"] == BOB)
    assert typing.answered is not None and typing.answered <= first_reply.time


async def test_group_chat_gets_one_short_notice_with_a_private_chat_button(
        tg: Harness) -> None:
    await tg.boundaries(ALICE)  # Alice has a session with content
    tg.server.push_message(GROUP, "just the group talking", chat_type="supergroup",
                           user_id=ALICE)
    tg.server.push_command(GROUP, "start", "boundaries", chat_type="supergroup", user_id=ALICE)
    await tg.settled()  # both handled and answered: whatever was sent is there now
    [notice] = tg.messages(GROUP)
    assert notice.text == TEXTS.get("group_chat")
    assert notice.reply_markup == {"inline_keyboard": [[
        {"text": adapter_text(TEXTS, PRIVATE_CHAT_BUTTON), "url": "https://t.me/coach_test_bot"}]]}

    # A press in the group (forged: the bot never shows step buttons there) is answered
    # with the same notice and nothing from Alice's flow.
    answers = len(tg.server.callback_answers)
    tg.server.push_callback(GROUP, "1.0", message_id=notice.message_id, user_id=ALICE)
    await tg.settled()
    assert len(tg.server.callback_answers) == answers + 1
    assert texts(tg.messages(GROUP)) == [TEXTS.get("group_chat")] * 2  # and nothing more
    assert tg.server.calls_to("sendDocument") == []
    assert all(c.params["chat_id"] != GROUP for c in tg.server.calls_to("sendChatAction"))


async def test_a_duplicate_update_gets_no_second_reply(tg: Harness) -> None:
    await tg.boundaries(ALICE)
    update = tg.server.push_message(ALICE, "/help")
    await tg.until_keyboard(ALICE, len(tg.messages(ALICE)))
    count = len(tg.messages(ALICE))
    tg.server.push_update(update)  # Telegram redelivers the same update_id
    replies = await tg.send(ALICE, "/resume")  # same user: handled after the duplicate
    assert texts(replies) == INTRO
    assert len(tg.messages(ALICE)) == count + len(replies)
    assert sum(TEXTS.get("help") in (m.text or "") for m in tg.messages(ALICE)) == 1


@pytest.mark.parametrize("mode", ["polling", "webhook"])
async def test_a_step_the_store_cannot_commit_is_answered_send_it_again_then_confirmed(
        server: FakeTelegramAPI, tmp_path: Path, mode: str) -> None:
    """The store is busy (another connection holds SQLite's write lock past the store's busy
    timeout, until the test lets go): the person is told to send it again, with the step's
    buttons, and the update is confirmed to Telegram only once that message is out. While it
    is held at Telegram's door, the update stays unconfirmed. Then the same button works."""
    path = tmp_path / "busy.db"
    store = SQLiteStore(path, busy_timeout=0.05)  # the lock is held until the test lets go
    not_saved = TEXTS.get("not_saved")
    async with running(server, store, **mode_settings(mode)) as tg:
        await tg.boundaries(ALICE)
        other = sqlite3.connect(path, isolation_level=None, timeout=WAIT)
        other.execute("BEGIN IMMEDIATE")  # another process's write lock
        server.hold("sendMessage", ALICE)
        message_id, data = tg.button(ALICE, "Let's start")
        mark = len(server.calls)
        press = server.push_callback(ALICE, data, message_id=message_id)
        update_id, query_id = press["update_id"], press["callback_query"]["id"]
        [held] = await server.wait_for(lambda c: c.method == "sendMessage" and c.held,
                                       after=mark, include_pending=True)
        other.execute("ROLLBACK")
        other.close()
        assert held.params["text"] == not_saved
        assert update_id not in server.confirmed_at  # not while the message is not out
        server.release("sendMessage", ALICE)
        await server.wait_until(lambda: update_id in server.confirmed_at)
        assert held.ok and held.answered is not None
        assert server.confirmed_at[update_id] >= held.answered
        told = tg.messages(ALICE)[-1]
        assert told.text == not_saved and "Let's start" in labels(told)
        assert [a.callback_query_id for a in server.callback_answers].count(query_id) == 1

        question = await tg.press(ALICE, "Let's start")  # the next message works
        assert question[-1].text.startswith("1 of 4")
        await tg.settled()
        assert [m for m in tg.messages(ALICE) if m.reply_markup] == [tg.messages(ALICE)[-1]]
    assert ledger_count(ledger_path(path), "taken") == 0


@RETRY_AFTER_WARNING
@pytest.mark.parametrize("mode", ["polling", "webhook"])
async def test_a_send_it_again_that_never_reached_telegram_leaves_the_update_unconfirmed(
        server: FakeTelegramAPI, tmp_path: Path, mode: str) -> None:
    """The store is busy and Telegram refuses the "send it again" (flood control, given up at
    once here): the person was told nothing, so the update must not be confirmed. Telegram
    sends it again, the store has recovered, and the step goes through as if nothing
    happened."""
    server.webhook_retry_delay = 0.05  # Telegram retries a failed webhook on its own
    store = FlakyDisk(tmp_path / "refused.db")
    impatient = replace(FAST, max_flood_waits=0)
    async with running(server, store, pacing=impatient, **mode_settings(mode)) as tg:
        await tg.boundaries(ALICE)
        store.busy = 1
        server.flood_chat(ALICE)
        message_id, data = tg.button(ALICE, "Let's start")
        mark, after = len(server.calls), len(tg.messages(ALICE))
        press = server.push_callback(ALICE, data, message_id=message_id)
        await server.wait_for(lambda c: c.method == "sendMessage" and c.status == 429,
                              after=mark)
        server.unflood_chat(ALICE)
        await server.wait_until(lambda: press["update_id"] in server.confirmed_at)
        question = await tg.until_keyboard(ALICE, after)
        assert question[-1].text.startswith("1 of 4")
        assert not any(c.ok for c in said_to(server, ALICE, TEXTS.get("not_saved"), mark))
        await tg.settled()


@pytest.mark.parametrize("mode", ["polling", "webhook"])
async def test_a_handler_that_raises_is_tried_again_then_the_person_is_told(
        server: FakeTelegramAPI, tmp_path: Path, mode: str,
        caplog: pytest.LogCaptureFixture) -> None:
    """Coach.handle raising is never confirmed silently. A fault that passes goes through on
    the next try and nobody notices; one that does not is given up after HANDLE_ATTEMPTS
    tries, the person is told it did not go through (the question's buttons stay where they
    are: nothing changed), and only then is the update confirmed. No endless loop."""
    caplog.set_level(logging.INFO, logger="coach.telegram")
    store = FlakyDisk(tmp_path / "bug.db")
    not_saved = TEXTS.get("not_saved")
    async with running(server, store, **mode_settings(mode)) as tg:
        await tg.boundaries(ALICE)
        store.broken = 1
        question = await tg.press(ALICE, "Let's start")
        assert question[-1].text.startswith("1 of 4")
        assert caplog.text.count("event=handler_error") == 1

        store.broken = HANDLE_ATTEMPTS
        mark, on_screen_before = len(server.calls), tg.messages(ALICE)[-1]
        update = server.push_message(ALICE, "Friendly is fine.")
        await server.wait_until(lambda: update["update_id"] in server.confirmed_at)
        [told] = said_to(server, ALICE, not_saved, mark)
        assert told.ok and told.answered is not None
        assert server.confirmed_at[update["update_id"]] >= told.answered
        assert told.params.get("reply_markup") is None
        assert tg.messages(ALICE)[-2] == on_screen_before  # its buttons untouched
        assert caplog.text.count("event=handler_error") == 1 + HANDLE_ATTEMPTS
        assert "event=update_given_up" in caplog.text
        assert "Friendly is fine." not in caplog.text

        reply = await tg.send(ALICE, "Friendly is fine.")  # sent again: it goes through
        assert reply[-1].text.startswith("2 of 4")
        await tg.settled()


def test_the_ledger_notes_private_updates_only_with_their_button_press() -> None:
    def update(number: int, chat: int, chat_type: str, **content: object) -> Update:
        return Update.de_json({"update_id": number, **content}, None)

    person = {"id": ALICE, "is_bot": False, "first_name": "Alice"}
    private = {"id": ALICE, "type": "private"}
    group = {"id": GROUP, "type": "supergroup"}
    updates = [
        update(1, ALICE, "private", message={"message_id": 1, "date": 0, "text": "hi",
                                             "chat": private, "from": person}),
        update(2, GROUP, "supergroup", message={"message_id": 2, "date": 0, "text": "/start",
                                                "chat": group, "from": person}),
        update(3, ALICE, "private", callback_query={
            "id": "q3", "from": person, "chat_instance": "c", "data": "1.0",
            "message": {"message_id": 1, "date": 0, "chat": private, "text": "step"}}),
    ]
    rows = taken_rows(updates, [to_incoming(u) for u in updates])
    assert rows == [Taken(1, ALICE, ALICE), Taken(3, ALICE, ALICE, query_id="q3")]
