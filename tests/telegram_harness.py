"""What the Telegram adapter's tests share: a running bot on the fake Bot API server, helpers
that act as a person in a chat, stores that fail or wait when the test says, and the helpers
for `coach telegram` in a subprocess (kill -9, logs, start-up errors).

Real parts only: python-telegram-bot talking HTTP to tests/fakes/telegram_api.py, the real
core on the shipped flows, real SQLite files in tmp_path, and real subprocesses.

The tests hold on a busy machine: they wait for events, never for a stretch of time. Waits
are on the fake's recorded calls (`wait_for`/`wait_until`), on the bot's ledger file, or on
gates the test opens itself: a store whose saves wait for the test (`GatedDisk`), calls the
fake holds until released (`FakeTelegramAPI.hold`), a chat flooded with 429s until the test
ends it (`flood_chat`). Timeouts are only safety nets against a hang (60 s and more), and
no assertion is about how fast something was.

Its fixtures (`server`, `tg`, `threaded_server`) are in tests/telegram_fixtures.py, which test
modules load with `pytest_plugins = ["tests.telegram_fixtures"]`.
"""

from __future__ import annotations

import asyncio
import contextlib
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

import pytest

from adapters.telegram import Pacing, TelegramBot, TelegramConfig
from bot.app import load_flows
from bot.pipeline import CONSENT_SLOT, Coach
from bot.session import Session
from bot.store.base import Store, StoreUnavailable
from bot.store.sqlite import SQLiteStore
from tests import subprocess_env
from tests.conftest import REPO
from tests.fakes.telegram_api import FakeTelegramAPI, RecordedCall, SentMessage

TOKEN = "123456789:AAFakeTokenForTestsOnly_abcdefghijkl"
ALICE, BOB, CAROL = 4242, 5151, 6161
GROUP = -1001234
WAIT = 60.0  # seconds: a safety net against a hang, never a measure of speed
# Fast pacing for the end-to-end tests; tests/test_telegram_outbox.py checks the real pacing.
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


def ledger_path(store: Path) -> Path:
    """The bot's ledger beside an SQLite store at `store` (adapters/telegram/ledger.py)."""
    return store.parent / f"telegram-{TOKEN.split(':')[0]}.ledger"


# --------------------------------------------------------------------------- a bot in-process


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
            unanswered = self.server.unanswered(ignore=("getUpdates",))
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
    """The parts the coach said: a reply's parts go out as one message, a blank line apart."""
    return [part for m in messages for part in (m.text or "").split("\n\n")]


def last_part(text: str) -> str:
    """The step a message ends on (its last paragraph)."""
    return text.rsplit("\n\n", 1)[-1]


def labels(message: SentMessage) -> list[str]:
    rows = (message.reply_markup or {}).get("inline_keyboard", [])
    return [button["text"] for row in rows for button in row]


@asynccontextmanager
async def running(server: FakeTelegramAPI, store: Store, *,
                  clock: Callable[[], float] = time.time, **config: object
                  ) -> AsyncIterator[Harness]:
    coach = Coach(FLOWS, store, clock=clock)
    settings = TelegramConfig(token=TOKEN, base_url=server.base_url, poll_timeout=1,
                              pacing=FAST, drain_timeout=5)
    bot = TelegramBot(coach, replace(settings, **config))  # type: ignore[arg-type]
    await bot.start()
    try:
        yield Harness(server, bot, coach)
    finally:
        await bot.stop()
        await coach.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def mode_settings(mode: str) -> dict[str, object]:
    """TelegramBot settings for polling, or for a webhook on a free local port."""
    if mode == "polling":
        return {}
    port = free_port()
    return {"webhook_url": f"http://127.0.0.1:{port}/hook", "listen": "127.0.0.1",
            "port": port, "webhook_secret": "s3cret-Value_3"}


def said_to(server: FakeTelegramAPI, chat: int, text: str, after: int = 0
            ) -> list[RecordedCall]:
    """sendMessage calls to `chat` with exactly `text`, from call number `after` on."""
    return [c for c in server.calls[after:] if c.method == "sendMessage"
            and c.params["chat_id"] == chat and c.params["text"] == text]


# --------------------------------------------------------------------------- stores


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


# --------------------------------------------------------------------------- `coach telegram`


