"""Proof that a real python-telegram-bot Application runs against the fake Bot API.

Why: the Telegram adapter's tests rely on ``tests/fakes/telegram_api.py`` answering like Telegram.
These tests run PTB's own ``Application`` + ``Updater`` (long polling over real HTTP on
127.0.0.1, no mocks) and pin down the PTB behaviours the adapter has to handle: how 429s
surface, that PTB does not de-duplicate updates, what 400s look like after PTB rewrites the
description, and which loggers print the token.
"""

from __future__ import annotations

import asyncio
import datetime as dtm
import json
import logging
import urllib.request
import warnings
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, InputFile, Update
from telegram.error import BadRequest, Forbidden, InvalidToken, NetworkError, RetryAfter
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from tests.fakes.telegram_api import FakeTelegramAPI, parse_telegram_html

TOKEN = "123456789:AAFakeTokenForTestsOnly_abcdefghijkl"
CHAT = 4242
WAIT = 60.0  # seconds: a safety net against a hang, never a measure of speed
# Every RetryAfter PTB 22 builds warns that retry_after will become a timedelta (see the test).
IGNORE_RETRY_AFTER_DEPRECATION = pytest.mark.filterwarnings(
    "ignore:.*retry_after.*:telegram.warnings.PTBDeprecationWarning"
)


# --------------------------------------------------------------------------- harness


@dataclass
class Harness:
    """A running PTB Application wired to the fake, plus what its handlers observed."""

    app: Application
    server: FakeTelegramAPI
    seen_update_ids: list[int] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)
    error_seen: asyncio.Event = field(default_factory=asyncio.Event)

    async def wait_error(self, timeout: float = WAIT) -> BaseException:
        """Wait until the Application's error handler got an exception (no sleeping)."""
        await asyncio.wait_for(self.error_seen.wait(), timeout)
        return self.errors[-1]


KEYBOARD = InlineKeyboardMarkup(
    [
        [
            InlineKeyboardButton("Yes", callback_data="choice:yes"),
            InlineKeyboardButton("No", callback_data="choice:no"),
        ]
    ]
)


def build_app(server: FakeTelegramAPI, token: str = TOKEN) -> Application:
    """The exact builder call the adapter should use to point PTB at another Bot API server."""
    return (
        ApplicationBuilder()
        .token(token)
        .base_url(server.base_url)
        .base_file_url(server.base_file_url)
        .build()
    )


def add_echo_handlers(harness: Harness) -> None:
    """/start with a keyboard, text echo, button press: answer + edit markup."""

    async def remember(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        harness.seen_update_ids.append(update.update_id)

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None
        payload = " ".join(context.args or []) or "-"
        await update.message.reply_text(f"Welcome! payload={payload}", reply_markup=KEYBOARD)

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None and update.message.text is not None
        await update.message.reply_text(f"echo: {update.message.text}")

    async def button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None and query.data is not None
        choice = query.data.split(":", 1)[1]
        await query.answer(f"You chose {choice}")
        chosen = InlineKeyboardButton(f"✓ {choice}", callback_data="done")
        await query.edit_message_reply_markup(InlineKeyboardMarkup([[chosen]]))

    async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert context.error is not None
        harness.errors.append(context.error)
        harness.error_seen.set()

    app = harness.app
    app.add_handler(TypeHandler(Update, remember), group=-1)
    app.add_handler(CommandHandler("start", start))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))
    app.add_handler(CallbackQueryHandler(button, pattern=r"^choice:"))
    app.add_error_handler(on_error)


@pytest.fixture
async def server() -> AsyncIterator[FakeTelegramAPI]:
    async with FakeTelegramAPI(TOKEN, max_poll_wait=1.0) as fake:
        yield fake


@pytest.fixture
async def bot(server: FakeTelegramAPI) -> AsyncIterator[Harness]:
    """A polling Application; stopped in the documented order so no task outlives the test."""
    harness = Harness(app=build_app(server), server=server)
    add_echo_handlers(harness)
    app = harness.app
    await app.initialize()
    await app.start()
    assert app.updater is not None
    await app.updater.start_polling(poll_interval=0, timeout=1)
    await server.wait_for("getUpdates", include_pending=True)
    try:
        yield harness
    finally:
        await app.updater.stop()
        await app.stop()
        await app.shutdown()


