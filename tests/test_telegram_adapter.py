"""The Telegram adapter end to end: a real PTB Application against the fake Bot API server.

Real parts only: python-telegram-bot talking HTTP to tests/fakes/telegram_api.py, the real
core on the shipped flows, real SQLite files in tmp_path, and real `coach telegram`
subprocesses for kill -9, logging and start-up errors.

The tests hold on a busy machine: they wait for events, never for a stretch of time. Waits
are on the fake's recorded calls (`wait_for`/`wait_until`), on the bot's ledger file, or on
gates the test opens itself: a store whose saves wait for the test (`GatedDisk`), calls the
fake holds until released (`FakeTelegramAPI.hold`), a chat flooded with 429s until the test
ends it (`flood_chat`). Timeouts are only safety nets against a hang (60 s and more), and
no assertion is about how fast something was.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import aiohttp
import pytest
from telegram.error import TimedOut

from adapters.outbox import NotSent, Outbox, Pacing, TokenBucket
from adapters.telegram import (
    COMMANDS,
    HANDLE_ATTEMPTS,
    MAX_TEXT_UNITS,
    PRIVATE_CHAT_BUTTON,
    SECRET_HEADER,
    WEBHOOK_MAX_CONNECTIONS,
    AiohttpRequest,
    TelegramBot,
    TelegramConfig,
    adapter_text,
    keyboard,
    split_text,
)
from adapters.text_split import utf16_len
from bot.app import load_flows
from bot.messages import Choice
from bot.pipeline import CONSENT_SLOT, Coach
from bot.session import Session
from bot.store.base import Store, StoreUnavailable
from bot.store.memory import MemoryStore
from bot.store.sqlite import SQLiteStore
from bot.store.url import open_store
from bot.texts import Texts
from tests.conftest import REPO
from tests.fakes.telegram_api import FakeTelegramAPI, RecordedCall, SentMessage

TOKEN = "123456789:AAFakeTokenForTestsOnly_abcdefghijkl"
ALICE, BOB, CAROL = 4242, 5151, 6161
GROUP = -1001234
WAIT = 60.0  # seconds: a safety net against a hang, never a measure of speed
# Fast pacing for the end-to-end tests; the outbox tests below check the real pacing logic.
FAST = Pacing(per_chat=200.0, chat_burst=50, per_group=200.0, group_burst=50, overall=1000.0,
              overall_burst=200)
RETRY_AFTER_WARNING = pytest.mark.filterwarnings(
    "ignore:.*retry_after.*:telegram.warnings.PTBDeprecationWarning")
FLOWS = load_flows()
TEXTS = FLOWS.texts
assert TEXTS is not None


def said(flow: str, state: str) -> list[str]:
    """What a state of the shipped flows says (the flows are edited by others: read them)."""
    return list(FLOWS.flows[flow].spec.states[state].say)


def consent_label() -> str | None:
    """The menu's "I'm an adult" button, if the shipped flows ask (deep links wait for it)."""
    for state in FLOWS.flows[FLOWS.home].spec.states.values():
        for choice in state.choices:
            if any(slot == CONSENT_SLOT for slot, _ in choice.route.sets):
                return choice.label
    return None


INTRO = said("boundaries", "intro")
CONSENT = consent_label()


# --------------------------------------------------------------------------- harness


@dataclass
class Harness:
    """A running adapter on the fake, with helpers that act as a person in a chat."""

    server: FakeTelegramAPI
    bot: TelegramBot
    coach: Coach
    pressed: list[str] = field(default_factory=list)  # callback query ids pushed

    def messages(self, chat: int) -> list[SentMessage]:
        return self.server.sent_messages(chat)

    async def until_keyboard(self, chat: int, after: int, timeout: float = WAIT
                             ) -> list[SentMessage]:
        """Messages sent after the first `after`, once one of them carries buttons (every
        step of the shipped flows ends with buttons, so that marks a complete reply)."""
        def done() -> bool:
            return any(m.reply_markup for m in self.messages(chat)[after:])

        await self.server.wait_until(done, timeout=timeout)
        return self.messages(chat)[after:]

    async def send(self, chat: int, text: str, **extra: object) -> list[SentMessage]:
        after = len(self.messages(chat))
        if text.startswith("/"):
            command, _, payload = text[1:].partition(" ")
            self.server.push_command(chat, command, payload or None, **extra)  # type: ignore[arg-type]
        else:
            self.server.push_message(chat, text, **extra)  # type: ignore[arg-type]
        return await self.until_keyboard(chat, after)

    def button(self, chat: int, label: str) -> tuple[int, str]:
        return on_screen(self.server, chat, label)

    async def begin(self, chat: int) -> list[SentMessage]:
        """/start as a new person, and past the age question when the flows ask it."""
        menu = await self.send(chat, "/start")
        if CONSENT is not None and CONSENT in labels(menu[-1]):
            menu += await self.press(chat, CONSENT)
        return menu

    async def boundaries(self, chat: int) -> list[SentMessage]:
        """A consenting person opens the boundary questions (the deep link /start boundaries)."""
        await self.begin(chat)
        return await self.send(chat, "/start boundaries")

    async def settled(self, timeout: float = WAIT) -> None:
        """Wait until every pushed update is confirmed, handled and answered in full, so that
        nothing more is on its way: a test can then assert that nothing else arrived."""
        deadline = time.monotonic() + timeout

        def quiet() -> bool:
            with self.server._lock:
                unanswered = [c for c in self.server.calls
                              if c.status is None and c.method != "getUpdates"]
            return self.server.pending_updates == 0 and self.bot.idle and not unanswered

        while not quiet():
            if time.monotonic() > deadline:
                raise TimeoutError(f"not settled within {timeout}s")
            await asyncio.sleep(0.01)

    async def press(self, chat: int, label: str) -> list[SentMessage]:
        message_id, data = self.button(chat, label)
        after = len(self.messages(chat))
        update = self.server.push_callback(chat, data, message_id=message_id)
        self.pressed.append(update["callback_query"]["id"])
        return await self.until_keyboard(chat, after)


def on_screen(server: FakeTelegramAPI, chat: int, label: str) -> tuple[int, str]:
    """(message id, callback data) of the newest button labelled `label`."""
    for message in reversed(server.sent_messages(chat)):
        for row in (message.reply_markup or {}).get("inline_keyboard", []):
            for button in row:
                if button["text"] == label:
                    return message.message_id, button["callback_data"]
    raise AssertionError(f"no button {label!r} on screen")


def texts(messages: list[SentMessage]) -> list[str]:
    return [m.text or "" for m in messages]


def labels(message: SentMessage) -> list[str]:
    rows = (message.reply_markup or {}).get("inline_keyboard", [])
    return [button["text"] for row in rows for button in row]