def command_env(server: FakeTelegramAPI | None, store: Path, token: str | None = TOKEN) -> dict:
    """The environment for `coach telegram` on the fake (none: nobody answers), without the
    caller's own TELEGRAM_ and COACH_ settings."""
    return subprocess_env.command_env("TELEGRAM_", store, {
        "TELEGRAM_BOT_TOKEN": token,
        "TELEGRAM_API_BASE_URL": server.base_url if server else None})


def start_command(env: dict, *args: str) -> subprocess.Popen:
    """`coach [args] telegram` in a subprocess, its output on stdout."""
    return subprocess.Popen([sys.executable, "-m", "bot", *args, "telegram"], cwd=REPO,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def stop_command(proc: subprocess.Popen) -> str:
    """SIGTERM, then everything it printed."""
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=WAIT)
    return out.decode()


def sent_text(server: FakeTelegramAPI, chat: int, after: int,
              predicate: Callable[[str, bool], bool]) -> str:
    """Wait (blocking) for a message to `chat`, sent after call number `after`, whose
    (text, has buttons) satisfies `predicate`; returns its text."""
    def match(call: RecordedCall) -> bool:
        return (call.ok and call.method == "sendMessage" and call.params["chat_id"] == chat
                and predicate(call.params["text"], bool(call.params.get("reply_markup"))))

    return str(server.wait_for_sync(match, after=after, timeout=WAIT)[0].params["text"])


def reply_to(server: FakeTelegramAPI, push: Callable[[], object], chat: int = ALICE) -> str:
    """Push an update and wait for the message that ends its reply (the one with buttons)."""
    mark = len(server.calls)
    push()
    return sent_text(server, chat, mark, lambda _, buttons: buttons)


def to_the_first_question(server: FakeTelegramAPI) -> None:
    """As a new person: /start, the age question if asked, /start boundaries, Let's start."""
    reply_to(server, lambda: server.push_command(ALICE, "start"))
    if CONSENT is not None and CONSENT in labels_on_screen(server):
        press_in_thread(server, CONSENT)
    reply_to(server, lambda: server.push_command(ALICE, "start", "boundaries"))
    assert press_in_thread(server, "Let's start").startswith("1 of 4")


def labels_on_screen(server: FakeTelegramAPI) -> list[str]:
    return labels(server.sent_messages(ALICE)[-1])


def press_in_thread(server: FakeTelegramAPI, label: str) -> str:
    """Alice presses `label`; the text of the message that ends the reply."""
    message_id, data = on_screen(server, ALICE, label)
    return reply_to(server, lambda: server.push_callback(ALICE, data, message_id=message_id))


# A bot process on the real adapter with fast pacing (production pacing would take minutes to
# answer 1,500 people), for the kill -9 tests. argv: API base URL, store path, and optionally
# the path of another adapter module to run instead (to show what a fix fixes).
BOT_PROCESS = """
import asyncio, importlib.util, sys
from adapters.telegram import Pacing
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


def bot_process(server: FakeTelegramAPI, store: Path, adapter: str | None = None
                ) -> subprocess.Popen:
    script = f"TOKEN = {TOKEN!r}\n" + BOT_PROCESS
    args = [sys.executable, "-c", script, server.base_url, str(store)]
    if adapter:
        args.append(adapter)
    env = command_env(None, store, token=None)
    return subprocess.Popen(args, cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)


def complete_replies(server: FakeTelegramAPI) -> dict[int, list[RecordedCall]]:
    """Per chat, the answered sendMessage calls that end a reply (the ones with buttons)."""
    done: dict[int, list[RecordedCall]] = {}
    for call in server.calls_to("sendMessage", ok_only=True):
        if call.params.get("reply_markup"):
            done.setdefault(call.params["chat_id"], []).append(call)
    return done


def ledger_users(ledger: Path) -> set[int]:
    """The people in the bot's ledger: taken, and their reply not noted as sent in full.
    (Another process's connection: closing it cannot drop the bot's own locks.)"""
    with contextlib.closing(sqlite3.connect(ledger)) as db:
        return {int(user) for (user,) in db.execute("SELECT user_id FROM taken")}


def ledger_count(ledger: Path, table: str) -> int:
    with contextlib.closing(sqlite3.connect(ledger)) as db:
        return int(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