# --------------------------------------------------------------------------- PTB end to end


async def test_start_command_with_payload_gets_keyboard(bot: Harness) -> None:
    server = bot.server
    # Startup sequence PTB performs against the API:
    assert [c.method for c in server.calls[:3]] == ["getMe", "deleteWebhook", "getUpdates"]

    server.push_command(CHAT, "start", "from_ad")
    await server.wait_for("sendMessage")

    [reply] = server.sent_messages(CHAT)
    assert reply.text == "Welcome! payload=from_ad"
    assert reply.message_id == 2  # message ids are per chat and the user's /start was 1
    assert reply.reply_markup == KEYBOARD.to_dict()


async def test_echo_text(bot: Harness) -> None:
    bot.server.push_message(CHAT, "hello there")
    [call] = await bot.server.wait_for("sendMessage")
    assert call.params["chat_id"] == CHAT
    assert call.params["text"] == "echo: hello there"
    assert [m.text for m in bot.server.sent_messages(CHAT)] == ["echo: hello there"]


async def test_button_press_is_answered_and_markup_edited(bot: Harness) -> None:
    server = bot.server
    server.push_command(CHAT, "start")
    await server.wait_for("sendMessage")
    [welcome] = server.sent_messages(CHAT)

    update = server.push_callback(CHAT, "choice:yes", message_id=welcome.message_id)
    await server.wait_for("answerCallbackQuery")
    await server.wait_for("editMessageReplyMarkup")

    [answer] = server.callback_answers
    assert answer.callback_query_id == update["callback_query"]["id"]
    assert answer.text == "You chose yes"
    [edited] = server.sent_messages(CHAT)
    assert edited.edit_count == 1
    assert edited.reply_markup == {
        "inline_keyboard": [[{"text": "✓ yes", "callback_data": "done"}]]
    }
    assert bot.errors == []


@IGNORE_RETRY_AFTER_DEPRECATION
async def test_429_raises_retry_after_and_is_not_retried(bot: Harness) -> None:
    """PTB without a rate limiter never retries a 429 itself: the call raises RetryAfter."""
    server = bot.server
    server.fail_next("sendMessage", count=1, retry_after=3)

    with pytest.raises(RetryAfter) as raised:
        await bot.app.bot.send_message(CHAT, "direct call")
    assert str(raised.value) == "Flood control exceeded. Retry in 3 seconds"
    # Reading .retry_after as int is deprecated in PTB 22 (PTB_TIMEDELTA=true gives timedelta).
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert raised.value.retry_after in (3, dtm.timedelta(seconds=3))
    assert any("retry_after" in str(w.message) for w in caught) or isinstance(
        raised.value.retry_after, dtm.timedelta
    )
    [rejected] = server.calls_to("sendMessage")
    assert rejected.status == 429
    assert rejected.response == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 3",
        "parameters": {"retry_after": 3},
    }

    # Inside a handler the RetryAfter goes to the error handler; the reply is simply lost.
    server.fail_next("sendMessage", count=1, retry_after=2)
    mark = len(server.calls)
    server.push_message(CHAT, "during flood")
    error = await bot.wait_error()
    assert isinstance(error, RetryAfter)
    assert [c.status for c in server.calls[mark:] if c.method == "sendMessage"] == [429]
    assert server.sent_messages(CHAT) == []


@IGNORE_RETRY_AFTER_DEPRECATION
async def test_429_on_get_updates_is_retried_by_the_updater(bot: Harness) -> None:
    """The polling loop sleeps retry_after + 0.5 s and carries on; no update is lost."""
    server = bot.server
    server.fail_next("getUpdates", count=1, retry_after=1)
    server.push_message(CHAT, "still there?")  # the pending poll returns this one at once
    await server.wait_for(lambda c: c.method == "getUpdates" and c.status == 429)
    server.push_message(CHAT, "after the flood")
    await server.wait_for("sendMessage", count=2, timeout=WAIT)
    assert [m.text for m in server.sent_messages(CHAT)] == [
        "echo: still there?",
        "echo: after the flood",
    ]