@asynccontextmanager
async def running(server: FakeTelegramAPI, store: Store, **config: object
                  ) -> AsyncIterator[Harness]:
    coach = Coach(FLOWS, store)
    settings = TelegramConfig(token=TOKEN, base_url=server.base_url, poll_timeout=1,
                              pacing=FAST, drain_timeout=5)
    bot = TelegramBot(coach, replace(settings, **config))  # type: ignore[arg-type]
    await bot.start()
    try:
        yield Harness(server, bot, coach)
    finally:
        await bot.stop()
        await coach.close()


@pytest.fixture
async def server() -> AsyncIterator[FakeTelegramAPI]:
    async with FakeTelegramAPI(TOKEN, max_poll_wait=1.0) as fake:
        yield fake


@pytest.fixture
async def tg(server: FakeTelegramAPI, tmp_path: Path) -> AsyncIterator[Harness]:
    async with running(server, open_store(str(tmp_path / "coach.db"))) as harness:
        await server.wait_for("getUpdates", include_pending=True)
        yield harness


# --------------------------------------------------------------------------- conversations


async def test_commands_are_registered_for_the_menu(tg: Harness) -> None:
    [call] = tg.server.calls_to("setMyCommands", ok_only=True)
    names = [c["command"] for c in call.params["commands"]]
    assert names == ["start", "menu", "help", "back", "resume", "export", "delete", "sos",
                     "privacy"]
    assert len(COMMANDS) == 9
    assert all(c["description"] for c in call.params["commands"])


async def test_start_then_the_whole_boundaries_flow_by_buttons_and_text(tg: Harness) -> None:
    menu = await tg.begin(ALICE)
    assert menu[0].text and labels(menu[-1])

    intro = await tg.send(ALICE, "/start boundaries")  # the deep link t.me/<bot>?start=...
    assert texts(intro) == INTRO
    assert labels(intro[-1])[0] == "Let's start"
    rows = intro[-1].reply_markup["inline_keyboard"]  # type: ignore[index]
    short = all(len(label) <= 16 for label in labels(intro[-1]))
    assert len(rows[0]) == (2 if short else 1)

    question = await tg.press(ALICE, "Let's start")
    assert question[-1].text.startswith("1 of 4")
    answers = ["Friendly is fine, flirting is not.", "No private messages to exes.",
               "Open about new friends.", "Secrets would hurt."]
    for number, answer in enumerate(answers, start=2):
        reply = await tg.send(ALICE, answer)
        if number <= 4:
            assert reply[-1].text.startswith(f"{number} of 4")
    summary = "\n".join(texts(reply))
    positions = [summary.find(answer) for answer in answers]
    assert -1 not in positions and positions == sorted(positions), "answers shown in order"
    assert "Change my answers" in labels(reply[-1])

    everything = tg.messages(ALICE)
    assert all(m.reply_markup is None for m in everything[:-1]), "old buttons linger"
    assert all(m.parse_mode is None for m in everything)  # plain text, never markup
    # every press was answered, once, and nothing failed along the way
    assert sorted(a.callback_query_id for a in tg.server.callback_answers) == sorted(tg.pressed)
    assert all(c.ok for c in tg.server.calls_to("sendMessage"))


class GatedDisk(SQLiteStore):
    """A real SQLite store whose saves wait until the test opens `gate`: the core is busy for
    exactly as long as the test needs, however fast or slow the machine. `saving` is set once
    a save is waiting."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.gate = asyncio.Event()
        self.saving = asyncio.Event()

    async def save(self, session: Session) -> None:
        self.saving.set()
        await self.gate.wait()
        await super().save(session)


class FlakyDisk(SQLiteStore):
    """A real SQLite store whose next saves fail as the test says: `busy` of them as when
    another connection holds the write lock past the busy timeout (StoreUnavailable), and
    `broken` of them with an exception the core does not expect (a bug)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.busy = 0
        self.broken = 0

    async def save(self, session: Session) -> None:
        if self.busy:
            self.busy -= 1
            raise StoreUnavailable("busy")
        if self.broken:
            self.broken -= 1
            raise RuntimeError("the store has a bug")
        await super().save(session)


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


async def test_four_answers_sent_at_once_are_handled_in_order(tg: Harness) -> None:
    await tg.boundaries(ALICE)
    await tg.press(ALICE, "Let's start")
    after = len(tg.messages(ALICE))
    for answer in ("first", "second", "third", "fourth"):
        tg.server.push_message(ALICE, answer)

    def summary() -> str:
        return next((m.text for m in tg.messages(ALICE)[after:]
                     if m.text and all(word in m.text for word in ("first", "fourth"))), "")

    await tg.server.wait_until(lambda: bool(summary()))
    # The summary lists the answers in question order: they were handled in arrival order.
    positions = [summary().find(word) for word in ("first", "second", "third", "fourth")]
    assert -1 not in positions and positions == sorted(positions), summary()


async def test_forged_and_stale_buttons_get_a_notice_and_the_current_step(
        tg: Harness) -> None:
    await tg.boundaries(ALICE)
    old_message, old_data = tg.button(ALICE, "Let's start")
    await tg.press(ALICE, "Let's start")

    after = len(tg.messages(ALICE))
    tg.server.push_callback(ALICE, "forged:1", message_id=old_message)
    reshown = await tg.until_keyboard(ALICE, after)
    assert tg.server.callback_answers[-1].text == TEXTS.get("bad_button")
    assert texts(reshown)[0] == TEXTS.get("bad_button")
    assert reshown[-1].text.startswith("1 of 4")

    after = len(tg.messages(ALICE))
    tg.server.push_callback(ALICE, old_data, message_id=old_message)
    reshown = await tg.until_keyboard(ALICE, after)
    assert tg.server.callback_answers[-1].text == TEXTS.get("stale_button")
    assert texts(reshown)[0] == TEXTS.get("stale_button")
    assert reshown[-1].text.startswith("1 of 4")
    assert len(tg.server.callback_answers) == len(tg.pressed) + 2  # every press answered
    assert [m for m in tg.messages(ALICE) if m.reply_markup] == [tg.messages(ALICE)[-1]]


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


async def test_old_buttons_are_taken_away_after_a_restart(server: FakeTelegramAPI,
                                                          tmp_path: Path) -> None:
    """The last message with buttons per chat is kept beside the store (ids only), so the
    first reply after a restart still takes the old buttons away."""
    path = tmp_path / "keys.db"
    async with running(server, open_store(str(path))) as first:
        await first.boundaries(ALICE)
        await first.press(ALICE, "Let's start")
        await first.send(ALICE, "my partner's name is Sam")
        await first.settled()
    [before] = [m for m in server.sent_messages(ALICE) if m.reply_markup]
    ledger = path.with_name(path.name + ".telegram")
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
    with sqlite3.connect(ledger) as db:
        assert db.execute("SELECT count(*) FROM keyboards").fetchone() == (0,)
        assert db.execute("SELECT count(*) FROM taken").fetchone() == (0,)


