"""The Telegram adapter: python-telegram-bot v22 (asyncio) in front of the core.

It only translates. An Update becomes an Incoming for `Coach.handle`; the Reply becomes Bot
API calls: each part one plain-text message (no parse_mode, so nothing a person types can
break markup), split under 4096 UTF-16 units, choices as inline buttons on the last message,
exports as documents. Everything the bot says comes from the core and the flows, the command
menu and the private-chat button label included (`flows/core/messages.yaml`).

Nothing taken is lost, even to kill -9. The adapter drives getUpdates itself instead of PTB's
Updater, which confirms a batch with its next poll before the batch is handled: here the
offset moves past an update only once the core has committed it. In webhook mode the answer
200 is sent only then, too. A committed update's reply may still be waiting in the outbox
(Telegram's pacing) when the process dies, so a small ledger beside the store
(`UpdateLedger`: update, chat, user and callback query ids only, never text) notes each update
from the moment it is taken until its whole reply has been sent; at the next start whoever is
left in it gets their current step again, as it was sent ("Welcome back" first), and a button
press among them is answered if Telegram still knows it. The same file remembers the last
message with buttons in each chat, so old buttons are taken away after a restart too.

A step that could not be committed is never confirmed silently either. When the store is busy
or full the core answers "that didn't go through, please send it again" (`Reply.saved` False):
that message is sent, and only once it is out is the update confirmed, so Telegram does not
hand it over again after the person was asked to repeat it (which would do it twice). When
`Coach.handle` raises, it is tried again a few times (`HANDLE_ATTEMPTS`), then the person gets
the same message; an update that always fails cannot stall the chat forever. If that message
surely never reached Telegram (flood control, no connection), the update is left unconfirmed
and Telegram sends it again, a bounded number of times (`REDELIVERIES`).

Order and duplicates: the updates of one batch are handled concurrently, different people in
parallel; each task's first await is `Coach.handle`, which queues on the core's per-user FIFO
lock, so one person's updates are handled in arrival order, and the core skips update ids it
has seen (also across restarts). Replies go out through `Outbox`: per chat in order, paced,
with 429s waited out. Logs carry event names and ids only, never message text, and the token
is redacted from every log line (adapters/redact.py).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hmac
import logging
import os
import re
import secrets
import signal
import sqlite3
import sys
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from urllib.parse import urlsplit

from aiohttp import web
from telegram import (
    BotCommand,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    LinkPreviewOptions,
    Message,
    Update,
)
from telegram.constants import ChatAction, ChatType
from telegram.error import (
    BadRequest,
    Conflict,
    InvalidToken,
    RetryAfter,
    TelegramError,
)
from telegram.ext import Application, ApplicationBuilder

from adapters.outbox import Call, Outbox, Pacing, never_arrived, retry_seconds
from adapters.redact import install_redaction, redact
from adapters.telegram_http import AiohttpRequest
from adapters.telegram_ledger import Taken, UpdateLedger, open_ledger
from adapters.text_split import split_text as split_by_units
from bot.app import Settings, build_coach
from bot.messages import Attachment, Choice, Incoming, Reply, UserKey
from bot.pipeline import Coach
from bot.store.base import StoreClosed
from bot.texts import Texts

log = logging.getLogger("coach.telegram")

DEFAULT_BASE_URL = "https://api.telegram.org/bot"
ALLOWED_UPDATES = ["message", "callback_query"]
MAX_TEXT_UNITS = 4096  # UTF-16 code units, as Telegram counts
MAX_CALLBACK_DATA_BYTES = 64
MAX_TOAST = 200
SHORT_LABEL = 16  # labels up to this long go two to a row
UPDATES_PER_POLL = 100  # Telegram's maximum for getUpdates
POLL_BACKOFF_MAX = 30.0  # seconds between getUpdates attempts while Telegram is unreachable
# Telegram's Bot API server sends a webhook update only after the previous one of the same
# chat was answered 2xx (a queue per chat), over up to this many connections in all.
WEBHOOK_MAX_CONNECTIONS = 40
WEBHOOK_STOP_WAIT = 10.0  # seconds in-flight webhook requests get to finish at a stop
KEYBOARDS_REMEMBERED = 50_000  # chats whose last keyboard is also kept in memory
MAX_WEBHOOK_BODY = 1 << 20  # bytes; larger posts get 413 (Telegram's updates are far smaller)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
SECRET_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")
TOKEN_RE = re.compile(r"\d+:[A-Za-z0-9_-]+")
EXIT_CONFIG = 2
EXIT_FAILED = 1
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
# Coach.handle raising (a bug, or a fault that passes): tries in all, the pause before the
# second doubling each time; then the person is told it did not go through.
HANDLE_ATTEMPTS = 3
HANDLE_RETRY_PAUSE = 0.5
# Times an update is left for Telegram to send again because the "not saved" message surely
# never reached Telegram; after that it is confirmed anyway, so it cannot come back forever.
REDELIVERIES = 3
REDELIVERY_PAUSE = 1.0  # seconds before polling again for an update left unconfirmed
SETTLED_REMEMBERED = 4096  # updates confirmed without a commit, skipped if they come again
# A button press left unanswered by a crash is answered after the restart if it was taken
# less than this long ago (Telegram forgets a query after some minutes; too old is ignored).
CALLBACK_ANSWER_WINDOW = 600.0
NOT_SAVED = "not_saved"  # the core's "that didn't go through, please send it again"

# Telegram's command menu, in this order. Each description is the core message
# `command_<name>` and the group chat's button label is `private_chat_button`, both in
# flows/core/messages.yaml like every other sentence.
COMMANDS = ("start", "menu", "help", "back", "resume", "export", "delete", "sos", "privacy")
PRIVATE_CHAT_BUTTON = "private_chat_button"
# PTB loggers that print update contents or request parameters (user text) at DEBUG.
CHATTY_LOGGERS = ("telegram.Bot", "telegram.ext.ExtBot", "telegram.ext.Application")
# Request loggers that print every URL, token included.
REQUEST_LOGGERS = ("httpx", "httpcore")


class ConfigError(ValueError):
    """The environment or arguments cannot start a bot; the message is safe to print."""


@dataclass(frozen=True)
class TelegramConfig:
    token: str = field(repr=False)
    base_url: str = DEFAULT_BASE_URL
    webhook_url: str | None = None
    listen: str = "0.0.0.0"
    port: int = 8443
    webhook_secret: str = field(default="", repr=False)
    poll_timeout: float = 10.0
    pacing: Pacing = field(default_factory=Pacing)
    # "typing" is sent when the core is still busy after this long. Sooner would cost every
    # reply a round trip: the reply waits in the chat's lane until the action is answered.
    typing_after: float = 0.2
    drain_timeout: float = 10.0  # on shutdown, how long queued replies may take

    @property
    def file_url(self) -> str:
        return self.base_url.removesuffix("/bot") + "/file/bot"


def adapter_text(texts: Texts, text_id: str) -> str:
    """One of the adapter's core messages (see COMMANDS)."""
    return texts.get(text_id)