@IGNORE_RETRY_AFTER_DEPRECATION
async def test_chat_rate_limit_answers_429(server: FakeTelegramAPI) -> None:
    server.enforce_chat_rate(per_second=1.0, burst=2)
    async with build_app(server).bot as bot:
        await bot.send_message(CHAT, "one")
        await bot.send_message(CHAT, "two")
        with pytest.raises(RetryAfter):
            await bot.send_message(CHAT, "three")
        await bot.send_message(CHAT + 1, "another chat has its own bucket")
    assert [m.text for m in server.sent_messages(CHAT)] == ["one", "two"]


async def test_over_long_text_is_400_counting_utf16(server: FakeTelegramAPI) -> None:
    async with build_app(server).bot as bot:
        await bot.send_message(CHAT, "x" * 4096)
        await bot.send_message(CHAT, "😀" * 2048)  # 2048 chars, 4096 UTF-16 code units
        for text in ("x" * 4097, "😀" * 2049):
            with pytest.raises(BadRequest) as raised:
                await bot.send_message(CHAT, text)
            # PTB strips "Bad Request: " and capitalizes the description.
            assert raised.value.message == "Message is too long"
        with pytest.raises(BadRequest, match="Message text is empty"):
            await bot.send_message(CHAT, "   ")
        # The limit applies to the text after HTML parsing, not to the markup.
        await bot.send_message(CHAT, "<b>" + "y" * 4096 + "</b>", parse_mode="HTML")
    descriptions = [c.description for c in server.calls_to("sendMessage")]
    assert descriptions.count("Bad Request: message is too long") == 2


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("<b>unclosed", "can't find end tag corresponding to start tag b"),
        ("<p>paragraph</p>", 'unsupported start tag "p" at byte offset 0'),
        ("1 < 2", 'unsupported start tag "" at byte offset 2'),
        ("<b>x</i>", "unmatched end tag at byte offset 4"),
        ("Tom & Jerry", 'unescaped "&" at byte offset 4'),
    ],
)
async def test_bad_html_is_400(server: FakeTelegramAPI, text: str, reason: str) -> None:
    async with build_app(server).bot as bot:
        with pytest.raises(BadRequest) as raised:
            await bot.send_message(CHAT, text, parse_mode="HTML")
    # str.capitalize() in PTB lower-cases the rest: match error texts case-insensitively.
    assert raised.value.message.startswith("Can't parse entities: ")
    assert reason in raised.value.message.lower()
    [call] = server.calls_to("sendMessage")
    assert call.description is not None
    assert call.description.startswith("Bad Request: can't parse entities: ")


async def test_good_html_is_parsed_like_telegram(server: FakeTelegramAPI) -> None:
    async with build_app(server).bot as bot:
        message = await bot.send_message(
            CHAT, '<b>Hi</b> &amp; <a href="https://example.org">you</a>', parse_mode="HTML"
        )
    assert message.text == "Hi & you"
    assert [(e.type, e.offset, e.length) for e in message.entities] == [
        ("bold", 0, 2),
        ("text_link", 5, 3),
    ]
    [sent] = server.sent_messages(CHAT)
    assert sent.raw_text == '<b>Hi</b> &amp; <a href="https://example.org">you</a>'
    assert parse_telegram_html("a &lt; b")[0] == "a < b"


async def test_callback_data_over_64_bytes_is_rejected(server: FakeTelegramAPI) -> None:
    async with build_app(server).bot as bot:
        ok = InlineKeyboardButton("ok", callback_data="é" * 32)  # 64 bytes
        await bot.send_message(CHAT, "fits", reply_markup=InlineKeyboardMarkup([[ok]]))
        too_long = InlineKeyboardButton("no", callback_data="é" * 33)  # 33 chars, 66 bytes
        with pytest.raises(BadRequest) as raised:
            await bot.send_message(CHAT, "x", reply_markup=InlineKeyboardMarkup([[too_long]]))
    assert raised.value.message == "Button_data_invalid"
    assert server.calls_to("sendMessage")[-1].description == "Bad Request: BUTTON_DATA_INVALID"