async def test_menu_and_button_words_come_from_the_flows(server: FakeTelegramAPI) -> None:
    """The command menu and the group button are core messages, like every other sentence:
    change them in the messages file and the bot says the new words."""
    entries = {**TEXTS.entries, PRIVATE_CHAT_BUTTON: "Schreib mir privat"}
    entries.update({f"command_{name}": f"Beschreibung von /{name}" for name in COMMANDS})
    catalog = dataclasses.replace(FLOWS, texts=Texts(entries))
    coach = Coach(catalog, MemoryStore())
    bot = TelegramBot(coach, TelegramConfig(token=TOKEN, base_url=server.base_url,
                                            poll_timeout=1, pacing=FAST))
    await bot.start()
    try:
        [call] = server.calls_to("setMyCommands", ok_only=True)
        assert [(c["command"], c["description"]) for c in call.params["commands"]] == [
            (name, f"Beschreibung von /{name}") for name in COMMANDS]
        server.push_command(GROUP, "start", chat_type="supergroup", user_id=ALICE)
        await server.wait_until(lambda: bool(server.sent_messages(GROUP)))
        [notice] = server.sent_messages(GROUP)
        assert notice.reply_markup["inline_keyboard"][0][0]["text"] == "Schreib mir privat"
    finally:
        await bot.stop()


async def test_markup_arrives_unchanged_and_long_text_is_split_or_refused(
        tg: Harness) -> None:
    await tg.boundaries(ALICE)
    await tg.press(ALICE, "Let's start")

    refused = await tg.send(ALICE, "x" * 5000)
    assert texts(refused)[0] == TEXTS.get("too_long", length=5000, max=1000)
    assert "Skip this one" in labels(refused[-1])  # still on the same question

    await tg.send(ALICE, "<b>&</b> & <i>")
    # 1000 emoji: 1000 characters for the core, 2000 UTF-16 units for Telegram.
    for _ in range(3):
        await tg.send(ALICE, "😀" * 1000)
    summary = next(m.text for m in tg.messages(ALICE) if "<b>&</b>" in (m.text or ""))
    assert ": <b>&</b> & <i>\n" in summary  # exactly as typed, no markup parsed
    assert all(utf16_len(m.text or "") <= MAX_TEXT_UNITS for m in tg.messages(ALICE))
    chunks = [m.text for m in tg.messages(ALICE) if "😀" * 1000 in (m.text or "")]
    assert len(chunks) == 2, "the 6,000-unit summary is split at a line break"
    assert all(c.ok for c in tg.server.calls_to("sendMessage"))


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


