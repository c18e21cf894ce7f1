"""The Telegram adapter end to end: a real PTB Application against the fake Bot API server.

Real parts only: python-telegram-bot talking HTTP to tests/fakes/telegram_api.py, the real
core on the shipped flows, real SQLite files in tmp_path, and real `coach telegram`
subprocesses for kill -9, logging and start-up errors. Waits are on the fake's recorded
calls (`wait_for`/`wait_until`), never on sleeps.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import aiohttp
import pytest

from adapters.outbox import Outbox, Pacing
from adapters.telegram import (
    COMMANDS,
    MAX_TEXT_UNITS,
    SECRET_HEADER,
    TelegramBot,
    TelegramConfig,
    keyboard,
    split_text,
)
from adapters.text_split import utf16_len
from bot.app import load_flows
from bot.messages import Choice
from bot.pipeline import CONSENT_SLOT, Coach
from bot.session import Session
from bot.store.base import Store
from bot.store.memory import MemoryStore
from bot.store.sqlite import SQLiteStore
from bot.store.url import open_store
from tests.conftest import REPO
from tests.fakes.telegram_api import FakeTelegramAPI, RecordedCall, SentMessage

TOKEN = "123456789:AAFakeTokenForTestsOnly_abcdefghijkl"
ALICE, BOB = 4242, 5151
GROUP = -1001234
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

    async def until_keyboard(self, chat: int, after: int, timeout: float = 5.0
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
        await coach.store.close()


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
    for answer in answers:
        assert answer in summary
    assert "Friendliness and flirting: Friendly is fine, flirting is not." in summary
    assert "Change my answers" in labels(reply[-1])

    everything = tg.messages(ALICE)
    assert all(m.reply_markup is None for m in everything[:-1]), "old buttons linger"
    assert all(m.parse_mode is None for m in everything)  # plain text, never markup
    # every press was answered, once, and nothing failed along the way
    assert sorted(a.callback_query_id for a in tg.server.callback_answers) == sorted(tg.pressed)
    assert all(c.ok for c in tg.server.calls_to("sendMessage"))


class SlowDisk(SQLiteStore):
    """A real SQLite store on a disk that takes 0.3 s per save, so the core is visibly busy."""

    async def save(self, session: Session) -> None:
        await asyncio.sleep(0.3)
        await super().save(session)


async def test_typing_shows_while_a_slow_core_works_and_never_after_the_reply(
        server: FakeTelegramAPI, tmp_path: Path) -> None:
    async with running(server, MemoryStore(), typing_after=0.1) as fast:
        await fast.send(ALICE, "/start")
    assert server.calls_to("sendChatAction") == []  # quick replies need no indicator
    async with running(server, SlowDisk(tmp_path / "slow.db"), typing_after=0.1) as slow:
        await slow.send(BOB, "/start boundaries")
    [typing] = server.calls_to("sendChatAction")
    assert (typing.params["chat_id"], typing.params["action"]) == (BOB, "typing")
    first_reply = next(c for c in server.calls_to("sendMessage") if c.params["chat_id"] == BOB)
    assert typing.time < first_reply.time


async def test_four_answers_sent_at_once_are_handled_in_order(tg: Harness) -> None:
    await tg.boundaries(ALICE)
    await tg.press(ALICE, "Let's start")
    after = len(tg.messages(ALICE))
    for answer in ("first", "second", "third", "fourth"):
        tg.server.push_message(ALICE, answer)

    def summary() -> str:
        return next((m.text for m in tg.messages(ALICE)[after:]
                     if m.text and "What would hurt" in m.text), "")

    await tg.server.wait_until(lambda: bool(summary()))
    assert "Friendliness and flirting: first\nOnline: second\nFriendships: third\n" \
           "What would hurt: fourth" in summary()


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
    [notice] = await tg.until_keyboard(GROUP, 0)
    assert notice.text == TEXTS.get("group_chat")
    assert notice.reply_markup == {"inline_keyboard": [[
        {"text": "Message me privately", "url": "https://t.me/coach_test_bot"}]]}

    # A press in the group (forged: the bot never shows step buttons there) is answered
    # with the same notice and nothing from Alice's flow.
    tg.server.push_callback(GROUP, "1.0", message_id=notice.message_id, user_id=ALICE)
    await tg.server.wait_for("answerCallbackQuery")
    await tg.server.wait_until(lambda: len(tg.messages(GROUP)) == 2)
    assert texts(tg.messages(GROUP)) == [TEXTS.get("group_chat")] * 2
    assert tg.server.calls_to("sendDocument") == []
    assert all(c.params["chat_id"] != GROUP for c in tg.server.calls_to("sendChatAction"))


async def test_markup_arrives_unchanged_and_long_text_is_split_or_refused(
        tg: Harness) -> None:
    await tg.boundaries(ALICE)
    await tg.press(ALICE, "Let's start")

    refused = await tg.send(ALICE, "x" * 5000)
    assert texts(refused)[0] == TEXTS.get("too_long", length=5000, max=1000)
    assert labels(refused[-1]) == ["Skip this one"]  # still on the same question

    await tg.send(ALICE, "<b>&</b> & <i>")
    # 1000 emoji: 1000 characters for the core, 2000 UTF-16 units for Telegram.
    for _ in range(3):
        await tg.send(ALICE, "😀" * 1000)
    summary = next(m.text for m in tg.messages(ALICE) if "Friendliness and" in (m.text or ""))
    assert "Friendliness and flirting: <b>&</b> & <i>\n" in summary  # exactly as typed
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


# --------------------------------------------------------------------------- flood control


@RETRY_AFTER_WARNING
async def test_a_429_storm_delays_only_its_own_chat(tg: Harness) -> None:
    server = tg.server
    await tg.begin(ALICE)
    await tg.begin(BOB)
    mark, alice_before = len(server.calls), len(tg.messages(ALICE))
    server.fail_next("sendMessage", count=3, retry_after=1)
    server.push_command(ALICE, "start", "boundaries")  # two messages, the last with buttons
    await server.wait_for(lambda c: c.method == "sendMessage" and c.status == 429, count=3,
                          after=mark, timeout=10)
    # Alice's lane now sleeps out the third 429; Bob is not behind her.
    bob_pushed = time.monotonic()
    bob_before = len(tg.messages(BOB))
    server.push_command(BOB, "help")
    bob_reply = await tg.until_keyboard(BOB, bob_before)
    bob_latency = time.monotonic() - bob_pushed
    alice = await tg.until_keyboard(ALICE, alice_before, timeout=10)
    alice_done = max(c.time for c in server.calls_to("sendMessage", ok_only=True)
                     if c.params["chat_id"] == ALICE)
    assert bob_reply[0].text.startswith(TEXTS.get("help")[:20])
    assert bob_latency < 0.5, f"Bob waited {bob_latency:.2f} s behind Alice's flood"
    assert alice_done - bob_pushed > 0.5  # Alice's really came later
    assert texts(alice) == INTRO
    assert tg.bot.outbox.flood_waits == 3
    statuses = [c.status for c in server.calls[mark:]
                if c.method == "sendMessage" and c.params["chat_id"] == ALICE]
    assert statuses == [429, 429, 429] + [200] * len(INTRO)


async def test_pacing_spaces_one_chat_and_the_global_bucket_caps_all() -> None:
    sent: list[tuple[int, float]] = []

    def recorder(chat: int) -> Callable[[], asyncio.Future[None]]:
        async def call() -> None:
            sent.append((chat, time.monotonic()))
        return call  # type: ignore[return-value]

    outbox = Outbox(Pacing(per_chat=20.0, chat_burst=2, overall=None))
    started = time.monotonic()
    for _ in range(6):
        outbox.send(1, recorder(1), "sendMessage")
    outbox.send(2, recorder(2), "sendMessage")
    assert await outbox.drain(5)
    chat_one = [t - started for chat, t in sent if chat == 1]
    chat_two = [t - started for chat, t in sent if chat == 2]
    assert chat_two[0] < 0.05  # not behind chat 1
    assert chat_one[1] < 0.05 and chat_one[-1] >= 0.18  # burst of 2, then 20/s: 4 x 50 ms
    assert chat_one == sorted(chat_one)

    sent.clear()
    outbox = Outbox(Pacing(per_chat=None, overall=50.0, overall_burst=1))
    started = time.monotonic()
    for chat in range(6):
        outbox.send(chat, recorder(chat), "sendMessage")
    assert await outbox.drain(5)
    assert max(t for _, t in sent) - started >= 0.09  # 6 sends at 50/s across chats


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
        async with aiohttp.ClientSession() as session, session.post(
                url, data=b"not json", headers={SECRET_HEADER: "s3cret-Value_1"}) as response:
            assert response.status == 400
        assert tg.messages(BOB) == []
        status, _ = await server.post_webhook_update(url, update, "s3cret-Value_1")
        assert status == 200
        reply = await tg.until_keyboard(BOB, 0)
        assert reply[0].text == TEXTS.get("help") or reply[0].text.startswith("Here's how")
    assert server.calls_to("deleteWebhook", ok_only=True)
    assert server.webhook_url == ""


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

    return str(server.wait_for_sync(match, after=after, timeout=20)[0].params["text"])


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
    out, _ = proc.communicate(timeout=20)
    return out.decode()


def test_kill_minus_nine_mid_flow_then_resume(threaded_server: FakeTelegramAPI,
                                              tmp_path: Path) -> None:
    server, store = threaded_server, tmp_path / "k.db"
    proc = _start(_env(server, store))
    try:
        server.wait_for_sync("getUpdates", include_pending=True, timeout=20)
        _to_the_first_question(server)
        answer: dict = {}
        assert _reply(server, lambda: answer.update(server.push_message(ALICE, "Friendly."))
                      ).startswith("2 of 4")
        proc.send_signal(signal.SIGKILL)  # the answer was acknowledged: it must survive
        proc.wait(timeout=10)
    finally:
        proc.kill()
    proc = _start(_env(server, store))
    try:
        mark = len(server.calls)
        server.wait_for_sync("getUpdates", include_pending=True, after=mark, timeout=20)
        server.push_update(answer)  # redelivered after the crash: handled once already
        resumed = _reply(server, lambda: server.push_command(ALICE, "resume"))
        assert resumed.startswith("2 of 4")
        again = [m for m in server.sent_messages(ALICE) if (m.text or "").startswith("2 of 4")]
        assert len(again) == 2  # the answer's reply and /resume: no reply to the duplicate
        out = _stop(proc)
        assert proc.returncode == 0, out
    finally:
        proc.kill()


def test_debug_logs_carry_neither_token_nor_user_text(threaded_server: FakeTelegramAPI,
                                                      tmp_path: Path) -> None:
    server, secret_text = threaded_server, "my-partner-secret-7f3a"
    proc = _start(_env(server, tmp_path / "d.db"), "--log-level", "DEBUG")
    try:
        server.wait_for_sync("getUpdates", include_pending=True, timeout=20)
        _to_the_first_question(server)
        assert _reply(server, lambda: server.push_message(ALICE, secret_text)
                      ).startswith("2 of 4")
        server.push_message(ALICE, "/export")
        server.wait_for_sync("sendDocument", timeout=20)
        out = _stop(proc)
    finally:
        proc.kill()
    assert proc.returncode == 0, out
    assert "event=answer" in out and "DEBUG" in out  # it did log, at DEBUG
    assert TOKEN not in out and TOKEN.split(":")[1] not in out
    assert secret_text not in out
    assert "Traceback" not in out


def test_a_rejected_token_is_one_line_without_the_token(threaded_server: FakeTelegramAPI,
                                                        tmp_path: Path) -> None:
    wrong = "987654321:AAWrongTokenWrongTokenWrongToken123"
    done = subprocess.run([sys.executable, "-m", "bot", "--log-level", "DEBUG", "telegram"],
                          cwd=REPO, env=_env(threaded_server, tmp_path / "r.db", wrong),
                          capture_output=True, text=True, timeout=30)
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    assert "Telegram rejected TELEGRAM_BOT_TOKEN" in done.stderr
    assert wrong not in output and wrong.split(":")[1] not in output
    assert "Traceback" not in output


def test_a_missing_token_is_a_clear_error(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "bot", "telegram"], cwd=REPO,
                          env=_env(None, tmp_path / "m.db", token=None),
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "coach: TELEGRAM_BOT_TOKEN is not set; get a token from @BotFather and put it in the "
        "environment"]
    assert not (tmp_path / "m.db").exists()  # nothing was opened


# --------------------------------------------------------------------------- the benchmark


def test_the_benchmark_runs_end_to_end(capsys: pytest.CaptureFixture[str]) -> None:
    """A small `coach bench --telegram` (adapters/telegram_bench.py), so it cannot rot."""
    from adapters.telegram_bench import run

    assert run(users=40, updates=80, as_json=True, rate=200.0, stores=("memory",)) == 0
    [line] = capsys.readouterr().out.splitlines()
    result = json.loads(line)
    assert (result["updates"], result["unfinished"], result["http_429"]) == (80, 0, 0)
    assert result["api_calls"]["answerCallbackQuery"] > 0 and result["p99_ms"] > 0