async def test_answer_callback_query_limits(bot: Harness) -> None:
    server = bot.server
    with pytest.raises(BadRequest, match="Query is too old"):
        await bot.app.bot.answer_callback_query("no-such-query")
    # A press on a message the fake doesn't know arrives as an inaccessible message (date 0).
    update = server.push_callback(CHAT, "unhandled", message_id=99)
    assert update["callback_query"]["message"]["date"] == 0
    query_id = update["callback_query"]["id"]
    with pytest.raises(BadRequest) as raised:
        await bot.app.bot.answer_callback_query(query_id, text="x" * 201)
    assert raised.value.message == "Message_too_long"
    assert await bot.app.bot.answer_callback_query(query_id, text="x" * 200)


async def test_get_updates_offset_delivers_an_update_once(bot: Harness) -> None:
    server = bot.server
    update_id = server.push_message(CHAT, "once")["update_id"]
    await server.wait_for("sendMessage")
    # PTB confirms by polling with offset = last update_id + 1; the fake then drops it.
    await server.wait_for(
        lambda c: c.method == "getUpdates" and c.params.get("offset") == update_id + 1,
        include_pending=True,
    )
    assert server.pending_updates == 0
    delivered = [
        c
        for c in server.calls_to("getUpdates")
        if any(u["update_id"] == update_id for u in (c.response or {}).get("result", []))
    ]
    assert len(delivered) == 1
    assert bot.seen_update_ids == [update_id]


async def test_duplicate_update_id_is_delivered_twice(bot: Harness) -> None:
    """Telegram may redeliver (e.g. after a crash before confirming); PTB does not dedupe."""
    server = bot.server
    update = server.push_message(CHAT, "same update")
    await server.wait_for("sendMessage")
    server.push_update(update)
    await server.wait_for("sendMessage", count=2)
    assert bot.seen_update_ids == [update["update_id"]] * 2
    assert [m.text for m in server.sent_messages(CHAT)] == ["echo: same update"] * 2


async def test_wrong_token_is_401_invalid_token(server: FakeTelegramAPI) -> None:
    app = build_app(server, token="987654321:AAWrongTokenWrongTokenWrongToken123")
    with pytest.raises(InvalidToken) as raised:
        await app.initialize()
    # Bot.initialize() re-raises with the token in the message: never log this text as is.
    assert str(raised.value) == f"The token `{app.bot.token}` was rejected by the server."
    assert isinstance(raised.value.__cause__, InvalidToken)
    assert str(raised.value.__cause__) == "Unauthorized"
    [call] = server.calls
    assert (call.method, call.status) == ("getMe", 401)
    assert call.response == {"ok": False, "error_code": 401, "description": "Unauthorized"}


async def test_send_document_records_filename_and_bytes(server: FakeTelegramAPI) -> None:
    async with build_app(server).bot as bot:
        message = await bot.send_document(
            CHAT,
            InputFile(b"line 1\nline 2\n", filename="export.txt"),
            caption="<i>your notes</i>",
            parse_mode="HTML",
        )
    assert message.document is not None
    assert message.document.file_name == "export.txt"
    assert message.caption == "your notes"
    [sent] = server.sent_messages(CHAT)
    assert sent.document is not None
    assert (sent.document.filename, sent.document.data) == ("export.txt", b"line 1\nline 2\n")
    [call] = server.calls_to("sendDocument")
    assert call.files["document"].data == b"line 1\nline 2\n"