async def test_after_a_crash_unanswered_updates_get_the_current_step_again(
        server: FakeTelegramAPI, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """What a kill -9 at the wrong moment leaves in the ledger, and what the next start does
    with it: an update noted as committed (Telegram will not send it again) gets the person's
    step at start; one noted only as taken gets it when Telegram sends it again and the core
    finds it committed. Either way once, after "Welcome back". A committed button press is
    answered at start while Telegram still knows it (its spinner stops); one taken long ago
    is not tried, and one Telegram has forgotten is refused quietly."""
    caplog.set_level(logging.INFO, logger="coach.telegram")
    path = tmp_path / "crash.db"
    async with running(server, open_store(str(path))) as first:
        await first.begin(ALICE)
        await first.begin(BOB)
        await first.boundaries(CAROL)
        alice = server.push_command(ALICE, "help")
        bob = server.push_command(BOB, "help")
        await first.press(CAROL, "Let's start")
        await first.settled()
    carol_press = first.pressed[-1]
    ledger = path.with_name(path.name + ".telegram")
    now = time.time()
    rows = [  # update, chat, user, committed, taken at, callback query
        (alice["update_id"], ALICE, ALICE, 1, now, None),  # committed, reply not noted as sent
        (bob["update_id"], BOB, BOB, 0, now, None),  # taken, not committed
        (900_001, CAROL, CAROL, 1, now, carol_press),  # a press, still known to Telegram
        (900_002, CAROL, CAROL, 1, now - 3600, "4242000000000000777"),  # pressed long ago
        (900_003, CAROL, CAROL, 1, now, "4242000000000000888"),  # one Telegram has forgotten
    ]
    with contextlib.closing(sqlite3.connect(ledger)) as db, db:
        db.executemany("INSERT INTO taken (update_id, chat_id, user_id, committed, at, query_id)"
                       " VALUES (?, ?, ?, ?, ?, ?)", rows)
    welcome = TEXTS.get("welcome_back_menu")
    carol_welcome = TEXTS.get("welcome_back", title=FLOWS.flows["boundaries"].spec.title)
    before = {chat: len(server.sent_messages(chat)) for chat in (ALICE, BOB, CAROL)}
    answered_before = len(server.callback_answers)

    def new(chat: int) -> list[str]:
        return texts(server.sent_messages(chat)[before[chat]:])

    def answers(query_id: str) -> list[RecordedCall]:
        return [c for c in server.calls_to("answerCallbackQuery")
                if c.params["callback_query_id"] == query_id]

    async with running(server, open_store(str(path))) as second:
        await server.wait_until(lambda: welcome in new(ALICE))  # at start, without asking
        await server.wait_until(lambda: carol_welcome in new(CAROL))
        assert new(BOB) == []
        server.push_update(bob)  # never confirmed, so Telegram sends it again
        server.push_update(alice)  # and a stray second delivery of Alice's
        await second.settled()
    for chat in (ALICE, BOB):
        assert new(chat).count(welcome) == 1 and new(chat)[0] == welcome, new(chat)
        assert server.sent_messages(chat)[-1].reply_markup  # the step, with its buttons
    assert new(CAROL)[0] == carol_welcome and new(CAROL)[-1].startswith("1 of 4")
    assert [c.status for c in answers(carol_press)][-1] == 200
    assert [a.callback_query_id for a in server.callback_answers[answered_before:]] == [
        carol_press]
    assert answers("4242000000000000777") == []  # too old to try
    assert [c.status for c in answers("4242000000000000888")] == [400]
    assert "event=callback_answer_expired" in caplog.text
    assert "event=send_failed" not in caplog.text
    with contextlib.closing(sqlite3.connect(ledger)) as db:
        assert db.execute("SELECT count(*) FROM taken").fetchone() == (0,)


def test_a_ledger_from_before_presses_were_kept_still_opens(tmp_path: Path) -> None:
    """A ledger file written by the previous version (no callback query column) gets the
    column, and its rows are recovered as before."""
    from adapters.telegram_ledger import SQLiteLedger

    path, taken_at = tmp_path / "coach.db.telegram", time.time()
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.execute("""
            CREATE TABLE taken (
                update_id INTEGER PRIMARY KEY, chat_id INTEGER NOT NULL,
                user_id INTEGER NOT NULL, committed INTEGER NOT NULL DEFAULT 0,
                at REAL NOT NULL)""")
        db.execute("INSERT INTO taken VALUES (7, 42, 42, 1, ?)", (taken_at,))
    ledger = SQLiteLedger(path)
    try:
        [row] = ledger.recovered()
        assert (row.update_id, row.committed, row.query_id, row.at) == (7, True, None, taken_at)
    finally:
        ledger.close()


# --------------------------------------------------------------------------- flood control


@RETRY_AFTER_WARNING
async def test_a_429_storm_delays_only_its_own_chat(server: FakeTelegramAPI,
                                                    tmp_path: Path) -> None:
    """Alice's chat is flooded (every send to her gets 429) for as long as the test keeps it
    so: her lane waits out one retry_after after another, and Bob is answered meanwhile. When
    the flood ends, her messages go out, in order."""
    patient = replace(FAST, max_flood_waits=10_000)  # the flood lasts as long as the test says
    async with running(server, open_store(str(tmp_path / "flood.db")), pacing=patient) as tg:
        await tg.begin(ALICE)
        await tg.begin(BOB)
        mark, alice_before = len(server.calls), len(tg.messages(ALICE))
        server.flood_chat(ALICE, retry_after=1)
        server.push_command(ALICE, "start", "boundaries")  # two messages, the last with buttons
        await server.wait_for(lambda c: c.method == "sendMessage" and c.status == 429,
                              after=mark)
        bob_reply = await tg.send(BOB, "/help")  # while Alice's lane waits out her 429s
        assert bob_reply[0].text.startswith(TEXTS.get("help")[:20])
        to_alice = [c for c in server.calls[mark:]
                    if c.method == "sendMessage" and c.params["chat_id"] == ALICE]
        assert to_alice and not any(c.ok for c in to_alice), "Alice's came first"
        server.unflood_chat(ALICE)
        alice = await tg.until_keyboard(ALICE, alice_before)
        assert texts(alice) == INTRO
        statuses = [c.status for c in server.calls[mark:]
                    if c.method == "sendMessage" and c.params["chat_id"] == ALICE]
        floods = statuses.count(429)
        assert floods >= 1 and statuses == [429] * floods + [200] * len(INTRO)
        assert tg.bot.outbox.flood_waits == floods


def test_the_token_bucket_gives_a_burst_then_spaces_by_the_rate() -> None:
    """The pacing arithmetic on a clock the test moves: exact, whatever the machine does."""
    now = [1000.0]
    bucket = TokenBucket(rate=20.0, burst=2, clock=lambda: now[0])
    assert [round(bucket.reserve(), 9) for _ in range(6)] == [0, 0, 0.05, 0.1, 0.15, 0.2]
    now[0] += 1.0  # refilled, but never past the burst
    assert bucket.full()
    assert [round(bucket.reserve(), 9) for _ in range(3)] == [0, 0, 0.05]
    bucket.empty()  # after a 429 Telegram's count matters: start from nothing
    assert round(bucket.reserve(), 9) == 0.1
    now[0] += 0.05
    assert round(bucket.reserve(), 9) == 0.1


async def test_pacing_spaces_one_chat_and_the_global_bucket_caps_all() -> None:
    """Real sleeps, so only what holds on any machine: never sooner than the rate allows,
    and a chat's paced sends do not hold up another chat."""
    sent: list[tuple[int, float]] = []

    def recorder(chat: int) -> Callable[[], asyncio.Future[None]]:
        async def call() -> None:
            sent.append((chat, time.monotonic()))
        return call  # type: ignore[return-value]

    outbox = Outbox(Pacing(per_chat=20.0, chat_burst=2, overall=None))
    for _ in range(6):
        outbox.send(1, recorder(1), "sendMessage")
    outbox.send(2, recorder(2), "sendMessage")
    assert await outbox.drain(WAIT)
    chat_one = [t for chat, t in sent if chat == 1]
    assert [chat for chat, _ in sent].index(2) < 3  # not behind chat 1's paced sends
    assert chat_one == sorted(chat_one)
    assert chat_one[-1] - chat_one[0] >= 0.18  # burst of 2, then 20/s: 4 x 50 ms

    sent.clear()
    outbox = Outbox(Pacing(per_chat=None, overall=50.0, overall_burst=1))
    started = time.monotonic()
    for chat in range(6):
        outbox.send(chat, recorder(chat), "sendMessage")
    assert await outbox.drain(WAIT)
    assert max(t for _, t in sent) - started >= 0.09  # 6 sends at 50/s across chats


async def test_timeouts_are_logged_and_retried_once_when_that_is_safe(
        caplog: pytest.LogCaptureFixture) -> None:
    """Not sent (connecting, or no free connection): retried once. Sent, no answer: it may have
    arrived, so a message is not sent again (it could show twice), but taking a keyboard off
    is (twice is harmless). Each timeout is logged with the call and chat id only."""
    caplog.set_level(logging.INFO, logger="coach.telegram.outbox")
    attempts: dict[str, int] = {}

    def failing(name: str, *errors: Exception) -> Callable[[], asyncio.Future[None]]:
        queue = list(errors)

        async def call() -> None:
            attempts[name] = attempts.get(name, 0) + 1
            if queue:
                raise queue.pop(0)
        return call  # type: ignore[return-value]

    outbox = Outbox(Pacing.off())
    outbox.send(1, failing("unsent", NotSent("connect")), "sendMessage")
    outbox.send(2, failing("read", TimedOut()), "sendMessage")
    outbox.send(3, failing("edit", TimedOut()), "editMessageReplyMarkup")
    outbox.send(4, failing("twice", NotSent("connect"), NotSent("connect")), "sendMessage")
    assert await outbox.drain(5)
    assert attempts == {"unsent": 2, "read": 1, "edit": 2, "twice": 2}
    logged = caplog.text
    assert "event=send_timed_out call=sendMessage chat=1 phase=connect attempt=1 retry=yes" \
        in logged
    assert "event=send_timed_out call=sendMessage chat=2 phase=read attempt=1 retry=no" in logged
    assert "event=send_timed_out call=editMessageReplyMarkup chat=3 phase=read attempt=1 " \
        "retry=yes" in logged
    assert "event=send_timed_out call=sendMessage chat=4 phase=connect attempt=2 retry=no" \
        in logged
    assert outbox.failures == 2  # chat 2's message and chat 4's, each logged as send_failed


async def test_the_transport_tells_a_timeout_before_sending_from_one_after(
        server: FakeTelegramAPI) -> None:
    """The fake holds every sendMessage unanswered, so the one connection stays taken for as
    long as the test needs, and an answer never comes: no race with a timer."""
    server.hold("sendMessage")
    request = AiohttpRequest(pool=1, read_timeout=WAIT, connect_timeout=WAIT, pool_timeout=WAIT)
    await request.initialize()
    url = server.method_url("sendMessage")
    try:
        first = asyncio.create_task(request.do_request(url, "POST"))  # takes the connection
        await server.wait_for("sendMessage", include_pending=True)
        with pytest.raises(NotSent):  # no free connection: it never left
            await request.do_request(url, "POST", connect_timeout=0.1, pool_timeout=0.1)
        first.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await first
        with pytest.raises(TimedOut) as waited:  # sent, and no answer in time
            await request.do_request(url, "POST", read_timeout=0.2)
        assert not isinstance(waited.value, NotSent)
        assert len(server.calls_to("sendMessage")) == 2  # the one that timed out did arrive
    finally:
        await request.shutdown()


def test_keyboards_drop_oversized_callback_data_and_pair_short_labels(
        caplog: pytest.LogCaptureFixture) -> None:
    markup = keyboard([Choice("é" * 33, "Too long"), Choice("1.0", "Yes"), Choice("1.1", "No"),
                       Choice("1.2", "Maybe")])
    assert markup is not None
    assert [[b.text for b in row] for row in markup.inline_keyboard] == [["Yes", "No"],
                                                                         ["Maybe"]]
    assert "event=button_dropped reason=callback_data_size bytes=66" in caplog.text
    long = keyboard([Choice("1.0", "Continue where I left off"), Choice("1.1", "Menu")])
    assert long is not None and [len(row) for row in long.inline_keyboard] == [1, 1]
    assert keyboard([]) is None


def test_split_text_counts_utf16_and_prefers_paragraphs_then_sentences() -> None:
    paragraphs = "\n\n".join(["a" * 3000, "b" * 3000])
    assert split_text(paragraphs) == ["a" * 3000, "b" * 3000]
    sentences = ("One sentence here. " * 400).strip()
    chunks = split_text(sentences)
    assert len(chunks) == 2 and all(c.endswith(".") for c in chunks)
    assert " ".join(chunks) == sentences
    emoji = "😀" * 3000  # 6000 units, no boundary at all: a hard cut between characters
    chunks = split_text(emoji)
    assert [utf16_len(c) for c in chunks] == [4096, 1904]
    assert "".join(chunks) == emoji
    assert split_text("  ") == [] and split_text("short") == ["short"]


# Grapheme clusters a reader sees as one character, each more than one code point.
CLUSTERS = [
    "👩\u200d👩\u200d👧\u200d👦",  # a family: four emoji joined by ZWJ
    "🇩🇪", "🇯🇵",  # flags: pairs of regional indicators
    "e\u0301", "a\u0308\u0323",  # a letter with combining accents
    "❤\ufe0f",  # a variation selector
    "1\ufe0f\u20e3",  # a keycap
    "👍🏽",  # a skin tone
    "🏴\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f",  # Scotland's flag
    "\u1100\u1161\u11a8",  # a Hangul syllable written as jamo
    "क्ष",  # an Indic conjunct (consonant, virama, consonant)
]


def test_a_hard_cut_never_splits_a_grapheme_cluster() -> None:
    import random

    rng = random.Random(5)
    for _ in range(40):
        clusters = [rng.choice(CLUSTERS) for _ in range(rng.randint(20, 120))]
        text = "".join(clusters)  # no spaces: only hard cuts
        starts, at = {0}, 0
        for cluster in clusters:
            at += len(cluster)
            starts.add(at)
        for limit in (14, 15, 17, 29, 64, 101):  # the longest cluster is 14 units
            chunks = split_text(text, limit)
            assert "".join(chunks) == text
            assert all(utf16_len(chunk) <= limit for chunk in chunks)
            cut = 0
            for chunk in chunks[:-1]:
                cut += len(chunk)
                assert cut in starts, f"cut inside {text[cut - 3:cut + 3]!r} (limit {limit})"
    # One cluster longer than the limit has to be cut somewhere: between code points.
    stacked = "a" + "\u0301" * 30
    assert "".join(split_text(stacked, 10)) == stacked


def test_text_boundaries_are_grapheme_boundaries_too() -> None:
    text = "word " + "\u0301" * 3 + "x" * 20  # a space with accents on it is one cluster
    chunks = split_text(text, 12)
    assert "".join(chunks).replace(" ", "") == text.replace(" ", "")
    assert not any(chunk.startswith("\u0301") for chunk in chunks)


# --------------------------------------------------------------------------- webhook


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_webhook_mode_checks_the_secret(server: FakeTelegramAPI, tmp_path: Path) -> None:
    port = _free_port()
    url = f"http://127.0.0.1:{port}/telegram/hook"
    store = open_store(str(tmp_path / "w.db"))
    async with running(server, store, webhook_url=url, listen="127.0.0.1", port=port,
                       webhook_secret="s3cret-Value_1") as tg:
        [set_call] = server.calls_to("setWebhook")
        assert set_call.params["url"] == url
        assert set_call.params["secret_token"] == "s3cret-Value_1"
        assert set_call.params["max_connections"] == WEBHOOK_MAX_CONNECTIONS
        assert server.calls_to("getUpdates") == []

        menu = await tg.send(ALICE, "/start")  # the fake POSTs it with the right secret
        assert menu[0].text and labels(menu[-1])
        assert server.webhook_deliveries[-1][1] == 200

        update = {"update_id": 777, "message": {
            "message_id": 99, "date": 0, "text": "/help",
            "chat": {"id": BOB, "type": "private"},
            "from": {"id": BOB, "is_bot": False, "first_name": "Bob"}}}
        assert (await server.post_webhook_update(url, update, "wrong"))[0] == 403
        assert (await server.post_webhook_update(url, update, None))[0] == 401
        assert (await server.post_webhook_update(url, update, "s3cret-Value_1x"))[0] == 403
        async with aiohttp.ClientSession() as session:
            async with session.post(url, data=b"not json",
                                    headers={SECRET_HEADER: "s3cret-Value_1"}) as response:
                assert response.status == 400
            huge = json.dumps({**update, "padding": "x" * (2 << 20)})  # over the 1 MB cap
            async with session.post(url, data=huge, headers={
                    SECRET_HEADER: "s3cret-Value_1", "Content-Type": "application/json"}
                    ) as response:
                assert response.status == 413
        assert tg.messages(BOB) == []
        status, _ = await server.post_webhook_update(url, update, "s3cret-Value_1")
        assert status == 200
        reply = await tg.until_keyboard(BOB, 0)
        assert reply[0].text == TEXTS.get("help") or reply[0].text.startswith("Here's how")
    assert server.calls_to("deleteWebhook", ok_only=True)
    assert server.webhook_url == ""


async def test_webhook_answers_200_only_once_the_update_is_committed(
        server: FakeTelegramAPI, tmp_path: Path) -> None:
    """Telegram forgets an update on 200: it must not hear that before the core committed
    it, or a crash in between loses the update. (The store here saves only when the test
    opens its gate.)"""
    port = _free_port()
    url = f"http://127.0.0.1:{port}/hook"
    store = GatedDisk(tmp_path / "slow-hook.db")
    async with running(server, store, webhook_url=url, listen="127.0.0.1", port=port,
                       webhook_secret="s3cret-Value_2") as tg:
        update = {"update_id": 9001, "message": {
            "message_id": 1, "date": 0, "text": "/start",
            "chat": {"id": BOB, "type": "private"},
            "from": {"id": BOB, "is_bot": False, "first_name": "Bob"}}}
        post = asyncio.create_task(server.post_webhook_update(url, update, "s3cret-Value_2"))
        await asyncio.wait_for(store.saving.wait(), WAIT)
        assert not post.done()  # the core is still saving: Telegram has heard nothing yet
        store.gate.set()
        status, _ = await post
        assert status == 200
        saved = await store.load(f"telegram:{BOB}")
        assert saved is not None and "9001" in saved.seen  # committed before the 200
        await tg.until_keyboard(BOB, 0)


# --------------------------------------------------------------------------- store failures


def _mode(mode: str) -> dict[str, object]:
    """TelegramBot settings for polling, or for a webhook on a free local port."""
    if mode == "polling":
        return {}
    port = _free_port()
    return {"webhook_url": f"http://127.0.0.1:{port}/hook", "listen": "127.0.0.1",
            "port": port, "webhook_secret": "s3cret-Value_3"}


def _said(server: FakeTelegramAPI, chat: int, text: str, after: int = 0) -> list[RecordedCall]:
    return [c for c in server.calls[after:] if c.method == "sendMessage"
            and c.params["chat_id"] == chat and c.params["text"] == text]


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
    async with running(server, store, **_mode(mode)) as tg:
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
    ledger = (tmp_path / "busy.db").with_name("busy.db.telegram")
    with contextlib.closing(sqlite3.connect(ledger)) as db:
        assert db.execute("SELECT count(*) FROM taken").fetchone() == (0,)


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
    async with running(server, store, pacing=impatient, **_mode(mode)) as tg:
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
        assert not any(c.ok for c in _said(server, ALICE, TEXTS.get("not_saved"), mark))
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
    async with running(server, store, **_mode(mode)) as tg:
        await tg.boundaries(ALICE)
        store.broken = 1
        question = await tg.press(ALICE, "Let's start")
        assert question[-1].text.startswith("1 of 4")
        assert caplog.text.count("event=handler_error") == 1

        store.broken = HANDLE_ATTEMPTS
        mark, on_screen_before = len(server.calls), tg.messages(ALICE)[-1]
        update = server.push_message(ALICE, "Friendly is fine.")
        await server.wait_until(lambda: update["update_id"] in server.confirmed_at)
        [told] = _said(server, ALICE, not_saved, mark)
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


# --------------------------------------------------------------------------- the command


def _env(server: FakeTelegramAPI | None, store: Path, token: str | None = TOKEN) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TELEGRAM_", "COACH_")) or k == "COACH_FLOWS_DIR"}
    env.update({"COACH_STORE": str(store), "PYTHONUNBUFFERED": "1"})
    if token is not None:
        env["TELEGRAM_BOT_TOKEN"] = token
    if server is not None:
        env["TELEGRAM_API_BASE_URL"] = server.base_url
    return env


def _start(env: dict, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "bot", *args, "telegram"], cwd=REPO,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


@pytest.fixture
def threaded_server() -> FakeTelegramAPI:
    server = FakeTelegramAPI(TOKEN, max_poll_wait=0.5)
    _, stop = server.run_in_thread()
    yield server  # type: ignore[misc]
    stop()


def _sent(server: FakeTelegramAPI, chat: int, after: int,
          predicate: Callable[[str, bool], bool]) -> str:
    """Wait (blocking) for a message to `chat`, sent after call number `after`, whose
    (text, has buttons) satisfies `predicate`; returns its text."""
    def match(call: RecordedCall) -> bool:
        return (call.ok and call.method == "sendMessage" and call.params["chat_id"] == chat
                and predicate(call.params["text"], bool(call.params.get("reply_markup"))))

    return str(server.wait_for_sync(match, after=after, timeout=WAIT)[0].params["text"])


def _reply(server: FakeTelegramAPI, push: Callable[[], object], chat: int = ALICE) -> str:
    """Push an update and wait for the message that ends its reply (the one with buttons)."""
    mark = len(server.calls)
    push()
    return _sent(server, chat, mark, lambda _, buttons: buttons)


def _to_the_first_question(server: FakeTelegramAPI) -> None:
    """As a new person: /start, the age question if asked, /start boundaries, Let's start."""
    _reply(server, lambda: server.push_command(ALICE, "start"))
    if CONSENT is not None and CONSENT in _labels(server):
        _press(server, CONSENT)
    _reply(server, lambda: server.push_command(ALICE, "start", "boundaries"))
    assert _press(server, "Let's start").startswith("1 of 4")


def _labels(server: FakeTelegramAPI) -> list[str]:
    return labels(server.sent_messages(ALICE)[-1])


def _press(server: FakeTelegramAPI, label: str) -> str:
    message_id, data = on_screen(server, ALICE, label)
    return _reply(server, lambda: server.push_callback(ALICE, data, message_id=message_id))


def _stop(proc: subprocess.Popen) -> str:
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=WAIT)
    return out.decode()