def command_menu(texts: Texts) -> list[tuple[str, str]]:
    """(command, description) for setMyCommands, the descriptions from the flows."""
    return [(name, adapter_text(texts, f"command_{name}")) for name in COMMANDS]


def config_from_env(env: Mapping[str, str], args: argparse.Namespace) -> TelegramConfig:
    """Raises ConfigError with a one-line reason that never contains the token."""
    token = env.get("TELEGRAM_BOT_TOKEN", "").strip()
    if not token:
        raise ConfigError("TELEGRAM_BOT_TOKEN is not set; get a token from @BotFather "
                          "and put it in the environment")
    if not TOKEN_RE.fullmatch(token):
        raise ConfigError("TELEGRAM_BOT_TOKEN does not look like a bot token (digits:secret)")
    base = (env.get("TELEGRAM_API_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
    if not base.endswith("/bot"):
        base += "/bot"  # accept the server root too: PTB appends the token to ".../bot"
    webhook = getattr(args, "webhook_url", None) or None
    secret = env.get("TELEGRAM_WEBHOOK_SECRET", "")
    if secret and not SECRET_RE.fullmatch(secret):
        raise ConfigError("TELEGRAM_WEBHOOK_SECRET may use only A-Z, a-z, 0-9, _ and -, "
                          "up to 256 characters")
    if webhook:
        parts = urlsplit(webhook)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError("--webhook-url must be a full URL, e.g. https://bot.example.org/tg")
    return TelegramConfig(
        token=token, base_url=base, webhook_url=webhook,
        listen=getattr(args, "listen", "0.0.0.0"), port=getattr(args, "port", 8443),
        webhook_secret=secret or secrets.token_urlsafe(32),
    )


# -- translation ------------------------------------------------------------------------------


def to_incoming(update: Update) -> Incoming | None:
    """The core's view of an update; None for updates that are not a person's message."""
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None:
        return None
    key = UserKey("telegram", str(user.id))
    private = chat.type == ChatType.PRIVATE
    update_id = str(update.update_id)
    if update.callback_query is not None:
        return Incoming(key, button=update.callback_query.data or "", private=private,
                        update_id=update_id)
    if update.message is None:
        return None
    return Incoming(key, text=update.message.text, private=private, update_id=update_id)


def split_text(text: str, limit: int = MAX_TEXT_UNITS) -> list[str]:
    """Chunks Telegram accepts, cut at paragraph, line, sentence or word boundaries."""
    return split_by_units(text, limit)


def _fits(choice: Choice) -> bool:
    size = len(choice.id.encode("utf-8"))
    if 1 <= size <= MAX_CALLBACK_DATA_BYTES:
        return True
    log.error("event=button_dropped reason=callback_data_size bytes=%d", size)
    return False


def keyboard(choices: list[Choice]) -> InlineKeyboardMarkup | None:
    """One button per row, or two when every label is short; oversized ids are dropped."""
    buttons = [InlineKeyboardButton(c.label, callback_data=c.id) for c in choices if _fits(c)]
    if not buttons:
        return None
    width = 2 if len(buttons) > 1 and all(len(b.text) <= SHORT_LABEL for b in buttons) else 1
    return InlineKeyboardMarkup([buttons[i:i + width] for i in range(0, len(buttons), width)])


def toast(notice: str | None) -> str | None:
    """answerCallbackQuery text: at most 200 characters."""
    if not notice:
        return None
    return notice if len(notice) <= MAX_TOAST else notice[:MAX_TOAST - 1] + "…"


@dataclass(frozen=True)
class Outgoing:
    """One message to send: text or a document, with the keyboard if it is the last one."""

    text: str | None = None
    document: Attachment | None = None
    markup: InlineKeyboardMarkup | None = None


def plan(reply: Reply, markup: InlineKeyboardMarkup | None, *, private: bool) -> list[Outgoing]:
    """The messages for one Reply, in order; groups never get attachments."""
    items = [Outgoing(text=chunk) for part in reply.parts for chunk in split_text(part)]
    if private:
        items += [Outgoing(document=attachment) for attachment in reply.attachments]
    if markup is not None:
        if not items:
            log.error("event=keyboard_without_text")
        else:
            last = items[-1]
            items[-1] = Outgoing(last.text, last.document, markup)
    return items


# -- the bot ----------------------------------------------------------------------------------


def build_application(config: TelegramConfig,
                      requests: tuple[AiohttpRequest, AiohttpRequest]) -> Application:
    """PTB's Application, for its Bot; no Updater, because the adapter polls (see the module
    docstring)."""
    general, polling = requests
    return (
        ApplicationBuilder()
        .token(config.token)
        .base_url(config.base_url)
        .base_file_url(config.file_url)
        .request(general)
        .get_updates_request(polling)
        .updater(None)
        .build()
    )


@dataclass
class _Resend:
    """One person's step shown again after a restart, and the updates it answers."""

    ledger: UpdateLedger
    ids: list[int]
    delivered: bool = False

    def finish(self) -> None:
        self.delivered = True
        for update_id in self.ids:
            self.ledger.sent(update_id)
        self.ids.clear()


class _Stopping(Exception):
    """The bot is stopping: no more getUpdates."""


class Outcome(Enum):
    """What became of one update: whether Telegram may forget it."""

    DONE = "done"  # committed, or the person was told it did not go through: confirm it
    AGAIN = "again"  # not handled: leave it unconfirmed, so Telegram sends it again


class _NotSaved(Exception):
    """The core could not commit a step the adapter asked for itself (a step shown again)."""


def query_expired(error: BadRequest) -> bool:
    """Telegram's answer to a callback query it no longer knows (too old, or answered)."""
    text = error.message.lower()
    return "query is too old" in text or "query id is invalid" in text


# -- the bot ----------------------------------------------------------------------------------


class TelegramBot:
    """One running bot: PTB's Bot, the polling loop or the webhook endpoint, the outbox."""

    def __init__(self, coach: Coach, config: TelegramConfig) -> None:
        self.coach = coach
        self.config = config
        self.outbox = Outbox(config.pacing)
        self._requests = (AiohttpRequest(), AiohttpRequest(pool=1))
        self.app = build_application(config, self._requests)
        self.webhook: WebhookServer | None = None
        self.started = False
        self.ledger: UpdateLedger = UpdateLedger()
        self._keyboards: OrderedDict[int, int | None] = OrderedDict()
        self._stopping = asyncio.Event()
        self._poller: asyncio.Task[None] | None = None
        self._inflight = 0
        self._resending: set[asyncio.Task[None]] = set()
        self._recovered: dict[int, Taken] = {}  # update id -> row from the previous run
        self._resends: dict[int, _Resend] = {}  # user id -> their step shown again
        self._carried: dict[int, list[int]] = {}  # user id -> ids their next reply answers
        # Updates confirmed without a commit (the person was told to send it again): handled
        # again they would be done twice, so a second delivery is only acknowledged.
        self._settled: OrderedDict[int, None] = OrderedDict()
        self._redelivered: dict[int, int] = {}  # update id -> times left unconfirmed

    @property
    def idle(self) -> bool:
        """No update being handled, no step being shown again, nothing queued to send."""
        return not self._inflight and not self._resending and self.outbox.idle

    @property
    def texts(self) -> Texts:
        return self.coach.texts

    # -- lifecycle

    async def start(self) -> None:
        """Raises InvalidToken when Telegram rejects the token (its message holds the token)."""
        try:
            self.ledger = open_ledger(self.coach)
            await self.app.initialize()
        except BaseException:
            await self._close_requests()  # no "Unclosed client session" after the error
            self.ledger.close()
            self.ledger = UpdateLedger()
            raise
        self._resume_unanswered()
        await self._register_commands()
        if self.config.webhook_url:
            path = urlsplit(self.config.webhook_url).path or "/"
            self.webhook = WebhookServer(self, path, self.config.webhook_secret,
                                         self.config.listen, self.config.port)
            await self.webhook.start()
            await self.app.bot.set_webhook(self.config.webhook_url,
                                           secret_token=self.config.webhook_secret,
                                           allowed_updates=ALLOWED_UPDATES,
                                           max_connections=WEBHOOK_MAX_CONNECTIONS)
        else:
            self._poller = asyncio.create_task(self._poll())
        self.started = True
        log.info("event=telegram_started mode=%s bot_id=%s",
                 "webhook" if self.webhook else "polling", self.app.bot.id)

    async def stop(self) -> None:
        """Stop taking updates, finish the ones taken, send what is queued, then close."""
        self._stopping.set()
        if self.webhook is not None:
            with contextlib.suppress(TelegramError):
                await self.app.bot.delete_webhook()
            await self.webhook.stop()  # waits for the requests in progress
            self.webhook = None
        if self._poller is not None:
            try:
                await self._poller
            except Exception:
                log.exception("event=polling_failed")
            self._poller = None
        if self._resending:
            await asyncio.gather(*self._resending, return_exceptions=True)
        await self.outbox.drain(self.config.drain_timeout)
        self.ledger.close()
        self.ledger = UpdateLedger()
        await self.app.shutdown()
        await self._close_requests()
        if self.started:
            self.started = False
            log.info("event=telegram_stopped")

    async def _close_requests(self) -> None:
        for request in self._requests:
            with contextlib.suppress(Exception):
                await request.shutdown()

    async def _register_commands(self) -> None:
        try:
            await self.app.bot.set_my_commands(
                [BotCommand(name, description) for name, description in command_menu(self.texts)])
        except TelegramError as error:  # a missing menu is no reason not to run
            log.warning("event=set_commands_failed error=%s", type(error).__name__)

    # -- polling

    async def _poll(self) -> None:
        """getUpdates in a loop. The offset that confirms a batch is sent only once every update
        of it has been committed by the core, so an update is never confirmed (and dropped by
        Telegram) before it was handled. One batch at a time: the next poll waits for the
        slowest commit of the batch, never for replies (those wait in the outbox)."""
        offset: int | None = None
        confirmed: int | None = None
        failures = 0
        while not self._stopping.is_set():
            try:
                updates = await self._get_updates(offset, int(self.config.poll_timeout))
            except _Stopping:
                break
            except RetryAfter as error:
                await self._pause(retry_seconds(error))
                continue
            except Exception as error:  # Telegram unreachable, 409, 5xx: wait and try again
                failures += 1
                self._polling_error(error)
                await self._pause(min(POLL_BACKOFF_MAX, 0.5 * 2 ** (failures - 1)))
                continue
            failures = 0
            confirmed = offset
            if not updates:
                continue
            try:
                offset = await self._handle_batch(updates)
            except Exception as error:  # the ledger cannot be written: keep the offset, so
                # Telegram sends the batch again (the core skips what it committed)
                log.error("event=batch_failed updates=%d error=%s", len(updates),
                          type(error).__name__, exc_info=error)
                await self._pause(1.0)
                continue
            if offset <= updates[-1].update_id:  # some left for Telegram to send again
                await self._pause(REDELIVERY_PAUSE)
        if offset is not None and offset != confirmed:
            with contextlib.suppress(Exception):  # confirm the last batch, as PTB does
                await self.app.bot.get_updates(offset=offset, timeout=0, limit=1,
                                               allowed_updates=ALLOWED_UPDATES)

    async def _get_updates(self, offset: int | None, timeout: int) -> list[Update]:
        call = asyncio.ensure_future(self.app.bot.get_updates(
            offset=offset, limit=UPDATES_PER_POLL, timeout=timeout,
            allowed_updates=ALLOWED_UPDATES))
        stop = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait((call, stop), return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        if not call.done():
            call.cancel()
            with contextlib.suppress(BaseException):
                await call
            raise _Stopping
        return list(call.result())

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    def _polling_error(self, error: BaseException) -> None:
        event = "polling_conflict" if isinstance(error, Conflict) else "polling_error"
        if isinstance(error, TelegramError):
            log.warning("event=%s error=%s", event, type(error).__name__)
        else:
            log.error("event=polling_error error=%s", type(error).__name__, exc_info=error)

    async def _handle_batch(self, updates: list[Update]) -> int:
        """Handle one batch up to the core's commits; returns the offset that confirms it, or
        that stops before the first update to be sent again (the core skips those after it
        that it committed, and `_settled` those the person was asked to repeat)."""
        messages = [to_incoming(update) for update in updates]
        self.ledger.taken(self._rows(updates, messages))
        last: dict[str, int] = {}
        for update, message in zip(updates, messages, strict=True):
            if message is not None and message.private:
                last[message.user.user_id] = update.update_id
        # Created in order, each task's first await is Coach.handle: the per-user lock is
        # queued in the order of the batch.
        tasks = [asyncio.create_task(self._process(update, message, superseded=(
            message is not None and last.get(message.user.user_id, -1) != update.update_id)))
            for update, message in zip(updates, messages, strict=True)]
        self._inflight += len(tasks)
        try:
            results = await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            self._inflight -= len(tasks)
        self.ledger.flush()  # the commits are noted before the offset moves past them
        for update, result in zip(updates, results, strict=True):
            if isinstance(result, StoreClosed):  # stopping: leave it for the next run
                return update.update_id
            if result is Outcome.AGAIN:
                return update.update_id
            if isinstance(result, BaseException):  # the adapter's own fault, after the core
                log.error("event=update_failed update=%s error=%s", update.update_id,
                          type(result).__name__, exc_info=result)
        return updates[-1].update_id + 1

    @staticmethod
    def _rows(updates: list[Update], messages: list[Incoming | None]) -> list[Taken]:
        return [Taken(update.update_id, update.effective_chat.id, int(message.user.user_id),
                      query_id=update.callback_query.id if update.callback_query else None)
                for update, message in zip(updates, messages, strict=True)
                if message is not None and message.private and update.effective_chat]

    # -- webhook

    async def receive(self, update: Update) -> Outcome:
        """One update from the webhook; returns once the core has committed it (or the person
        was told it did not go through), so the 200 that tells Telegram to forget it is never
        sent for an update not yet handled. AGAIN: answer so that Telegram sends it again."""
        message = to_incoming(update)
        self.ledger.taken(self._rows([update], [message]))
        self._inflight += 1
        try:
            outcome = await self._process(update, message)
        finally:
            self._inflight -= 1
        self.ledger.flush()
        return outcome

    # -- after a restart

    def _resume_unanswered(self) -> None:
        """Updates the previous run took but did not answer in full. Committed ones will not
        come again: show those people their current step now. The others will be delivered
        again; if the core then finds them committed after all, the step is shown then."""
        rows = self.ledger.recovered()
        if not rows:
            return
        waiting: dict[int, list[Taken]] = {}
        now = time.time()
        for row in rows:
            self._recovered[row.update_id] = row
            if row.committed:
                waiting.setdefault(row.user_id, []).append(row)
                # The press will not come again, so its answer is now or never (the spinner
                # on the person's button); one taken long ago Telegram has forgotten.
                if row.query_id and now - row.at < CALLBACK_ANSWER_WINDOW:
                    self._answer_query(row.query_id, None)
        log.info("event=unanswered_updates taken=%d committed=%d", len(rows),
                 sum(len(r) for r in waiting.values()))
        for user_id, taken in waiting.items():
            resend = self._resends[user_id] = _Resend(self.ledger,
                                                      [row.update_id for row in taken])
            task = asyncio.create_task(self._resend(taken[0].chat_id, user_id, resend))
            self._resending.add(task)
            task.add_done_callback(self._resending.discard)

    async def _resend(self, chat_id: int, user_id: int, resend: _Resend) -> None:
        user = UserKey("telegram", str(user_id))
        try:
            reply = await self._step_again(user)
        except StoreClosed:
            return
        if reply is None:
            resend.finish()
            return
        log.info("event=reply_resent user=%s updates=%d", user.key, len(resend.ids))
        self._send_reply(chat_id, True, reply, None, resend.finish)

    async def _step_again(self, user: UserKey) -> Reply | None:
        """`_current_step`, tried again like `Coach.handle` when it fails; None when there is
        nothing to show or it kept failing (the failure is logged: their next message gets
        their step anyway)."""
        for attempt in range(1, HANDLE_ATTEMPTS + 1):
            try:
                return await self._current_step(user)
            except StoreClosed:  # stopping: the ledger keeps them for the next start
                raise
            except _NotSaved:
                log.warning("event=resend_failed user=%s attempt=%d reason=not_saved",
                            user.key, attempt)
            except Exception as error:
                log.error("event=resend_failed user=%s attempt=%d error=%s", user.key, attempt,
                          type(error).__name__, exc_info=error)
            if attempt < HANDLE_ATTEMPTS:
                await self._pause(HANDLE_RETRY_PAUSE * 2 ** (attempt - 1))
        return None

    async def _current_step(self, user: UserKey) -> Reply | None:
        """The person's step again, exactly as it was sent, after "Welcome back"; None when
        they have no session (their last update erased it: there is nothing to show).
        Raises _NotSaved when the core could not commit the greeting: a "send it again" is
        no answer to something the person did not just send."""
        if await self.coach.store.load(user.key) is None:
            log.info("event=resend_skipped user=%s reason=no_session", user.key)
            return None
        reply = await self.coach.open(Incoming(user, private=True))
        if not reply.saved:
            raise _NotSaved(user.key)
        return reply

    async def _after_duplicate(self, update_id: int, message: Incoming, superseded: bool
                               ) -> tuple[Reply | None, list[int]]:
        """A private update the core had already committed: send nothing, unless it is one
        the previous run took and did not answer in full. Returns (reply, ids it answers)."""
        if self._recovered.pop(update_id, None) is None:
            return None, [update_id]  # a plain second delivery: it was answered
        user_id = int(message.user.user_id)
        resend = self._resends.get(user_id)
        if resend is not None:  # their step is (being) shown again already
            if resend.delivered:
                return None, [update_id]
            resend.ids.append(update_id)
            return None, []
        if superseded:  # a later update of theirs in this batch answers it
            self._carried.setdefault(user_id, []).append(update_id)
            return None, []
        resend = self._resends[user_id] = _Resend(
            self.ledger, [update_id, *self._carried.pop(user_id, [])])
        reply = await self._step_again(message.user)
        if reply is None:
            resend.finish()
            return None, []
        log.info("event=reply_resent user=%s updates=1", message.user.key)
        return reply, []

    # -- inbound

    async def _process(self, update: Update, message: Incoming | None, *,
                       superseded: bool = False) -> Outcome:
        """Handle one update up to the core's commit; its reply is queued when this returns
        (sent, when the step could not be committed). No await may come before
        `Coach.handle`: that keeps a person's updates in order."""
        chat, query = update.effective_chat, update.callback_query
        if message is None or chat is None:
            self._answer(query, None)
            return Outcome.DONE
        if not message.private and update.message is not None and not self._addressed(
                update.message):
            return Outcome.DONE
        if update.update_id in self._settled:  # they were asked to send it again
            self._answer(query, None)
            self.ledger.sent(update.update_id)
            return Outcome.DONE
        typing = self._typing_soon(chat.id) if message.private else None
        try:
            reply = await self._handle(update.update_id, message)
        except StoreClosed:
            self._answer(query, None)
            raise
        finally:
            if typing is not None:
                typing.cancel()
        if reply is None:  # Coach.handle kept failing: nothing of it was kept
            if not message.private:  # a group hears nothing but the group notice
                self._answer(query, None)
                return Outcome.DONE
            reply = Reply(parts=[self.texts.get(NOT_SAVED)], saved=False)
        if not reply.saved:
            return await self._not_saved(update.update_id, chat.id, message.private, reply,
                                         query)
        self._redelivered.pop(update.update_id, None)
        if not message.private:
            self._send_reply(chat.id, False, reply, query, None)
            return Outcome.DONE
        ids = [update.update_id]
        resend: _Resend | None = None
        if reply.duplicate:
            again, ids = await self._after_duplicate(update.update_id, message, superseded)
            if again is not None:
                resend, reply = self._resends[int(message.user.user_id)], again
        else:
            ids += self._carried.pop(int(message.user.user_id), [])
        ledger = self.ledger

        def sent() -> None:
            for update_id in ids:
                ledger.sent(update_id)

        self._send_reply(chat.id, True, reply, query, resend.finish if resend else sent)
        self.ledger.committed(update.update_id)
        return Outcome.DONE

    async def _handle(self, update_id: int, message: Incoming) -> Reply | None:
        """`Coach.handle`, tried again when it raises: a fault that passes goes through on a
        later try, one that does not is given up after HANDLE_ATTEMPTS (None) instead of
        stalling the chat. StoreClosed (the bot is stopping) is not tried again. A try that
        raised committed nothing, so trying again cannot do the step twice."""
        for attempt in range(1, HANDLE_ATTEMPTS + 1):
            try:
                return await self.coach.handle(message)
            except StoreClosed:
                raise
            except Exception as error:
                log.error("event=handler_error update=%s attempt=%d error=%s", update_id,
                          attempt, type(error).__name__, exc_info=error)
            if attempt < HANDLE_ATTEMPTS:
                await self._pause(HANDLE_RETRY_PAUSE * 2 ** (attempt - 1))
        log.error("event=update_given_up update=%s attempts=%d", update_id, HANDLE_ATTEMPTS)
        return None

    async def _not_saved(self, update_id: int, chat_id: int, private: bool, reply: Reply,
                         query: CallbackQuery | None) -> Outcome:
        """Nothing of the step was kept, and the reply asks the person to send it again: send
        it and confirm the update only once it is out. Confirmed before, the update could be
        lost without a word; left for Telegram to send again after they were asked, it could
        be done twice. Only a message that surely never reached Telegram leaves the update
        unconfirmed, so it comes again (REDELIVERIES times at most)."""
        log.warning("event=not_saved update=%s", update_id)
        if not await self._delivered(chat_id, private, reply, query):
            times = self._redelivered.get(update_id, 0) + 1
            if times <= REDELIVERIES:
                self._redelivered[update_id] = times
                log.warning("event=update_unconfirmed update=%s times=%d", update_id, times)
                return Outcome.AGAIN
            log.error("event=not_saved_unsent update=%s", update_id)
        self._redelivered.pop(update_id, None)
        self._settled[update_id] = None
        while len(self._settled) > SETTLED_REMEMBERED:
            self._settled.popitem(last=False)
        self.ledger.sent(update_id)
        return Outcome.DONE

    async def _delivered(self, chat_id: int, private: bool, reply: Reply,
                         query: CallbackQuery | None) -> bool:
        """Queue `reply` and wait until the outbox is done with it; False when one of its
        messages surely never reached Telegram."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        lost: list[Exception] = []

        def given_up(error: Exception) -> None:
            if never_arrived(error):
                lost.append(error)

        def finished() -> None:
            if not done.done():
                done.set_result(None)

        self._send_reply(chat_id, private, reply, query, finished, on_error=given_up)
        await done
        return not lost

    def _addressed(self, message: Message) -> bool:
        """In a group, answer only what is meant for the bot, never the group's own talk."""
        text, me = message.text or "", self.app.bot
        name = (me.username or "").casefold()
        if text.startswith("/"):
            head = text.split(maxsplit=1)[0]
            return "@" not in head or head.split("@", 1)[1].casefold() == name
        if name and f"@{name}" in text.casefold():
            return True
        replied = message.reply_to_message
        return bool(replied and replied.from_user and replied.from_user.id == me.id)

    def _typing_soon(self, chat_id: int) -> asyncio.TimerHandle:
        """Queue "typing" if the core is still working after `typing_after`; the outbox drops
        it when the reply is already queued behind it, so it never follows the reply."""
        async def typing() -> None:
            await self.app.bot.send_chat_action(chat_id, ChatAction.TYPING)

        return asyncio.get_running_loop().call_later(
            self.config.typing_after,
            lambda: self.outbox.send(chat_id, typing, "sendChatAction", paced=False,
                                     ephemeral=True))

    # -- outbound

    def _send_reply(self, chat_id: int, private: bool, reply: Reply,
                    query: CallbackQuery | None, on_sent: Callable[[], None] | None, *,
                    on_error: Callable[[Exception], None] | None = None) -> None:
        """Queue everything for one reply; synchronous, so replies queue in handling order.
        `on_sent` runs once all of it has been sent (or given up); `on_error` hears why a
        message of it was given up. A step that was not saved and shows no buttons leaves the
        ones on screen: nothing changed, so they still work."""
        self._answer(query, reply.notice)
        if not reply.duplicate:
            if private:
                markup = keyboard(reply.choices)
                if reply.saved or markup is not None:
                    pressed = query.message.message_id if query and query.message else None
                    self.outbox.send(chat_id, self._clear_keyboards(chat_id, pressed),
                                     "editMessageReplyMarkup", paced=False)
            else:
                markup = self._private_chat_button()
            for item in plan(reply, markup, private=private):
                self.outbox.send(chat_id, self._sender(chat_id, item, private),
                                 "sendDocument" if item.document else "sendMessage",
                                 group=not private, on_error=on_error)
        if on_sent is not None:
            self.outbox.after(chat_id, on_sent)

    def _answer(self, query: CallbackQuery | None, notice: str | None) -> None:
        if query is not None:
            self._answer_query(query.id, notice)

    def _answer_query(self, query_id: str, notice: str | None) -> None:
        """answerCallbackQuery, at once (outside the chat's lane). Telegram refusing a query
        it no longer knows (too old, or answered before a crash) is expected after a restart
        and only noted."""
        bot, text = self.app.bot, toast(notice)

        async def answer() -> None:
            try:
                await bot.answer_callback_query(query_id, text=text)
            except BadRequest as error:
                if not query_expired(error):
                    raise
                log.info("event=callback_answer_expired")

        self.outbox.send_now(answer, "answerCallbackQuery")

    def _private_chat_button(self) -> InlineKeyboardMarkup:
        url = f"https://t.me/{self.app.bot.username}"
        label = adapter_text(self.texts, PRIVATE_CHAT_BUTTON)
        return InlineKeyboardMarkup([[InlineKeyboardButton(label, url=url)]])

    def _sender(self, chat_id: int, item: Outgoing, private: bool) -> Call:
        bot = self.app.bot

        async def send() -> None:
            if item.document is not None:
                document = InputFile(item.document.data, filename=item.document.filename)
                sent = await bot.send_document(chat_id, document, reply_markup=item.markup)
            else:
                sent = await bot.send_message(chat_id, item.text or "", reply_markup=item.markup,
                                              link_preview_options=NO_PREVIEW)
            if private and item.markup is not None:
                self._remember_keyboard(chat_id, sent.message_id)

        return send

    def _remember_keyboard(self, chat_id: int, message_id: int | None) -> None:
        self._cache_keyboard(chat_id, message_id)
        self.ledger.set_keyboard(chat_id, message_id)

    def _cache_keyboard(self, chat_id: int, message_id: int | None) -> None:
        self._keyboards[chat_id] = message_id
        self._keyboards.move_to_end(chat_id)
        while len(self._keyboards) > KEYBOARDS_REMEMBERED:
            self._keyboards.popitem(last=False)

    def _last_keyboard(self, chat_id: int) -> int | None:
        if chat_id in self._keyboards:
            return self._keyboards[chat_id]
        message_id = self.ledger.keyboard(chat_id)  # from an earlier run, or one we forgot
        self._cache_keyboard(chat_id, message_id)
        return message_id

    def _clear_keyboards(self, chat_id: int, pressed: int | None) -> Call:
        """Take the buttons off the pressed message and off the last one that had any, so
        old buttons do not linger, also after a restart (the ledger remembers). Read when it
        runs: by then earlier sends have finished."""
        todo: list[int] | None = None

        async def clear() -> None:
            nonlocal todo
            if todo is None:
                last = self._last_keyboard(chat_id)
                todo = sorted({pressed, last} - {None})
                if last is not None:
                    self._remember_keyboard(chat_id, None)
            while todo:
                await self._remove_markup(chat_id, todo[0])
                todo.pop(0)

        return clear

    async def _remove_markup(self, chat_id: int, message_id: int) -> None:
        try:
            await self.app.bot.edit_message_reply_markup(chat_id, message_id, reply_markup=None)
        except BadRequest as error:
            if "not modified" not in error.message.lower():
                log.info("event=keyboard_not_removed chat=%s error=%s", chat_id, error.message)


class WebhookServer:
    """The endpoint Telegram POSTs updates to, on aiohttp (PTB's own needs tornado).

    Checks the secret header in constant time, then answers 200 only once the core has
    committed the update, or the person was told it did not go through (`TelegramBot.receive`):
    an update is never acknowledged before it was handled, so a crash cannot lose it; Telegram
    sends it again. An update left unhandled is answered 500, which Telegram retries too.
    Order: Telegram's Bot API server keeps one queue per chat and sends a chat's next update
    only after the previous one was answered 2xx, so one person's messages arrive one at a
    time, in order, while other chats use the other connections (`WEBHOOK_MAX_CONNECTIONS`).
    """

    def __init__(self, bot: TelegramBot, path: str, secret: str, listen: str, port: int):
        self.bot = bot
        self.path = path
        self.secret = secret.encode()
        self.listen = listen
        self.port = port
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        server = web.Application(client_max_size=MAX_WEBHOOK_BODY)
        server.router.add_post(self.path, self._receive)
        # access_log=None: an access log would print every request line.
        self._runner = web.AppRunner(server, access_log=None, handle_signals=False,
                                     shutdown_timeout=WEBHOOK_STOP_WAIT)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.listen, self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _receive(self, request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER)
        if given is None:
            log.warning("event=webhook_rejected status=401 reason=no_secret")
            return web.Response(status=401)
        if not hmac.compare_digest(given.encode("utf-8", "replace"), self.secret):
            log.warning("event=webhook_rejected status=403 reason=wrong_secret")
            return web.Response(status=403)
        try:
            update = Update.de_json(await request.json(), self.bot.app.bot)
        except web.HTTPRequestEntityTooLarge:
            log.warning("event=webhook_rejected status=413 reason=too_large")
            return web.Response(status=413)
        except Exception:  # not JSON, or not an Update
            update = None
        if update is None:
            log.warning("event=webhook_rejected status=400 reason=bad_update")
            return web.Response(status=400)
        try:
            outcome = await self.bot.receive(update)
        except StoreClosed:  # stopping: not handled, so Telegram must send it again
            return web.Response(status=503)
        if outcome is Outcome.AGAIN:  # not handled: any answer but 2xx makes Telegram retry
            return web.Response(status=500)
        return web.Response(text="ok")


# -- the command ------------------------------------------------------------------------------


def quiet_library_logs() -> None:
    """Cap loggers that print tokens or user text, whatever --log-level says."""
    root = logging.getLogger().getEffectiveLevel()
    for name in CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.INFO, root))
    for name in REQUEST_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, root))


