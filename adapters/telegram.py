"""The Telegram adapter: python-telegram-bot v22 (asyncio) in front of the core.

It only translates. An Update becomes an Incoming for `Coach.handle`; the Reply becomes Bot
API calls: each part one plain-text message (no parse_mode, so nothing a person types can
break markup), split under 4096 UTF-16 units, choices as inline buttons on the last message,
exports as documents. Everything the bot says comes from the core and the flows; the only
words here are the command menu and the private-chat button label (adapter chrome).

Order and duplicates: updates run concurrently (PTB's `concurrent_updates`); the handler's
first await is `Coach.handle`, which queues on the core's per-user FIFO lock, so one
person's updates are handled in arrival order, and the core skips update ids it has seen
(also across restarts). Replies go out through `Outbox`: per chat in order, paced, with
429s waited out. Logs carry event names and ids only, never message text, and the token is
redacted from every log line (adapters/redact.py).
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
import sys
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web
from telegram import (
    BotCommand,
    CallbackQuery,
    Chat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    LinkPreviewOptions,
    Message,
    Update,
)
from telegram.constants import ChatAction, ChatType
from telegram.error import BadRequest, InvalidToken, NetworkError, TelegramError, TimedOut
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    ContextTypes,
    MessageHandler,
    filters,
)
from telegram.request import BaseRequest, RequestData

from adapters.outbox import Call, Outbox, Pacing
from adapters.redact import install_redaction, redact
from adapters.text_split import split_text as split_by_units
from bot.app import Settings, build_coach
from bot.messages import Attachment, Choice, Incoming, Reply, UserKey
from bot.pipeline import Coach

log = logging.getLogger("coach.telegram")

DEFAULT_BASE_URL = "https://api.telegram.org/bot"
ALLOWED_UPDATES = ["message", "callback_query"]
MAX_TEXT_UNITS = 4096  # UTF-16 code units, as Telegram counts
MAX_CALLBACK_DATA_BYTES = 64
MAX_TOAST = 200
SHORT_LABEL = 16  # labels up to this long go two to a row
CONCURRENT_UPDATES = 256
# 32 connections cover Telegram's 30 messages/s at real round-trip times; a call that finds
# them all busy waits up to POOL_WAIT for one instead of failing.
CONNECTION_POOL = 32
POOL_WAIT = 30.0
KEYBOARDS_REMEMBERED = 50_000
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
SECRET_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")
TOKEN_RE = re.compile(r"\d+:[A-Za-z0-9_-]+")
EXIT_CONFIG = 2
EXIT_FAILED = 1
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)

# Telegram's command menu. UI text, but adapter chrome: the flows cannot describe menus.
COMMANDS = (
    ("start", "Start, or open a topic"),
    ("menu", "The main menu"),
    ("help", "What you can do here"),
    ("back", "Go to the previous step"),
    ("resume", "Show where you left off"),
    ("export", "Everything kept about you"),
    ("delete", "Erase everything about you"),
    ("sos", "Help right now"),
    ("privacy", "What is kept and why"),
)
PRIVATE_CHAT_LABEL = "Message me privately"

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


class AiohttpRequest(BaseRequest):
    """PTB's HTTP transport on aiohttp instead of httpx.

    Why: measured against the fake server, a Bot API call through PTB costs about 0.8 ms of CPU
    on httpx and 0.3 ms on aiohttp (httpx's pool re-checks every connection with system calls
    on each request, and httpcore repeats a failed `import sniffio` on each one). A reply is
    3 to 4 calls, so this is most of the adapter's cost. It also drops httpx's request log,
    which prints the token. PTB documents custom BaseRequest subclasses. Bodies are JSON, or
    multipart when a file goes up (as PTB's own transport does). Timeouts: connect, pool
    (waiting for a free connection) and read map onto aiohttp's; an upload's write time
    counts against the read timeout.
    """

    def __init__(self, pool: int = CONNECTION_POOL, read_timeout: float | None = 5.0,
                 connect_timeout: float = 5.0, pool_timeout: float = POOL_WAIT) -> None:
        self.pool = pool
        self._read_timeout = read_timeout
        self.connect_timeout = connect_timeout
        self.pool_timeout = pool_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=self.pool)
            self._session = aiohttp.ClientSession(
                connector=connector, headers={"User-Agent": self.USER_AGENT})

    async def shutdown(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if self._session is None:
            raise RuntimeError("AiohttpRequest is not initialized")
        read = _given(read_timeout, self._read_timeout)
        connect = _given(connect_timeout, self.connect_timeout)
        wait = _given(pool_timeout, self.pool_timeout)
        timeout = aiohttp.ClientTimeout(total=None, connect=(wait or 0) + (connect or 0) or None,
                                        sock_connect=connect, sock_read=read)
        files = request_data is not None and request_data.contains_files
        try:
            async with self._session.request(
                method, url, timeout=timeout,
                json=None if files or request_data is None else request_data.parameters,
                data=_multipart(request_data) if files else None,
            ) as response:
                return response.status, await response.read()
        except TimeoutError as error:
            raise TimedOut from error
        except aiohttp.ClientError as error:  # the class name says what failed; no URL in it
            raise NetworkError(f"aiohttp.{type(error).__name__}") from error


def _given(value: Any, default: float | None) -> float | None:
    """PTB passes DefaultValue placeholders for timeouts the caller did not set."""
    return default if isinstance(value, type(BaseRequest.DEFAULT_NONE)) else value


def _multipart(request_data: RequestData | None) -> aiohttp.FormData:
    """An upload: the fields JSON-encoded as PTB sends them, then the files."""
    form = aiohttp.FormData()
    assert request_data is not None
    for name, value in request_data.json_parameters.items():
        form.add_field(name, value)
    for name, (filename, content, mime_type) in request_data.multipart_data.items():
        form.add_field(name, content, filename=filename, content_type=mime_type)
    return form


def build_application(config: TelegramConfig) -> Application:
    builder = (
        ApplicationBuilder()
        .token(config.token)
        .base_url(config.base_url)
        .base_file_url(config.file_url)
        .concurrent_updates(CONCURRENT_UPDATES)
        .request(AiohttpRequest())
        .get_updates_request(AiohttpRequest(pool=1))
    )
    if config.webhook_url:
        builder = builder.updater(None)
    return builder.build()


class TelegramBot:
    """One running bot: PTB Application, outbox, and (in webhook mode) the HTTP endpoint."""

    def __init__(self, coach: Coach, config: TelegramConfig) -> None:
        self.coach = coach
        self.config = config
        self.outbox = Outbox(config.pacing)
        self.app = build_application(config)
        self.app.add_handler(MessageHandler(filters.UpdateType.MESSAGE, self._on_update))
        self.app.add_handler(CallbackQueryHandler(self._on_update))
        self.app.add_error_handler(self._on_error)
        self.webhook: WebhookServer | None = None
        self.started = False
        self._keyboards: OrderedDict[int, int] = OrderedDict()

    # -- lifecycle

    async def start(self) -> None:
        """Raises InvalidToken when Telegram rejects the token (its message holds the token)."""
        await self.app.initialize()
        await self._register_commands()
        await self.app.start()
        if self.config.webhook_url:
            path = urlsplit(self.config.webhook_url).path or "/"
            self.webhook = WebhookServer(self.app, path, self.config.webhook_secret,
                                         self.config.listen, self.config.port)
            await self.webhook.start()
            await self.app.bot.set_webhook(self.config.webhook_url,
                                           secret_token=self.config.webhook_secret,
                                           allowed_updates=ALLOWED_UPDATES)
        else:
            assert self.app.updater is not None
            await self.app.updater.start_polling(timeout=self.config.poll_timeout,
                                                 allowed_updates=ALLOWED_UPDATES,
                                                 error_callback=self._polling_error)
        self.started = True
        log.info("event=telegram_started mode=%s bot_id=%s",
                 "webhook" if self.webhook else "polling", self.app.bot.id)

    async def stop(self) -> None:
        """Stop taking updates, finish the ones taken, send what is queued, then close."""
        if self.webhook is not None:
            with contextlib.suppress(TelegramError):
                await self.app.bot.delete_webhook()
            await self.webhook.stop()
            self.webhook = None
        if self.app.updater is not None and self.app.updater.running:
            await self.app.updater.stop()
        if self.app.running:
            await self.app.stop()
        await self.outbox.drain(self.config.drain_timeout)
        await self.app.shutdown()
        if self.started:
            self.started = False
            log.info("event=telegram_stopped")

    async def _register_commands(self) -> None:
        try:
            await self.app.bot.set_my_commands([BotCommand(c, d) for c, d in COMMANDS])
        except TelegramError as error:  # a missing menu is no reason not to run
            log.warning("event=set_commands_failed error=%s", type(error).__name__)

    def _polling_error(self, error: TelegramError) -> None:
        log.warning("event=polling_error error=%s", type(error).__name__)

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        update_id = update.update_id if isinstance(update, Update) else None
        log.error("event=handler_error update=%s error=%s", update_id,
                  type(context.error).__name__, exc_info=context.error)

    # -- inbound

    async def _on_update(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """No await may come before `Coach.handle`: that keeps a person's updates in order."""
        message, chat, query = to_incoming(update), update.effective_chat, update.callback_query
        if message is None or chat is None:
            self._answer(query, None)
            return
        if not message.private and update.message is not None and not self._addressed(
                update.message):
            return
        typing = self._typing_soon(chat.id) if message.private else None
        try:
            reply = await self.coach.handle(message)
        except Exception:
            self._answer(query, None)
            raise
        finally:
            if typing is not None:
                typing.cancel()
        self._send_reply(chat, message, reply, query)

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

    def _send_reply(self, chat: Chat, message: Incoming, reply: Reply,
                    query: CallbackQuery | None) -> None:
        """Queue everything for one reply; synchronous, so replies queue in handling order."""
        self._answer(query, reply.notice)
        if reply.duplicate:
            return
        private = message.private
        if private:
            pressed = query.message.message_id if query and query.message else None
            self.outbox.send(chat.id, self._clear_keyboards(chat.id, pressed),
                             "editMessageReplyMarkup", paced=False)
            markup = keyboard(reply.choices)
        else:
            markup = self._private_chat_button()
        for item in plan(reply, markup, private=private):
            self.outbox.send(chat.id, self._sender(chat.id, item, private),
                             "sendDocument" if item.document else "sendMessage",
                             group=not private)

    def _answer(self, query: CallbackQuery | None, notice: str | None) -> None:
        if query is not None:
            text = toast(notice)
            self.outbox.send_now(lambda: query.answer(text=text), "answerCallbackQuery")

    def _private_chat_button(self) -> InlineKeyboardMarkup:
        url = f"https://t.me/{self.app.bot.username}"
        return InlineKeyboardMarkup([[InlineKeyboardButton(PRIVATE_CHAT_LABEL, url=url)]])

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

    def _remember_keyboard(self, chat_id: int, message_id: int) -> None:
        self._keyboards[chat_id] = message_id
        self._keyboards.move_to_end(chat_id)
        while len(self._keyboards) > KEYBOARDS_REMEMBERED:
            self._keyboards.popitem(last=False)

    def _clear_keyboards(self, chat_id: int, pressed: int | None) -> Call:
        """Take the buttons off the pressed message and off the last one that had any, so
        old buttons do not linger. Read when it runs: by then earlier sends have finished."""
        todo: list[int] | None = None

        async def clear() -> None:
            nonlocal todo
            if todo is None:
                todo = sorted({pressed, self._keyboards.pop(chat_id, None)} - {None})
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

    Checks the secret header in constant time and hands each update to PTB's update queue,
    so webhook and polling share one path from there on.
    """

    def __init__(self, app: Application, path: str, secret: str, listen: str, port: int):
        self.app = app
        self.path = path
        self.secret = secret.encode()
        self.listen = listen
        self.port = port
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        server = web.Application(client_max_size=1 << 20)
        server.router.add_post(self.path, self._receive)
        # access_log=None: an access log would print every request line.
        self._runner = web.AppRunner(server, access_log=None, handle_signals=False)
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
            update = Update.de_json(await request.json(), self.app.bot)
        except Exception:  # not JSON, or not an Update
            log.warning("event=webhook_rejected status=400 reason=bad_update")
            return web.Response(status=400)
        await self.app.update_queue.put(update)
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
        except (TelegramError, OSError) as error:
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
        await coach.store.close()