def test_kill_minus_nine_mid_flow_then_resume(threaded_server: FakeTelegramAPI,
                                              tmp_path: Path) -> None:
    server, store = threaded_server, tmp_path / "k.db"
    proc = _start(_env(server, store))
    try:
        server.wait_for_sync("getUpdates", include_pending=True, timeout=WAIT)
        _to_the_first_question(server)
        answer: dict = {}
        assert _reply(server, lambda: answer.update(server.push_message(ALICE, "Friendly."))
                      ).startswith("2 of 4")
        proc.send_signal(signal.SIGKILL)  # the answer was acknowledged: it must survive
        proc.wait(timeout=WAIT)
    finally:
        proc.kill()
    proc = _start(_env(server, store))
    try:
        mark = len(server.calls)
        server.wait_for_sync("getUpdates", include_pending=True, after=mark, timeout=WAIT)
        server.push_update(answer)  # redelivered after the crash: handled once already
        resumed = _reply(server, lambda: server.push_command(ALICE, "resume"))
        assert resumed.startswith("2 of 4")
        again = [m for m in server.sent_messages(ALICE) if (m.text or "").startswith("2 of 4")]
        assert len(again) == 2  # the answer's reply and /resume: no reply to the duplicate
        out = _stop(proc)
        assert proc.returncode == 0, out
    finally:
        proc.kill()