def run_telegram(settings: Settings, args: argparse.Namespace) -> int:
    """`coach telegram`: run until SIGINT/SIGTERM; returns the exit code."""
    try:
        config = config_from_env(os.environ, args)
    except ConfigError as error:
        print(f"coach: {error}", file=sys.stderr)
        return EXIT_CONFIG
    logging.captureWarnings(True)  # library warnings go through the redacting handlers too
    install_redaction(config.token, config.webhook_secret)
    quiet_library_logs()
    coach = build_coach(settings)
    return asyncio.run(serve(coach, config))


async def serve(coach: Coach, config: TelegramConfig) -> int:
    bot = TelegramBot(coach, config)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    try:
        try:
            await bot.start()
        except InvalidToken:  # its message contains the token: never print it
            print("coach: Telegram rejected TELEGRAM_BOT_TOKEN (401 Unauthorized); "
                  "check it with @BotFather", file=sys.stderr)
            return EXIT_CONFIG
        except (TelegramError, OSError, sqlite3.Error) as error:
            reason = redact(str(error)).splitlines()[0] if str(error) else ""
            print(f"coach: could not start the Telegram bot: {type(error).__name__}: {reason}",
                  file=sys.stderr)
            return EXIT_FAILED
        await stopping.wait()
        log.info("event=shutdown_requested")
        return 0
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):  # a second Ctrl-C stops at once
            loop.remove_signal_handler(signum)
        try:
            await bot.stop()
        except Exception:
            log.exception("event=stop_failed")
        await coach.close()