async def test_edits_deletes_and_commands(server: FakeTelegramAPI) -> None:
    async with build_app(server).bot as bot:
        message = await bot.send_message(CHAT, "v1", reply_markup=KEYBOARD)
        with pytest.raises(BadRequest, match="Message is not modified"):
            await bot.edit_message_text("v1", CHAT, message.message_id, reply_markup=KEYBOARD)
        # Like Telegram: editing the text without reply_markup removes the keyboard.
        edited = await bot.edit_message_text("v2", CHAT, message.message_id)
        assert edited.reply_markup is None
        with pytest.raises(BadRequest, match="Message to edit not found"):
            await bot.edit_message_text("v3", CHAT, 999)
        assert await bot.send_chat_action(CHAT, "typing")
        assert await bot.delete_message(CHAT, message.message_id)
        with pytest.raises(BadRequest, match="Message to delete not found"):
            await bot.delete_message(CHAT, message.message_id)

        assert await bot.set_my_commands([("start", "Begin"), ("export", "Export notes")])
        assert [c.command for c in await bot.get_my_commands()] == ["start", "export"]
        with pytest.raises(BadRequest, match="Bot_command_invalid"):
            await bot.set_my_commands([("Start", "Begin")])
        with pytest.raises(BadRequest, match="Command description must be non-empty"):
            await bot.set_my_commands([("start", "")])
    assert server.sent_messages(CHAT) == []
    [deleted] = server.sent_messages(CHAT, include_deleted=True)
    assert (deleted.text, deleted.deleted, deleted.reply_markup) == ("v2", True, None)
    assert server.chat_actions == [(CHAT, "typing")]


async def test_blocked_user_and_server_errors_map_to_ptb_exceptions(
    server: FakeTelegramAPI,
) -> None:
    server.block_chat(CHAT)
    server.inject_error("sendMessage", 502, "Bad Gateway")
    async with build_app(server).bot as bot:
        with pytest.raises(NetworkError, match="Bad Gateway"):
            await bot.send_message(CHAT + 1, "server hiccup")
        with pytest.raises(Forbidden, match="bot was blocked by the user"):
            await bot.send_message(CHAT, "hello?")
    assert [c.status for c in server.calls_to("sendMessage")] == [502, 403]


async def test_token_leaks_into_ptb_and_httpx_logs(
    server: FakeTelegramAPI, caplog: pytest.LogCaptureFixture
) -> None:
    """Characterization: which loggers print the bot token, so the adapter can redact them."""
    caplog.set_level(logging.DEBUG)
    async with build_app(server).bot as bot:
        await bot.send_message(CHAT, "private words")
    leaking = {r.name for r in caplog.records if TOKEN in r.getMessage()}
    assert "httpx" in leaking  # INFO: 'HTTP Request: POST http://.../bot<TOKEN>/sendMessage ...'
    assert "telegram.ext.ExtBot" in leaking  # DEBUG: 'Set Bot API URL: http://.../bot<TOKEN>'
    user_text = {r.name for r in caplog.records if "private words" in r.getMessage()}
    assert "telegram.ext.ExtBot" in user_text  # DEBUG: 'Calling Bot API endpoint ... parameters'


# --------------------------------------------------------------------------- the fake, raw HTTP


async def _post(
    session: aiohttp.ClientSession, url: str, **kwargs: Any
) -> tuple[int, dict[str, Any]]:
    async with session.post(url, **kwargs) as response:
        return response.status, await response.json()


async def test_raw_errors_and_encodings(server: FakeTelegramAPI) -> None:
    async with aiohttp.ClientSession() as session:
        status, body = await _post(session, server.method_url("noSuchMethod"))
        assert (status, body) == (
            404,
            {"ok": False, "error_code": 404, "description": "Not Found: method not found"},
        )
        status, body = await _post(session, server.method_url("getMe", token="garbage"))
        assert (status, body["description"]) == (404, "Not Found")

        markup = {"inline_keyboard": [[{"text": "a", "callback_data": "a"}]]}
        form = {"chat_id": "7", "text": "123", "reply_markup": json.dumps(markup)}
        status, body = await _post(session, server.method_url("sendMessage"), data=form)
        assert status == 200
        assert body["result"]["text"] == "123"  # text stays a string, chat_id becomes a number
        assert body["result"]["reply_markup"] == markup
        assert server.calls[-1].params == {"chat_id": 7, "text": "123", "reply_markup": markup}

        status, body = await _post(
            session, server.method_url("SENDMESSAGE"), json={"chat_id": 7, "text": "json"}
        )
        assert (status, body["result"]["message_id"]) == (200, 2)

        upload = aiohttp.FormData()
        upload.add_field("chat_id", "7")
        upload.add_field("document", b"\x00\x01", filename="a.bin")
        status, body = await _post(session, server.method_url("sendDocument"), data=upload)
        assert (status, body["result"]["document"]["file_name"]) == (200, "a.bin")
        assert server.calls[-1].files["document"].data == b"\x00\x01"