# A bot process on the real adapter with fast pacing (production pacing would take minutes to
# answer 1,500 people), for the kill -9 tests. argv: API base URL, store path, and optionally
# the path of another adapters/telegram.py to run instead (to show what a fix fixes).
BOT_PROCESS = """
import asyncio, importlib.util, sys
from adapters.outbox import Pacing
from bot.app import load_flows
from bot.pipeline import Coach
from bot.store.url import open_store
if len(sys.argv) > 3:
    spec = importlib.util.spec_from_file_location("telegram_under_test", sys.argv[3])
    adapter = sys.modules[spec.name] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(adapter)
else:
    import adapters.telegram as adapter
fast = Pacing(per_chat=200.0, chat_burst=50, per_group=200.0, group_burst=50, overall=1000.0,
              overall_burst=200)
config = adapter.TelegramConfig(token=sys.argv[4] if len(sys.argv) > 4 else TOKEN,
                                base_url=sys.argv[1], poll_timeout=1, pacing=fast)
coach = Coach(load_flows(), open_store(sys.argv[2]))
raise SystemExit(asyncio.run(adapter.serve(coach, config)))
"""


def _bot_process(server: FakeTelegramAPI, store: Path, adapter: str | None = None
                 ) -> subprocess.Popen:
    script = f"TOKEN = {TOKEN!r}\n" + BOT_PROCESS
    args = [sys.executable, "-c", script, server.base_url, str(store)]
    if adapter:
        args.append(adapter)
    env = _env(None, store, token=None)
    return subprocess.Popen(args, cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)


