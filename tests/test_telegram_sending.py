"""A reply's way out (adapters/telegram/sending.py): documents for exports, and old buttons
taken away, also after a restart (the ledger remembers, ids only)."""

from __future__ import annotations

import json
from pathlib import Path

from telegram.error import BadRequest

from adapters.telegram.sending import query_expired
from bot.store.url import open_store
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.telegram_harness import ALICE, TEXTS, Harness, ledger_count, ledger_path, running

pytest_plugins = ["tests.telegram_fixtures"]


async def test_old_buttons_are_taken_away_after_a_restart(server: FakeTelegramAPI,
                                                          tmp_path: Path) -> None:
    """The last message with buttons per chat is kept in the ledger (ids only), so the
    first reply after a restart still takes the old buttons away."""
    path = tmp_path / "keys.db"
    async with running(server, open_store(str(path))) as first:
        await first.boundaries(ALICE)
        await first.press(ALICE, "Let's start")
        await first.send(ALICE, "my partner's name is Sam")
        await first.settled()
    [before] = [m for m in server.sent_messages(ALICE) if m.reply_markup]
    ledger = ledger_path(path)
    assert ledger.exists() and (ledger.stat().st_mode & 0o777) == 0o600
    for written in ledger.parent.glob(ledger.name + "*"):  # the WAL too
        assert b"Sam" not in written.read_bytes(), "user text in the ledger"

    async with running(server, open_store(str(path))) as second:
        await second.send(ALICE, "/help")  # a new keyboard, after the restart
        await second.settled()
        now = [m for m in server.sent_messages(ALICE) if m.reply_markup]
        assert now == [server.sent_messages(ALICE)[-1]], "two messages carry buttons"
        assert server.message(ALICE, before.message_id).reply_markup is None

        # /delete leaves nothing about Alice in the ledger either.
        after = len(server.sent_messages(ALICE))
        server.push_command(ALICE, "delete")
        await second.until_keyboard(ALICE, after)
        message_id, data = second.button(ALICE, TEXTS.get("delete_yes"))
        server.push_callback(ALICE, data, message_id=message_id)
        await second.settled()
        assert not any(m.reply_markup for m in server.sent_messages(ALICE))
    assert ledger_count(ledger, "keyboards") == ledger_count(ledger, "taken") == 0


async def test_export_sends_the_text_and_a_document(tg: Harness) -> None:
    await tg.boundaries(ALICE)
    await tg.press(ALICE, "Let's start")
    await tg.send(ALICE, "Only friendly chats.")
    reply = await tg.send(ALICE, "/export")
    assert reply[0].text.startswith(TEXTS.get("export_header"))
    assert "Only friendly chats." in reply[0].text
    document = reply[-1]
    assert document.method == "sendDocument" and document.reply_markup  # buttons at the end
    assert document.document is not None
    assert document.document.filename == "conversation-coach-export.json"
    data = json.loads(document.document.data)
    answers = {item["slot"]: item["answer"] for item in data["answers"]}
    assert answers["boundary_flirting"] == "Only friendly chats."


def test_a_press_telegram_no_longer_knows_is_expected_after_a_restart() -> None:
    assert query_expired(BadRequest(
        "Query is too old and response timeout expired or query id is invalid"))
    assert query_expired(BadRequest("Bad Request: query ID is invalid"))
    assert not query_expired(BadRequest("Bad Request: message to edit not found"))


async def test_a_reply_counts_as_sent_once_its_last_message_is_accepted(
        tg: Harness) -> None:
    """coach_replies_sent_total: one per reply (not per message), once Telegram took all of
    it; a reply whose message Telegram refuses for good is not counted."""
    def sent() -> float:
        found = tg.coach.metrics.registry.get_sample_value("coach_replies_sent_total",
                                                           {"platform": "telegram"})
        return found or 0.0

    await tg.boundaries(ALICE)  # /start, the age question, /start boundaries: three replies
    await tg.settled()
    assert sent() == 3
    reply = await tg.send(ALICE, "/export")  # the text and a document: one reply
    await tg.settled()
    assert len(reply) >= 2 and sent() == 4
    tg.server.block_chat(ALICE)  # 403 from now on: nothing of the next reply goes out
    tg.server.push_command(ALICE, "help")
    await tg.settled()
    assert sent() == 4