async def test_long_poll_returns_early_and_honours_offset() -> None:
    """A poll that may wait 10 minutes returns with the update pushed meanwhile: if it only
    returned at its deadline, the test would fail after WAIT (no window on the clock)."""
    async with FakeTelegramAPI(TOKEN, max_poll_wait=600.0) as server, \
            aiohttp.ClientSession() as s:
        url = server.method_url("getUpdates")
        poll = asyncio.create_task(_post(s, url, json={"timeout": 600}))
        await server.wait_for("getUpdates", include_pending=True)
        first = server.push_message(1, "a")["update_id"]
        status, body = await asyncio.wait_for(poll, WAIT)
        assert status == 200 and [u["update_id"] for u in body["result"]] == [first]

        second = server.push_message(1, "b")["update_id"]
        third = server.push_message(1, "c")["update_id"]
        _, body = await _post(s, url, json={"offset": first})  # not confirmed yet: all three
        assert [u["update_id"] for u in body["result"]] == [first, second, third]
        _, body = await _post(s, url, json={"offset": second})  # confirms `first`
        assert [u["update_id"] for u in body["result"]] == [second, third]
        _, body = await _post(s, url, json={"offset": -1})  # keep only the last one
        assert [u["update_id"] for u in body["result"]] == [third]
        _, body = await _post(s, url, json={"offset": third + 1, "allowed_updates": ["message"]})
        assert body["result"] == []
        assert server.allowed_updates == frozenset({"message"})


async def test_second_poller_terminates_the_first_with_409() -> None:
    """The first poll could wait 10 minutes, so the second always finds it still waiting."""
    async with FakeTelegramAPI(TOKEN, max_poll_wait=600.0) as server, \
            aiohttp.ClientSession() as session:
        url = server.method_url("getUpdates")
        first = asyncio.create_task(_post(session, url, json={"timeout": 600}))
        await server.wait_for("getUpdates", include_pending=True)
        second = asyncio.create_task(_post(session, url, json={"timeout": 0}))
        status, body = await first
        assert status == 409
        assert body["description"].startswith("Conflict: terminated by other getUpdates request")
        assert (await second)[0] == 200