def _complete_replies(server: FakeTelegramAPI) -> dict[int, list[RecordedCall]]:
    """Per chat, the answered sendMessage calls that end a reply (the ones with buttons)."""
    done: dict[int, list[RecordedCall]] = {}
    for call in server.calls_to("sendMessage", ok_only=True):
        if call.params.get("reply_markup"):
            done.setdefault(call.params["chat_id"], []).append(call)
    return done


def _ledger_users(ledger: Path) -> set[int]:
    """The people in the bot's ledger: taken, and their reply not noted as sent in full.
    (Another process's connection: closing it cannot drop the bot's own locks.)"""
    with contextlib.closing(sqlite3.connect(ledger)) as db:
        return {int(user) for (user,) in db.execute("SELECT user_id FROM taken")}


PEOPLE = 1500
FIRST_PERSON = 7_000_000


@pytest.mark.parametrize("on_the_wire", [False, True], ids=["settled", "mid-burst"])
def test_kill_minus_nine_in_a_backlog_loses_no_update(threaded_server: FakeTelegramAPI,
                                                      tmp_path: Path, on_the_wire: bool) -> None:
    """The audit's repro: 1,500 people each send /start while the bot is down; it starts, is
    killed (-9) after 30 replies, and starts again. Nobody is left without a reply.

    The first people's replies are held at Telegram's door from the start, so whenever the
    kill lands it finds a backlog: updates committed whose replies never went out. Those
    people get their step after the restart, after "Welcome back".

    "settled": from the 30th reply on, Telegram (the fake) holds every message, and the kill
    comes once the bot has noted in its ledger every reply Telegram answered: then every
    person gets exactly one reply. "mid-burst": the kill lands while answers are still on the
    wire. Whoever's reply was delivered but not yet noted (their row still in the ledger,
    read right after the kill) may get their step a second time, because a reply is sent at
    least once, never lost. Nobody else does."""
    server, store = threaded_server, tmp_path / "backlog.db"
    ledger = store.with_name(store.name + ".telegram")
    people = range(FIRST_PERSON, FIRST_PERSON + PEOPLE)
    stuck = set(people[:3])
    for person in stuck:
        server.hold("sendMessage", person)
    for person in people:
        server.push_command(person, "start")
    adapter = os.environ.get("COACH_TEST_TELEGRAM_ADAPTER")  # to run an older adapter

    def held_for_all_stuck() -> bool:
        return stuck <= {c.params.get("chat_id") for c in server.calls if c.held}

    def all_answers_noted() -> bool:
        if any(c.status is None and not c.held for c in server.calls
               if c.method != "getUpdates"):
            return False  # an answer still on its way to the bot
        return not _ledger_users(ledger) & set(_complete_replies(server))

    proc = _bot_process(server, store, adapter)
    try:
        server.wait_for_sync(lambda c: c.ok and c.method == "sendMessage"
                             and bool(c.params.get("reply_markup")), count=30, timeout=WAIT)
        server.wait_until_sync(held_for_all_stuck, timeout=WAIT)  # committed, being sent
        if not on_the_wire:
            server.hold("sendMessage")  # from now on nothing more is delivered
            server.wait_until_sync(all_answers_noted, timeout=WAIT, poll=0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=WAIT)
    finally:
        proc.kill()
    unnoted = _ledger_users(ledger)  # what the bot could not know was delivered
    for person in stuck:  # the killed process's requests never arrived
        server.release("sendMessage", person, drop=True)
    server.release("sendMessage", drop=True)
    assert stuck <= unnoted
    proc = _bot_process(server, store, adapter)
    try:
        server.wait_until_sync(lambda: len(_complete_replies(server)) >= PEOPLE
                               and not server.pending_updates, timeout=3 * WAIT, poll=0.2)
        out = _stop(proc)  # SIGTERM: it sends what is queued before it exits
    finally:
        proc.kill()
    assert proc.returncode == 0, out
    assert "Traceback" not in out, out
    replies = _complete_replies(server)
    unanswered = [p for p in people if p not in replies]
    assert not unanswered, f"{len(unanswered)} of {PEOPLE} people got no reply"
    welcome = TEXTS.get("welcome_back_menu")
    welcomed = {p for p in people if any(m.text == welcome for m in server.sent_messages(p))}
    assert stuck <= welcomed, "the backlog the kill hit was not shown again"
    twice = {chat for chat, calls in replies.items() if len(calls) > 1}
    if not on_the_wire:
        assert not twice, f"{len(twice)} people got two replies"
    assert twice <= unnoted & welcomed, f"{len(twice - unnoted)} people got two replies"


def test_a_press_committed_before_a_kill_is_answered_after_the_restart(
        threaded_server: FakeTelegramAPI, tmp_path: Path) -> None:
    """A button press the core committed, and then the process is killed before Telegram
    heard anything back: not the answer to the press (the spinner on the button), nor the
    reply. Telegram will not send the press again (its offset was confirmed). After the
    restart the ledger has it: the press is answered, and the step is shown again."""
    server, store = threaded_server, tmp_path / "press.db"
    replies = ("answerCallbackQuery", "editMessageReplyMarkup", "sendMessage")
    proc = _bot_process(server, store)
    try:
        server.wait_for_sync("getUpdates", include_pending=True, timeout=WAIT)
        _reply(server, lambda: server.push_command(ALICE, "start"))
        if CONSENT is not None and CONSENT in _labels(server):
            _press(server, CONSENT)
        _reply(server, lambda: server.push_command(ALICE, "start", "boundaries"))
        for method in replies:  # from now on Telegram hears nothing of the reply
            server.hold(method)
        message_id, data = on_screen(server, ALICE, "Let's start")
        press = server.push_callback(ALICE, data, message_id=message_id)
        query_id = press["callback_query"]["id"]
        server.wait_for_sync(lambda c: c.method == "answerCallbackQuery" and c.held,
                             include_pending=True, timeout=WAIT)  # committed, answering
        server.wait_for_sync(lambda c: c.method == "getUpdates"
                             and int(c.params.get("offset") or 0) > press["update_id"],
                             include_pending=True, timeout=WAIT)  # the commit noted, confirmed
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=WAIT)
    finally:
        proc.kill()
    for method in replies:
        server.release(method, drop=True)
    assert query_id not in [a.callback_query_id for a in server.callback_answers]
    mark = len(server.calls)
    proc = _bot_process(server, store)
    try:
        [answer] = server.wait_for_sync(
            lambda c: c.method == "answerCallbackQuery"
            and c.params["callback_query_id"] == query_id, after=mark, timeout=WAIT)
        resumed = _sent(server, ALICE, mark, lambda _, buttons: buttons)
        out = _stop(proc)
    finally:
        proc.kill()
    assert proc.returncode == 0, out
    assert answer.ok
    assert resumed.startswith("1 of 4")  # the press's step, shown again
    welcome = TEXTS.get("welcome_back", title=FLOWS.flows["boundaries"].spec.title)
    assert welcome in texts(server.sent_messages(ALICE))
    assert [a.callback_query_id for a in server.callback_answers].count(query_id) == 1


def test_debug_logs_carry_neither_token_nor_user_text(threaded_server: FakeTelegramAPI,
                                                      tmp_path: Path) -> None:
    server, secret_text = threaded_server, "my-partner-secret-7f3a"
    # A reverse proxy's error page that echoes the request path, token included. PTB logs a
    # body it cannot parse (with a traceback), so the token reaches the log handlers and only
    # the redaction installed by `coach telegram` keeps it out of the output.
    page = "<html><h1>502 Bad Gateway</h1><p>upstream failed: POST {path}</p></html>"
    server.inject_raw_error("getUpdates", 502, page)
    server.inject_raw_error("sendMessage", 502, page)
    proc = _start(_env(server, tmp_path / "d.db"), "--log-level", "DEBUG")
    try:
        server.wait_for_sync("getUpdates", include_pending=True, timeout=WAIT)
        _to_the_first_question(server)  # the failed poll and send are retried
        assert _reply(server, lambda: server.push_message(ALICE, secret_text)
                      ).startswith("2 of 4")
        server.push_message(ALICE, "/export")
        server.wait_for_sync("sendDocument", timeout=WAIT)
        out = _stop(proc)
    finally:
        proc.kill()
    assert proc.returncode == 0, out
    assert "event=answer" in out and "DEBUG" in out  # it did log, at DEBUG
    assert server.calls_to("getUpdates")[0].status == 502
    assert out.count("Can not load invalid JSON data") == 2  # both pages reached the logs
    assert "upstream failed: POST /bot<redacted>/getUpdates" in out
    assert "upstream failed: POST /bot<redacted>/sendMessage" in out
    assert TOKEN not in out and TOKEN.split(":")[1] not in out
    assert secret_text not in out
    assert "event=handler_error" not in out and "Unclosed" not in out


def test_a_rejected_token_is_one_line_without_the_token(threaded_server: FakeTelegramAPI,
                                                        tmp_path: Path) -> None:
    wrong = "987654321:AAWrongTokenWrongTokenWrongToken123"
    done = subprocess.run([sys.executable, "-m", "bot", "--log-level", "DEBUG", "telegram"],
                          cwd=REPO, env=_env(threaded_server, tmp_path / "r.db", wrong),
                          capture_output=True, text=True, timeout=WAIT)
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    assert done.stderr.strip().splitlines()[-1] == (
        "coach: Telegram rejected TELEGRAM_BOT_TOKEN (401 Unauthorized); check it with "
        "@BotFather")  # and nothing after it: no "Unclosed client session"
    assert wrong not in output and wrong.split(":")[1] not in output
    assert "Traceback" not in output and "Unclosed" not in output


def test_an_unreachable_api_is_one_line_and_closes_its_sessions(tmp_path: Path) -> None:
    env = _env(None, tmp_path / "u.db")
    env["TELEGRAM_API_BASE_URL"] = f"http://127.0.0.1:{_free_port()}/bot"  # nobody listens
    done = subprocess.run([sys.executable, "-m", "bot", "telegram"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=WAIT)
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("coach: could not start the Telegram bot: NetworkError"), line
    assert TOKEN not in output and "Unclosed" not in output and "Traceback" not in output


def test_a_missing_token_is_a_clear_error(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "bot", "telegram"], cwd=REPO,
                          env=_env(None, tmp_path / "m.db", token=None),
                          capture_output=True, text=True, timeout=WAIT)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "coach: TELEGRAM_BOT_TOKEN is not set; get a token from @BotFather and put it in the "
        "environment"]
    assert not (tmp_path / "m.db").exists()  # nothing was opened


def test_the_ledger_is_owner_only_like_the_store(tmp_path: Path) -> None:
    """The ledger beside the store holds chat and user ids: its -wal and -shm too are 0600."""
    import stat

    from adapters.telegram_ledger import SQLiteLedger

    previous = os.umask(0o022)
    try:
        ledger = SQLiteLedger.beside(tmp_path / "coach.db")
        ledger.flush()
        files = [p for p in tmp_path.iterdir() if p.name.startswith("coach.db.telegram")]
        assert {p.name for p in files} >= {"coach.db.telegram", "coach.db.telegram-wal"}
        for path in files:
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name
    finally:
        os.umask(previous)