async def test_webhook_delivery_and_conflict(server: FakeTelegramAPI) -> None:
    received: list[tuple[str | None, dict[str, Any]]] = []

    async def hook(request: web.Request) -> web.Response:
        secret = request.headers.get("X-Telegram-Bot-Api-Secret-Token")
        received.append((secret, await request.json()))
        return web.Response(text="ok")

    receiver = web.Application()
    receiver.router.add_post("/hook", hook)
    runner = web.AppRunner(receiver, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    hook_url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    try:
        async with build_app(server).bot as bot:
            assert await bot.set_webhook(hook_url, secret_token="s3cret")
            info = await bot.get_webhook_info()
            assert (info.url, info.pending_update_count) == (hook_url, 0)
            update = server.push_message(CHAT, "via webhook")
            await server.wait_until(lambda: server.webhook_deliveries != [])
            assert received == [("s3cret", update)]
            assert server.pending_updates == 0
            with pytest.raises(Exception, match="webhook is active"):
                await bot.get_updates()
            status, _ = await server.post_webhook_update(hook_url, {"update_id": 1}, "s3cret")
            assert status == 200
            assert await bot.delete_webhook()
    finally:
        await runner.cleanup()


async def test_held_calls_wait_for_release_or_are_dropped(server: FakeTelegramAPI) -> None:
    """``hold`` freezes a moment without a clock: the call arrived and waits unanswered until
    the test releases it (it goes on) or drops it (502, nothing stored)."""
    async with aiohttp.ClientSession() as session:
        url = server.method_url("sendMessage")
        server.hold("sendMessage", CHAT)
        first = asyncio.create_task(_post(session, url, json={"chat_id": CHAT, "text": "1"}))
        other = await _post(session, url, json={"chat_id": 7, "text": "not held"})
        assert other[0] == 200  # another chat goes through
        [held] = await server.wait_for(lambda c: c.held, include_pending=True)
        assert held.status is None and not first.done()
        server.release("sendMessage", CHAT)
        assert (await asyncio.wait_for(first, WAIT))[0] == 200
        assert [m.text for m in server.sent_messages(CHAT)] == ["1"]

        server.hold("sendMessage")
        lost = asyncio.create_task(_post(session, url, json={"chat_id": CHAT, "text": "2"}))
        await server.wait_for(lambda c: c.held and c.status is None, include_pending=True)
        server.release("sendMessage", drop=True)
        assert (await asyncio.wait_for(lost, WAIT))[0] == 502
        assert [m.text for m in server.sent_messages(CHAT)] == ["1"]  # never acted on


async def test_a_flooded_chat_gets_429_until_the_flood_ends(server: FakeTelegramAPI) -> None:
    async with aiohttp.ClientSession() as session:
        url = server.method_url("sendMessage")
        server.flood_chat(CHAT, retry_after=3)
        status, body = await _post(session, url, json={"chat_id": CHAT, "text": "a"})
        assert (status, body["parameters"]) == (429, {"retry_after": 3})
        assert (await _post(session, url, json={"chat_id": 7, "text": "b"}))[0] == 200
        server.unflood_chat(CHAT)
        assert (await _post(session, url, json={"chat_id": CHAT, "text": "c"}))[0] == 200


async def test_confirmations_are_recorded_and_old_queries_refused() -> None:
    async with FakeTelegramAPI(TOKEN, callback_query_max_age=0.0) as server, \
            aiohttp.ClientSession() as session:
        update = server.push_callback(CHAT, "x", message_id=1)
        _, body = await _post(session, server.method_url("getUpdates"), json={})
        assert update["update_id"] not in server.confirmed_at  # delivered, not confirmed
        await _post(session, server.method_url("getUpdates"),
                    json={"offset": update["update_id"] + 1})
        assert update["update_id"] in server.confirmed_at
        status, body = await _post(session, server.method_url("answerCallbackQuery"),
                                   json={"callback_query_id": update["callback_query"]["id"]})
        assert status == 400 and "query is too old" in body["description"]


async def test_a_failed_webhook_delivery_is_retried_when_asked(
        server: FakeTelegramAPI) -> None:
    """With ``webhook_retry_delay`` the fake POSTs a refused update again by itself, as
    Telegram does; confirmed_at records the 2xx."""
    answers = [500, 200]
    received: list[int] = []

    async def hook(request: web.Request) -> web.Response:
        received.append((await request.json())["update_id"])
        return web.Response(status=answers.pop(0))

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        server.webhook_retry_delay = 0.01
        async with build_app(server).bot as bot:
            assert await bot.set_webhook(f"http://127.0.0.1:{port}/hook")
            update = server.push_message(CHAT, "again")
            await server.wait_until(lambda: update["update_id"] in server.confirmed_at)
        assert received == [update["update_id"]] * 2
        assert [s for _, s in server.webhook_deliveries] == [500, 200]
    finally:
        await runner.cleanup()


def test_run_in_thread_for_subprocess_tests() -> None:
    """No event loop here: the server runs in its own thread and helpers are thread-safe."""
    server = FakeTelegramAPI(TOKEN, max_poll_wait=1.0)
    port, stop = server.run_in_thread()
    try:
        assert server.base_url == f"http://127.0.0.1:{port}/bot"

        def call(method: str, payload: dict[str, Any]) -> dict[str, Any]:
            request = urllib.request.Request(
                server.method_url(method),
                data=json.dumps(payload).encode(),
                headers={"Content-Type": "application/json"},
            )
            with urllib.request.urlopen(request, timeout=WAIT) as response:
                return json.loads(response.read())

        assert call("getMe", {})["result"]["username"] == "coach_test_bot"
        update_id = server.push_message(5, "from the test thread")["update_id"]
        result = call("getUpdates", {"timeout": 1})["result"]
        assert [u["update_id"] for u in result] == [update_id]
        call("sendMessage", {"chat_id": 5, "text": "reply"})
        [reply] = server.wait_for_sync("sendMessage", timeout=WAIT)
        assert reply.ok and server.sent_messages(5)[0].text == "reply"
    finally:
        stop()
        stop()  # idempotent
