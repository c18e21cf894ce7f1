"""A fake Telegram Bot API server for tests: real HTTP on 127.0.0.1, no network, no mocks.

Why: the Telegram adapter is built on python-telegram-bot (PTB). Mocking PTB would test our
assumptions about PTB, not PTB. Instead a real ``telegram.ext.Application`` is pointed at this
server, which answers the Bot API methods the coach uses the way Telegram does (same JSON
envelopes, status codes and error descriptions), and records every call so tests can assert
on what the bot really sent.

Quick start (async test, same event loop)::

    from tests.fakes.telegram_api import FakeTelegramAPI

    TOKEN = "123456789:AAFakeTokenForTestsOnly_abcdefghijkl"

    async with FakeTelegramAPI(TOKEN) as server:
        app = (
            ApplicationBuilder()
            .token(TOKEN)
            .base_url(server.base_url)  # "http://127.0.0.1:<port>/bot"
            .base_file_url(server.base_file_url)
            .build()
        )
        ...  # add handlers, start the app, updater.start_polling(poll_interval=0, timeout=1)
        server.push_command(42, "start", "from_ad")  # a user in chat 42 sends "/start from_ad"
        await server.wait_for("sendMessage")  # no sleeps: wakes on the call
        assert server.sent_messages(42)[-1].text == "..."

PTB builds each request URL as ``f"{base_url}{token}/{method}"``, so ``base_url`` must end in
``/bot`` (no trailing slash); this server routes ``/bot<token>/<method>``.

Subprocess tests (the bot runs as ``coach telegram`` in another process) start the server in a
background thread; the helpers below are thread-safe::

    server = FakeTelegramAPI(TOKEN)
    port, stop = server.run_in_thread()
    env["TELEGRAM_API_BASE_URL"] = server.base_url  # however the CLI is configured
    ...
    server.push_message(42, "hello")
    server.wait_for_sync("sendMessage", timeout=10)
    stop()

What it models (Bot API 7.x/8.x semantics):

* Routing and auth: ``/bot<token>/<method>`` via POST or GET with JSON, form-urlencoded or
  multipart bodies (form values are JSON-decoded like Telegram does, except string fields such
  as ``text``). A well-formed but wrong token gets ``401 Unauthorized``; a token without ``:``
  gets ``404 Not Found`` (both become ``telegram.error.InvalidToken`` in PTB). Method names are
  case-insensitive; unknown methods get ``404 Not Found: method not found``.
* Methods: getMe, getUpdates, deleteWebhook, setWebhook, getWebhookInfo, setMyCommands,
  getMyCommands, deleteMyCommands, sendMessage, editMessageText, editMessageReplyMarkup,
  answerCallbackQuery, sendChatAction, sendDocument, sendPhoto, deleteMessage, close, logOut.
* getUpdates long-polling: waits up to ``min(timeout, max_poll_wait)`` seconds and returns as soon
  as an update is queued. ``offset`` confirms (drops) delivered updates with a smaller
  update_id; negative offsets keep the last ``-offset`` updates. ``allowed_updates`` is remembered
  between calls like Telegram does. A second concurrent getUpdates terminates the first with
  ``409 Conflict: terminated by other getUpdates request`` (what a killed-and-restarted bot
  sees); getUpdates while a webhook is set is a 409 as well. Updates are never de-duplicated:
  ``push_update`` with an update_id that was already delivered is delivered again.
* Validation with Telegram's descriptions: empty text, text over 4096 UTF-16 code units (counted
  after HTML parsing, like Telegram), ``parse_mode=HTML`` errors ("can't parse entities: ..."),
  callback_data over 64 *bytes* (``BUTTON_DATA_INVALID``), answerCallbackQuery text over 200
  characters (``MESSAGE_TOO_LONG``), unknown callback query ids, setMyCommands rules, editing a
  message to identical content ("message is not modified"), missing messages.
* HTML: tags b, strong, i, em, u, ins, s, strike, del, a (href), code, pre, tg-spoiler,
  span class="tg-spoiler", tg-emoji, blockquote; entities &lt; &gt; &amp; &quot; and numeric
  ones. Deviation on purpose: real Telegram keeps a stray ``&`` (or an unknown ``&name;``) as
  literal text, this fake rejects it unless ``strict_html_ampersand=False``, so code that forgets
  ``html.escape`` on user text fails here instead of garbling "&lt;" in production.
  ``MarkdownV2``/``Markdown`` text is accepted but not parsed.
* Flood control: ``fail_next(method, count, retry_after)`` injects 429s with
  ``parameters.retry_after``; ``enforce_chat_rate(per_second, burst)`` answers 429 when one chat
  gets messages faster than a token bucket allows. ``inject_error`` injects any other status
  (e.g. 502, 403) and ``set_delay`` slows a method down (for timeout tests).
  ``inject_raw_error`` answers with a body that is not JSON, like a reverse proxy's error page;
  ``{path}`` in it becomes the request path, token included, as some proxies echo it (so
  tests can prove the bot's logs redact what PTB logs about such a body). ``flood_chat``
  answers every send to one chat with 429 until ``unflood_chat``: a flood that lasts exactly
  as long as the test needs, with no timing in it.
* Holding: ``hold(method, chat_id)`` lets matching calls arrive (recorded, ``held=True``) and
  wait unanswered until ``release`` (they go on) or ``release(..., drop=True)`` (answered 502
  without being acted on: the request was lost, as when the bot was killed meanwhile). Tests
  use it to freeze a moment ("the reply is on its way, not delivered") without sleeping.
  Held and delayed calls are let go when the server stops.
* Callback queries: answering one Telegram no longer knows is refused with "query is too old
  and response timeout expired or query ID is invalid"; ``callback_query_max_age`` (seconds,
  None by default) makes queries that old unknown, like Telegram does after some minutes.
* Webhooks: setWebhook/deleteWebhook/getWebhookInfo keep state; while a webhook is set, pushed
  updates are POSTed to it (with ``X-Telegram-Bot-Api-Secret-Token``) and dropped on a 2xx
  answer. Any other answer keeps the update queued; it is POSTed again with the next push, or
  by itself after ``webhook_retry_delay`` seconds when that is set (Telegram retries on its
  own). ``post_webhook_update`` posts one update by hand. http:// URLs are accepted unless
  ``require_https_webhook=True`` (Telegram itself requires HTTPS).

Not modelled: media other than documents, getFile downloads, inline mode, payments, the global
30 messages/second limit, Markdown parsing, reply keyboards beyond echoing them.

Plumbing shared with the Discord fake (tests/fakes/server.py): starting and stopping, a
thread of its own, recording, the waits and holding calls.

Recording: ``server.calls`` holds a :class:`RecordedCall` per request (method, params, files,
monotonic time of arrival and of the answer, HTTP status, response JSON), including rejected
ones. ``delivered_at[update_id]`` is when an update was first handed to the bot (getUpdates
answer or webhook POST), ``pushed_at[update_id]`` when it was queued, ``confirmed_at`` when the
bot confirmed it (a getUpdates offset past it, or a 2xx webhook answer). ``sent_messages(chat_id)``
gives the bot's messages in a chat in their current state (after edits). Tests wait with
``await server.wait_for(...)``/``wait_until(...)`` (``wait_for_sync``/``wait_until_sync``
from other threads) instead of sleeping.

The Discord fake has the same shape: an async context manager plus ``run_in_thread``,
dataclass records, ``push_*`` helpers for inbound events, ``wait_for`` on recorded calls, and
error injection returning the platform's real error bodies.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import copy
import itertools
import json
import math
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

import aiohttp
from aiohttp import web

from tests.fakes.server import FakeServer, UploadedFile

__all__ = [
    "CallbackAnswer",
    "FakeTelegramAPI",
    "RecordedCall",
    "SentMessage",
    "UploadedFile",
]

MAX_MESSAGE_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_DATA_BYTES = 64
MAX_CALLBACK_ANSWER_LENGTH = 200
SECRET_TOKEN_HEADER = "X-Telegram-Bot-Api-Secret-Token"

# Form and multipart values arrive as strings; Telegram JSON-decodes all parameters except the
# ones that are plain strings by definition (otherwise text="123" would become a number).
_STRING_PARAMS = frozenset(
    {
        "action",
        "business_connection_id",
        "callback_query_id",
        "caption",
        "description",
        "document",
        "emoji",
        "inline_message_id",
        "ip_address",
        "language_code",
        "message_effect_id",
        "name",
        "parse_mode",
        "secret_token",
        "short_description",
        "text",
        "thumbnail",
        "url",
    }
)
_DEFAULT_ALLOWED_UPDATES = frozenset(
    {
        "message",
        "edited_message",
        "channel_post",
        "edited_channel_post",
        "business_connection",
        "business_message",
        "edited_business_message",
        "deleted_business_messages",
        "inline_query",
        "chosen_inline_result",
        "callback_query",
        "shipping_query",
        "pre_checkout_query",
        "purchased_paid_media",
        "poll",
        "poll_answer",
        "my_chat_member",
        "chat_join_request",
        "chat_boost",
        "removed_chat_boost",
    }
)
_CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
_COMMAND_RE = re.compile(r"[a-z0-9_]{1,32}")
_SECRET_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")
_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)
_QUERY_INVALID = "Bad Request: query is too old and response timeout expired or query ID is invalid"


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units: Telegram's unit for text limits and entity offsets."""
    return len(text.encode("utf-16-le")) // 2


# --------------------------------------------------------------------------- records


@dataclass
class RecordedCall:
    """One Bot API request as the server saw it; ``status`` is None while it is still pending."""

    method: str
    params: dict[str, Any]
    time: float
    files: dict[str, UploadedFile] = field(default_factory=dict)
    http_method: str = "POST"
    status: int | None = None
    response: dict[str, Any] | None = None
    answered: float | None = None  # monotonic time the answer was ready
    held: bool = False  # waited (or waits) for ``release``: see ``FakeTelegramAPI.hold``

    @property
    def ok(self) -> bool:
        """True once answered with 200."""
        return self.status == 200

    @property
    def description(self) -> str | None:
        """The error description Telegram would send, if any."""
        return None if self.response is None else self.response.get("description")


@dataclass(frozen=True)
class SentMessage:
    """Snapshot of a message the bot sent, in its current state (after edits)."""

    chat_id: int | str
    message_id: int
    method: str
    text: str | None
    raw_text: str | None
    parse_mode: str | None
    entities: list[dict[str, Any]]
    reply_markup: dict[str, Any] | None
    caption: str | None
    document: UploadedFile | None
    document_ref: str | None
    date: int
    edit_count: int
    deleted: bool


@dataclass(frozen=True)
class CallbackAnswer:
    """An answerCallbackQuery the bot made."""

    callback_query_id: str
    text: str | None
    show_alert: bool
    url: str | None
    cache_time: int | None


@dataclass
class _StoredMessage:
    """Server-side state of any message (the bot's or a pushed user message)."""

    chat: dict[str, Any]
    message_id: int
    date: int
    sender: dict[str, Any]
    by_bot: bool
    method: str
    text: str | None = None
    raw_text: str | None = None
    parse_mode: str | None = None
    entities: list[dict[str, Any]] = field(default_factory=list)
    reply_markup: dict[str, Any] | None = None
    caption: str | None = None
    caption_entities: list[dict[str, Any]] = field(default_factory=list)
    document: UploadedFile | None = None
    document_ref: str | None = None
    document_obj: dict[str, Any] | None = None
    edit_date: int | None = None
    edit_count: int = 0
    deleted: bool = False

    def to_api(self) -> dict[str, Any]:
        """The Message object Telegram returns; only inline keyboards are echoed back."""
        msg: dict[str, Any] = {
            "message_id": self.message_id,
            "from": copy.deepcopy(self.sender),
            "chat": copy.deepcopy(self.chat),
            "date": self.date,
        }
        if self.edit_date is not None:
            msg["edit_date"] = self.edit_date
        if self.text is not None:
            msg["text"] = self.text
            if self.entities:
                msg["entities"] = copy.deepcopy(self.entities)
        if self.document_obj is not None:
            msg["document"] = copy.deepcopy(self.document_obj)
        if self.caption is not None:
            msg["caption"] = self.caption
            if self.caption_entities:
                msg["caption_entities"] = copy.deepcopy(self.caption_entities)
        if self.reply_markup and "inline_keyboard" in self.reply_markup:
            msg["reply_markup"] = copy.deepcopy(self.reply_markup)
        return msg

    def snapshot(self) -> SentMessage:
        return SentMessage(
            chat_id=self.chat["id"],
            message_id=self.message_id,
            method=self.method,
            text=self.text,
            raw_text=self.raw_text,
            parse_mode=self.parse_mode,
            entities=copy.deepcopy(self.entities),
            reply_markup=copy.deepcopy(self.reply_markup),
            caption=self.caption,
            document=self.document,
            document_ref=self.document_ref,
            date=self.date,
            edit_count=self.edit_count,
            deleted=self.deleted,
        )


@dataclass
class _QueuedUpdate:
    update: dict[str, Any]
    delivered: bool = False

    @property
    def update_id(self) -> int:
        return int(self.update["update_id"])

    @property
    def kind(self) -> str:
        return next((k for k in self.update if k != "update_id"), "")


@dataclass
class _InjectedError:
    status: int
    description: str
    parameters: dict[str, Any] | None = None
    raw_body: str | None = None  # not JSON: sent as is (``{path}`` filled in)
    content_type: str = "text/html"


class _RawError(Exception):
    """An injected answer that is not a Bot API JSON envelope."""

    def __init__(self, status: int, body: str, content_type: str) -> None:
        super().__init__(body)
        self.status, self.body, self.content_type = status, body, content_type


@dataclass
class _ChatBucket:
    tokens: float
    last: float




class _ApiError(Exception):
    """Raised by method handlers; becomes Telegram's ``{"ok": false, ...}`` answer."""

    def __init__(
        self, status: int, description: str, parameters: dict[str, Any] | None = None
    ) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters

    def payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.status,
            "description": self.description,
        }
        if self.parameters:
            body["parameters"] = self.parameters
        return body


@dataclass(frozen=True)
class _Described:
    """A successful result that Telegram sends with a ``description`` (webhook methods)."""

    value: Any
    description: str


def _bad_request(reason: str) -> _ApiError:
    return _ApiError(400, f"Bad Request: {reason}")


def _flood(retry_after: int) -> _ApiError:
    return _ApiError(
        429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after}
    )


# --------------------------------------------------------------------------- HTML parse_mode


class _HTMLEntityError(Exception):
    pass


_HTML_TAG_ENTITY = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_HTML_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}


class _TelegramHTML(HTMLParser):
    """Checks Telegram's HTML subset and yields the visible text plus message entities.

    Built on html.parser for tokenising; the acceptance rules and error wording follow what the
    Bot API answers ("Unsupported start tag", "Unmatched end tag", ...).
    """

    def __init__(self, source: str, *, strict_ampersand: bool) -> None:
        super().__init__(convert_charrefs=False)
        self.source = source
        self.strict_ampersand = strict_ampersand
        self.parts: list[str] = []
        self.length16 = 0
        self.text_length = 0
        # (tag, attributes, UTF-16 offset, str offset) of each open tag
        self.stack: list[tuple[str, dict[str, str | None], int, int]] = []
        self.entities: list[dict[str, Any]] = []
        starts = [0]
        for match in re.finditer("\n", source):
            starts.append(match.end())
        self._line_starts = starts

    # -- helpers
    def _offset(self, extra: int = 0) -> int:
        line, col = self.getpos()
        index = self._line_starts[line - 1] + col + extra
        return len(self.source[:index].encode("utf-8"))

    def _append(self, text: str) -> None:
        self.parts.append(text)
        self.length16 += utf16_len(text)
        self.text_length += len(text)

    def _unsupported_at(self, char_index: int) -> _HTMLEntityError:
        rest = self.source[char_index + 1 :]
        name = re.match(r"[^\s>]*", rest)
        tag = (name.group(0) if name else "").lower()
        byte_offset = len(self.source[:char_index].encode("utf-8"))
        if len(tag) == len(rest):  # the tag name runs to the end of the text
            return _HTMLEntityError(f"Unclosed start tag at byte offset {byte_offset}")
        return _HTMLEntityError(f'Unsupported start tag "{tag}" at byte offset {byte_offset}')

    def _char_index(self) -> int:
        line, col = self.getpos()
        return self._line_starts[line - 1] + col

    # -- html.parser callbacks
    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _HTML_TAG_ENTITY:
            raise _HTMLEntityError(f'Unsupported start tag "{tag}" at byte offset {self._offset()}')
        attributes = {key.lower(): value for key, value in attrs}
        if tag == "span" and attributes.get("class") != "tg-spoiler":
            raise _HTMLEntityError(
                f'Tag "span" must have class "tg-spoiler" at byte offset {self._offset()}'
            )
        self.stack.append((tag, attributes, self.length16, self.text_length))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        raise _HTMLEntityError(f'Unsupported start tag "{tag}/" at byte offset {self._offset()}')

    def handle_endtag(self, tag: str) -> None:
        if not self.stack:
            raise _HTMLEntityError(f"Unexpected end tag at byte offset {self._offset()}")
        open_tag, attributes, start, text_start = self.stack.pop()
        if tag != open_tag:
            raise _HTMLEntityError(
                f'Unmatched end tag at byte offset {self._offset()}, expected "</{open_tag}>", '
                f'found "</{tag}>"'
            )
        length = self.length16 - start
        if length <= 0:
            return
        entity: dict[str, Any] = {
            "type": _HTML_TAG_ENTITY[open_tag],
            "offset": start,
            "length": length,
        }
        if open_tag == "a":
            entity["url"] = attributes.get("href") or "".join(self.parts)[text_start:]
        elif open_tag == "blockquote" and "expandable" in attributes:
            entity["type"] = "expandable_blockquote"
        elif open_tag == "tg-emoji":
            entity["custom_emoji_id"] = attributes.get("emoji-id") or ""
        elif open_tag == "code":
            language = (attributes.get("class") or "").removeprefix("language-")
            if language and self.stack and self.stack[-1][0] == "pre":
                self.stack[-1][1]["_language"] = language
                return
        elif open_tag == "pre" and attributes.get("_language"):
            entity["language"] = attributes["_language"]
        self.entities.append(entity)

    def handle_data(self, data: str) -> None:
        base = self._char_index()
        lt = data.find("<")
        if lt >= 0:
            raise self._unsupported_at(base + lt)
        amp = data.find("&")
        if amp >= 0 and self.strict_ampersand:
            byte_offset = len(self.source[: base + amp].encode("utf-8"))
            raise _HTMLEntityError(
                f'Unescaped "&" at byte offset {byte_offset}; use &amp; (fake is strict here)'
            )
        self._append(data)

    def handle_entityref(self, name: str) -> None:
        if name in _HTML_NAMED_ENTITIES:
            self._append(_HTML_NAMED_ENTITIES[name])
        elif self.strict_ampersand:
            raise _HTMLEntityError(
                f'Unsupported HTML entity "&{name};" at byte offset {self._offset()}'
            )
        else:
            self._append(f"&{name};")

    def handle_charref(self, name: str) -> None:
        try:
            code = int(name[1:], 16) if name[:1] in ("x", "X") else int(name)
            char = chr(code)
        except (ValueError, OverflowError):
            raise _HTMLEntityError(
                f"Invalid character reference at byte offset {self._offset()}"
            ) from None
        if code == 0:
            raise _HTMLEntityError(f"Invalid character reference at byte offset {self._offset()}")
        self._append(char)

    def _markup_error(self, *_: object) -> None:
        raise self._unsupported_at(self._char_index())

    handle_comment = _markup_error
    handle_decl = _markup_error
    handle_pi = _markup_error
    unknown_decl = _markup_error

    def finish(self) -> tuple[str, list[dict[str, Any]]]:
        self.close()
        if self.stack:
            raise _HTMLEntityError(
                f"Can't find end tag corresponding to start tag {self.stack[-1][0]}"
            )
        self.entities.sort(key=lambda e: (e["offset"], -e["length"]))
        return "".join(self.parts), self.entities


def parse_telegram_html(
    source: str, *, strict_ampersand: bool = True
) -> tuple[str, list[dict[str, Any]]]:
    """Return (visible text, entities) or raise ValueError with Telegram's parse error."""
    parser = _TelegramHTML(source, strict_ampersand=strict_ampersand)
    try:
        parser.feed(source)
        return parser.finish()
    except _HTMLEntityError as exc:
        raise ValueError(str(exc)) from None


# --------------------------------------------------------------------------- the server



class FakeTelegramAPI(FakeServer[RecordedCall]):
    """The fake Bot API server. See the module docstring for usage and what is modelled."""

    thread_name = "fake-telegram-api"

    def __init__(
        self,
        token: str,
        *,
        bot_username: str = "coach_test_bot",
        bot_first_name: str = "Coach Test Bot",
        max_poll_wait: float = 2.0,
        strict_html_ampersand: bool = True,
        require_https_webhook: bool = False,
        host: str = "127.0.0.1",
        webhook_retry_delay: float | None = None,
        callback_query_max_age: float | None = None,
    ) -> None:
        super().__init__(host)
        self.token = token
        self.max_poll_wait = max_poll_wait
        self.webhook_retry_delay = webhook_retry_delay
        self.callback_query_max_age = callback_query_max_age
        self.strict_html_ampersand = strict_html_ampersand
        self.require_https_webhook = require_https_webhook
        bot_id_part = token.split(":", 1)[0]
        self.bot_user: dict[str, Any] = {
            "id": int(bot_id_part) if bot_id_part.isdigit() else 123456789,
            "is_bot": True,
            "first_name": bot_first_name,
            "username": bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

        self.callback_answers: list[CallbackAnswer] = []
        self.chat_actions: list[tuple[int | str, str]] = []
        self.webhook_deliveries: list[tuple[int, int | None]] = []
        self.commands: dict[tuple[str, str], list[dict[str, str]]] = {}
        self.allowed_updates: frozenset[str] = _DEFAULT_ALLOWED_UPDATES
        self.webhook_url = ""
        self.webhook_secret: str | None = None
        self.webhook_last_error: tuple[int, str] | None = None
        self.logged_out = False

        self._queue: list[_QueuedUpdate] = []
        self.pushed_at: dict[int, float] = {}
        self.delivered_at: dict[int, float] = {}
        self.confirmed_at: dict[int, float] = {}
        self._next_update_id = 100_000
        self._poll_generation = 0
        self._chats: dict[int | str, dict[str, Any]] = {}
        self._users: dict[int, dict[str, Any]] = {}
        self._blocked: dict[int | str, str] = {}
        self._messages: dict[tuple[int | str, int], _StoredMessage] = {}
        self._message_order: list[_StoredMessage] = []
        self._next_message_id: dict[int | str, int] = collections.defaultdict(lambda: 1)
        self._callback_queries: dict[str, dict[str, Any]] = {}
        self._callback_pushed: dict[str, float] = {}  # query id -> monotonic time of the press
        self._callback_ids = itertools.count(4_242_000_000_000_000_001)
        self._file_ids = itertools.count(1)
        self._injected: dict[str, collections.deque[_InjectedError]] = collections.defaultdict(
            collections.deque
        )
        self._flooded: dict[int | str, int] = {}  # chat id -> retry_after of its endless 429s
        self._chat_rate: tuple[float, float, frozenset[str]] | None = None
        self._buckets: dict[int | str, _ChatBucket] = {}
        self._delivering = False
        self._methods: dict[str, Callable[[RecordedCall], Any]] = {
            "getme": self._get_me,
            "getupdates": self._get_updates,
            "deletewebhook": self._delete_webhook,
            "setwebhook": self._set_webhook,
            "getwebhookinfo": self._get_webhook_info,
            "setmycommands": self._set_my_commands,
            "getmycommands": self._get_my_commands,
            "deletemycommands": self._delete_my_commands,
            "sendmessage": self._send_message,
            "editmessagetext": self._edit_message_text,
            "editmessagereplymarkup": self._edit_message_reply_markup,
            "answercallbackquery": self._answer_callback_query,
            "sendchataction": self._send_chat_action,
            "senddocument": self._send_document,
            "sendphoto": lambda call: self._send_document(call, "photo", "sendPhoto"),
            "deletemessage": self._delete_message,
            "close": self._close,
            "logout": self._log_out,
        }

    # ----------------------------------------------------------------- lifecycle

    @property
    def base_url(self) -> str:
        """What to pass to ``ApplicationBuilder().base_url(...)``; PTB appends the token."""
        return f"{self.url}/bot"

    @property
    def base_file_url(self) -> str:
        """What to pass to ``ApplicationBuilder().base_file_url(...)``."""
        return f"{self.url}/file/bot"

    def method_url(self, method: str, token: str | None = None) -> str:
        """Full URL of one method, for raw HTTP tests."""
        return f"{self.base_url}{self.token if token is None else token}/{method}"

    def _routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_route("*", "/file/bot{token}/{path:.*}", self._handle_file)

    def _call_name(self, call: RecordedCall) -> str:
        return call.method.lower()

    def _name(self, name: str) -> str:
        return name.lower()  # Bot API method names are case-insensitive

    def _hold_target(self, call: RecordedCall) -> Any:
        return call.params.get("chat_id")

    # ----------------------------------------------------------------- test helpers: inbound

    def user(self, user_id: int, **fields: Any) -> dict[str, Any]:
        """The User object for ``user_id`` (created on first use; ``fields`` override)."""
        with self._lock:
            user = self._users.setdefault(
                user_id,
                {
                    "id": user_id,
                    "is_bot": False,
                    "first_name": f"User{user_id}",
                    "username": f"user{user_id}",
                    "language_code": "en",
                },
            )
            user.update(fields)
            return copy.deepcopy(user)

    def chat(self, chat_id: int, chat_type: str = "private", **fields: Any) -> dict[str, Any]:
        """The Chat object for ``chat_id`` (created on first use; ``fields`` override)."""
        with self._lock:
            chat = self._chats.get(chat_id)
            if chat is None:
                chat = {"id": chat_id, "type": chat_type}
                if chat_type == "private":
                    chat["first_name"] = f"User{chat_id}"
                    chat["username"] = f"user{chat_id}"
                else:
                    chat["title"] = f"Test {chat_type} {chat_id}"
                self._chats[chat_id] = chat
            chat.update(fields)
            return copy.deepcopy(chat)

    def push_update(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queue a raw Update dict; an update_id is assigned if missing. Never de-duplicates."""
        update = copy.deepcopy(update)
        with self._lock:
            if "update_id" not in update:
                update["update_id"] = self._next_update_id
            self._next_update_id = max(self._next_update_id, int(update["update_id"]) + 1)
            self._queue.append(_QueuedUpdate(update))
            self.pushed_at.setdefault(int(update["update_id"]), time.monotonic())
            webhook = self.webhook_url
        if webhook:
            self._schedule(self._deliver_webhooks())
        self._notify()
        return copy.deepcopy(update)

    def push_message(
        self,
        chat_id: int,
        text: str,
        *,
        user_id: int | None = None,
        chat_type: str = "private",
        update_id: int | None = None,
        entities: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """A user sends ``text`` in ``chat_id``; returns the queued update."""
        update = self.message_update(chat_id, text, user_id=user_id, chat_type=chat_type,
                                     entities=entities)
        if update_id is not None:
            update["update_id"] = update_id
        return self.push_update(update)

    def message_update(
        self,
        chat_id: int,
        text: str,
        *,
        user_id: int | None = None,
        chat_type: str = "private",
        entities: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """The Update (without an update_id) of a user sending ``text``, not queued: for
        tests that deliver updates themselves (several webhook processes)."""
        if user_id is None:
            user_id = chat_id if chat_type == "private" else 1000 + abs(chat_id)
        with self._lock:
            stored = _StoredMessage(
                chat=self.chat(chat_id, chat_type),
                message_id=self._take_message_id(chat_id),
                date=int(time.time()),
                sender=self.user(user_id),
                by_bot=False,
                method="push",
                text=text,
                entities=list(entities or []),
            )
            self._store(stored)
        return {"message": stored.to_api()}

    def push_command(
        self,
        chat_id: int,
        command: str,
        payload: str | None = None,
        *,
        user_id: int | None = None,
        chat_type: str = "private",
        mention_bot: bool = False,
        update_id: int | None = None,
    ) -> dict[str, Any]:
        """A user sends ``/command [payload]`` with the bot_command entity Telegram adds."""
        head = "/" + command.lstrip("/")
        if mention_bot:
            head += "@" + self.bot_user["username"]
        text = head if not payload else f"{head} {payload}"
        entity = {"type": "bot_command", "offset": 0, "length": utf16_len(head)}
        return self.push_message(
            chat_id,
            text,
            user_id=user_id,
            chat_type=chat_type,
            update_id=update_id,
            entities=[entity],
        )

    def push_callback(
        self,
        chat_id: int,
        data: str,
        *,
        message_id: int,
        user_id: int | None = None,
        update_id: int | None = None,
    ) -> dict[str, Any]:
        """A user presses an inline button with ``data`` under message ``message_id``."""
        update = self.callback_update(chat_id, data, message_id=message_id, user_id=user_id)
        if update_id is not None:
            update["update_id"] = update_id
        return self.push_update(update)

    def callback_update(
        self, chat_id: int, data: str, *, message_id: int, user_id: int | None = None
    ) -> dict[str, Any]:
        """The Update (without an update_id) of a button press, not queued."""
        with self._lock:
            stored = self._messages.get((chat_id, message_id))
            chat = self._chats.get(chat_id) or self.chat(chat_id)
            if user_id is None:
                user_id = chat_id if chat.get("type") == "private" else 1000 + abs(chat_id)
            if stored is not None and not stored.deleted:
                message = stored.to_api()
            else:
                # Telegram sends InaccessibleMessage (date 0) when the message is gone.
                message = {"chat": copy.deepcopy(chat), "message_id": message_id, "date": 0}
            query_id = str(next(self._callback_ids))
            query = {
                "id": query_id,
                "from": self.user(user_id),
                "message": message,
                "chat_instance": str(abs(hash(("chat_instance", chat_id)))),
                "data": data,
            }
            self._callback_queries[query_id] = query
            self._callback_pushed[query_id] = time.monotonic()
        return {"callback_query": query}

    async def post_webhook_update(
        self,
        url: str,
        update: dict[str, Any],
        secret_token: str | None = None,
    ) -> tuple[int, str]:
        """POST one update to a bot's webhook like Telegram does; returns (status, body)."""
        headers = {SECRET_TOKEN_HEADER: secret_token} if secret_token is not None else {}
        timeout = aiohttp.ClientTimeout(total=10)
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.post(url, json=update, headers=headers) as response,
        ):
            return response.status, await response.text()

    # ----------------------------------------------------------------- test helpers: faults

    def fail_next(self, method: str, count: int = 1, retry_after: int = 1) -> None:
        """The next ``count`` calls of ``method`` (or ``"*"``) get a 429 flood-control error."""
        for _ in range(count):
            self.inject_error(
                method,
                429,
                f"Too Many Requests: retry after {retry_after}",
                parameters={"retry_after": retry_after},
            )

    def inject_error(
        self,
        method: str,
        status: int,
        description: str,
        *,
        count: int = 1,
        parameters: dict[str, Any] | None = None,
    ) -> None:
        """The next ``count`` calls of ``method`` (or ``"*"``) get this error instead."""
        with self._lock:
            for _ in range(count):
                self._injected[method.lower()].append(
                    _InjectedError(status, description, parameters)
                )

    def inject_raw_error(
        self,
        method: str,
        status: int,
        body: str,
        *,
        count: int = 1,
        content_type: str = "text/html",
    ) -> None:
        """The next ``count`` calls of ``method`` (or ``"*"``) get ``body`` as is, not JSON, the
        way a reverse proxy answers when the Bot API behind it fails. ``{path}`` in ``body``
        becomes the request's path, ``/bot<token>/<method>``."""
        with self._lock:
            for _ in range(count):
                self._injected[method.lower()].append(
                    _InjectedError(status, "", None, raw_body=body, content_type=content_type)
                )

    def flood_chat(self, chat_id: int | str, retry_after: int = 1) -> None:
        """Every sendMessage/sendDocument to ``chat_id`` gets 429 with ``retry_after`` until
        :meth:`unflood_chat`: a flood exactly as long as a test needs it."""
        with self._lock:
            self._flooded[chat_id] = retry_after

    def unflood_chat(self, chat_id: int | str) -> None:
        with self._lock:
            self._flooded.pop(chat_id, None)

    def enforce_chat_rate(
        self,
        per_second: float | None = 1.0,
        burst: int = 1,
        methods: Iterable[str] = ("sendMessage", "sendDocument", "sendPhoto"),
    ) -> None:
        """Answer 429 when one chat gets sends faster than a token bucket allows.

        ``per_second=None`` turns the limit off. Rejected calls don't use up tokens.
        """
        with self._lock:
            self._buckets.clear()
            if per_second is None:
                self._chat_rate = None
            else:
                names = frozenset(m.lower() for m in methods)
                self._chat_rate = (float(per_second), float(burst), names)

    def block_chat(
        self, chat_id: int | str, description: str = "Forbidden: bot was blocked by the user"
    ) -> None:
        """Sends to ``chat_id`` get 403 (the user blocked the bot)."""
        with self._lock:
            self._blocked[chat_id] = description

    def unblock_chat(self, chat_id: int | str) -> None:
        with self._lock:
            self._blocked.pop(chat_id, None)

    # ----------------------------------------------------------------- test helpers: inspection

    def sent_messages(
        self, chat_id: int | str, *, include_deleted: bool = False
    ) -> list[SentMessage]:
        """Messages the bot sent to ``chat_id``, oldest first, in their current state."""
        with self._lock:
            return [
                m.snapshot()
                for m in self._message_order
                if m.by_bot and m.chat["id"] == chat_id and (include_deleted or not m.deleted)
            ]

    @property
    def pending_updates(self) -> int:
        """Updates queued and not yet confirmed via getUpdates offset (or webhook 2xx)."""
        with self._lock:
            return len(self._queue)

    def message(self, chat_id: int | str, message_id: int) -> SentMessage | None:
        """Any stored message (bot's or pushed) by id."""
        with self._lock:
            stored = self._messages.get((chat_id, message_id))
            return None if stored is None else stored.snapshot()

    # ----------------------------------------------------------------- internals: plumbing

    def _take_message_id(self, chat_id: int | str) -> int:
        message_id = self._next_message_id[chat_id]
        self._next_message_id[chat_id] = message_id + 1
        return message_id

    def _store(self, stored: _StoredMessage) -> None:
        self._messages[(stored.chat["id"], stored.message_id)] = stored
        self._message_order.append(stored)

    # ----------------------------------------------------------------- internals: HTTP

    async def _handle_file(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        return web.json_response(
            {"ok": False, "error_code": 404, "description": "Not Found"}, status=404
        )

    async def _handle(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        method = request.match_info["method"]
        try:
            params, files = await self._read_params(request)
            parse_error = None
        except _ApiError as exc:
            params, files, parse_error = {}, {}, exc
        except ConnectionError:  # the client died mid-request (kill -9): nobody to answer
            return web.Response(status=400)
        call = RecordedCall(
            method=method,
            params=params,
            time=time.monotonic(),
            files=files,
            http_method=request.method,
        )
        self._record(call)
        try:
            if token != self.token or self.logged_out:
                if ":" not in token:
                    raise _ApiError(404, "Not Found")
                raise _ApiError(401, "Unauthorized")
            if parse_error is not None:
                raise parse_error
            delay = self._delay(method)
            if delay:
                await self._until(lambda: False, delay)
            if not await self._wait_if_held(call):
                raise _ApiError(502, "Bad Gateway")
            self._raise_injected(method, request.path)
            handler = self._methods.get(method.lower())
            if handler is None:
                raise _ApiError(404, "Not Found: method not found")
            result = handler(call)
            if asyncio.iscoroutine(result):
                result = await result
            body: dict[str, Any] = {"ok": True, "result": result}
            if isinstance(result, _Described):
                body = {"ok": True, "result": result.value, "description": result.description}
            status = 200
        except _ApiError as exc:
            status, body = exc.status, exc.payload()
        except _RawError as exc:
            with self._lock:
                call.status, call.response, call.answered = exc.status, None, time.monotonic()
            self._notify()
            return web.Response(status=exc.status, text=exc.body, content_type=exc.content_type)
        with self._lock:
            call.status = status
            call.response = body
            call.answered = time.monotonic()
        self._notify()
        return web.json_response(body, status=status)

    def _raise_injected(self, method: str, path: str = "") -> None:
        with self._lock:
            for key in (method.lower(), "*"):
                queue = self._injected.get(key)
                if queue:
                    injected = queue.popleft()
                    if injected.raw_body is not None:
                        raise _RawError(injected.status,
                                        injected.raw_body.replace("{path}", path),
                                        injected.content_type)
                    raise _ApiError(injected.status, injected.description, injected.parameters)

    async def _read_params(
        self, request: web.Request
    ) -> tuple[dict[str, Any], dict[str, UploadedFile]]:
        raw: dict[str, Any] = dict(request.query)
        files: dict[str, UploadedFile] = {}
        if request.can_read_body:
            content_type = request.content_type
            if content_type == "application/json":
                try:
                    body = await request.json()
                except ValueError:
                    raise _bad_request("can't parse JSON encoded request") from None
                if not isinstance(body, dict):
                    raise _bad_request("JSON object expected")
                raw.update(body)
            elif content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
                form = await request.post()
                for key, value in form.items():
                    if isinstance(value, web.FileField):
                        files[key] = UploadedFile(
                            field=key,
                            filename=value.filename,
                            content_type=value.content_type,
                            data=value.file.read(),
                        )
                    else:
                        raw[key] = value if isinstance(value, str) else bytes(value).decode()
        return {key: _coerce(key, value) for key, value in raw.items()}, files

    # ----------------------------------------------------------------- internals: validation

    def _chat_for(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = params.get("chat_id")
        if chat_id is None or chat_id == "":
            raise _bad_request("chat_id is empty")
        if isinstance(chat_id, bool) or not isinstance(chat_id, int):
            raise _bad_request("chat not found")
        with self._lock:
            if chat_id in self._blocked:
                raise _ApiError(403, self._blocked[chat_id])
            if chat_id not in self._chats:
                return self.chat(chat_id, "private" if chat_id > 0 else "group")
            return copy.deepcopy(self._chats[chat_id])

    def _formatted(
        self, params: dict[str, Any], key: str, limit: int, too_long: str, *, required: bool
    ) -> tuple[str | None, list[dict[str, Any]], str | None]:
        """Validate text/caption + parse_mode; returns (visible text, entities, raw text)."""
        raw = params.get(key)
        if raw is None:
            if required:
                raise _bad_request("message text is empty")
            return None, [], None
        raw = str(raw)
        parse_mode = str(params.get("parse_mode") or "")
        entities_key = "entities" if key == "text" else f"{key}_entities"
        entities: list[dict[str, Any]] = list(params.get(entities_key) or [])
        visible = raw
        if parse_mode.lower() == "html":
            try:
                visible, entities = parse_telegram_html(
                    raw, strict_ampersand=self.strict_html_ampersand
                )
            except ValueError as exc:
                raise _bad_request(f"can't parse entities: {exc}") from None
        elif parse_mode and parse_mode.lower() not in ("markdown", "markdownv2"):
            raise _bad_request(f"unsupported parse_mode {parse_mode!r}")
        if required and not visible.strip():
            raise _bad_request("message text is empty")
        if utf16_len(visible) > limit:
            raise _bad_request(too_long)
        return visible, entities, raw

    @staticmethod
    def _check_markup(markup: Any) -> dict[str, Any] | None:
        if markup is None or markup == "":
            return None
        if not isinstance(markup, dict):
            raise _bad_request("can't parse reply keyboard markup JSON object")
        keyboard = markup.get("inline_keyboard")
        if keyboard is None:
            return markup
        if not isinstance(keyboard, list) or not all(isinstance(r, list) for r in keyboard):
            raise _bad_request("can't parse inline keyboard button: InlineKeyboardButton expected")
        for row in keyboard:
            for button in row:
                if not isinstance(button, dict) or "text" not in button:
                    raise _bad_request(
                        'can\'t parse inline keyboard button: Field "text" must be of type String'
                    )
                if "callback_data" in button:
                    data = str(button["callback_data"]).encode("utf-8")
                    if not 1 <= len(data) <= MAX_CALLBACK_DATA_BYTES:
                        raise _bad_request("BUTTON_DATA_INVALID")
                elif len(button) == 1:
                    raise _bad_request(
                        "can't parse inline keyboard button: "
                        "Text buttons are unallowed in the inline keyboard"
                    )
        return markup

    def _check_chat_rate(self, method: str, chat_id: int | str) -> None:
        """Token bucket per chat; consumes a token only when the call will succeed."""
        with self._lock:
            if chat_id in self._flooded:
                raise _flood(self._flooded[chat_id])
            if self._chat_rate is None:
                return
            per_second, burst, methods = self._chat_rate
            if method.lower() not in methods:
                return
            now = time.monotonic()
            bucket = self._buckets.setdefault(chat_id, _ChatBucket(tokens=burst, last=now))
            bucket.tokens = min(burst, bucket.tokens + (now - bucket.last) * per_second)
            bucket.last = now
            if bucket.tokens < 1.0:
                raise _flood(max(1, math.ceil((1.0 - bucket.tokens) / per_second)))
            bucket.tokens -= 1.0

    def _editable(self, params: dict[str, Any]) -> _StoredMessage | None:
        """The message an edit targets, or None for inline messages."""
        if params.get("inline_message_id"):
            return None
        chat = self._chat_for(params)
        message_id = params.get("message_id")
        if message_id is None:
            raise _bad_request("message identifier is not specified")
        stored = self._messages.get((chat["id"], message_id))
        if stored is None or stored.deleted:
            raise _bad_request("message to edit not found")
        if not stored.by_bot:
            raise _bad_request("message can't be edited")
        return stored

    # ----------------------------------------------------------------- Bot API methods

    def _get_me(self, call: RecordedCall) -> dict[str, Any]:
        return copy.deepcopy(self.bot_user)

    async def _get_updates(self, call: RecordedCall) -> list[dict[str, Any]]:
        params = call.params
        with self._lock:
            if self.webhook_url:
                raise _ApiError(
                    409,
                    "Conflict: can't use getUpdates method while webhook is active; "
                    "use deleteWebhook to delete the webhook first",
                )
        offset = int(params.get("offset") or 0)
        limit = int(params.get("limit") or 100)
        if not 1 <= limit <= 100:
            limit = 100
        wait = min(float(params.get("timeout") or 0), self.max_poll_wait)
        allowed = params.get("allowed_updates")
        loop = asyncio.get_running_loop()
        event = asyncio.Event()
        entry = (loop, event)
        with self._lock:
            if isinstance(allowed, list):
                self.allowed_updates = (
                    frozenset(str(a) for a in allowed) if allowed else _DEFAULT_ALLOWED_UPDATES
                )
            self._confirm(offset)
            self._poll_generation += 1
            generation = self._poll_generation
            self._listeners.add(entry)
        self._notify()  # terminates an older concurrent poll
        deadline = loop.time() + wait
        try:
            while True:
                event.clear()
                with self._lock:
                    if generation != self._poll_generation:
                        raise _ApiError(
                            409,
                            "Conflict: terminated by other getUpdates request; make sure that "
                            "only one bot instance is running",
                        )
                    batch = self._deliverable(limit)
                    if batch or self._closing:
                        return batch
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return []
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), remaining)
        finally:
            with self._lock:
                self._listeners.discard(entry)

    def _confirm(self, offset: int) -> None:
        before = self._queue
        if offset < 0:
            self._queue = self._queue[offset:]
            for item in self._queue:
                item.delivered = True
        elif offset:
            self._queue = [q for q in self._queue if not (q.delivered and q.update_id < offset)]
        now = time.monotonic()
        kept = {id(q) for q in self._queue}
        for item in before:
            if id(item) not in kept:
                self.confirmed_at.setdefault(item.update_id, now)

    def _deliverable(self, limit: int) -> list[dict[str, Any]]:
        self._queue = [q for q in self._queue if q.kind in self.allowed_updates]
        batch = self._queue[:limit]
        now = time.monotonic()
        for item in batch:
            item.delivered = True
            self.delivered_at.setdefault(item.update_id, now)
        return [copy.deepcopy(item.update) for item in batch]

    def _delete_webhook(self, call: RecordedCall) -> _Described:
        with self._lock:
            had = bool(self.webhook_url)
            self.webhook_url = ""
            self.webhook_secret = None
            if call.params.get("drop_pending_updates"):
                self._queue.clear()
        return _Described(True, "Webhook was deleted" if had else "Webhook is already deleted")

    def _set_webhook(self, call: RecordedCall) -> _Described:
        params = call.params
        url = str(params.get("url") or "")
        secret = params.get("secret_token")
        if url and self.require_https_webhook and not url.startswith("https://"):
            raise _bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        if url and not re.match(r"https?://", url):
            raise _bad_request(
                "bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443"
            )
        if secret is not None and not _SECRET_TOKEN_RE.fullmatch(str(secret)):
            raise _bad_request("secret token contains unallowed characters")
        with self._lock:
            if params.get("drop_pending_updates"):
                self._queue.clear()
            if isinstance(params.get("allowed_updates"), list):
                allowed = params["allowed_updates"]
                self.allowed_updates = frozenset(allowed) if allowed else _DEFAULT_ALLOWED_UPDATES
            if not url:
                had = bool(self.webhook_url)
                self.webhook_url, self.webhook_secret = "", None
                return _Described(
                    True, "Webhook was deleted" if had else "Webhook is already deleted"
                )
            already = url == self.webhook_url and secret == self.webhook_secret
            self.webhook_url = url
            self.webhook_secret = None if secret is None else str(secret)
            pending = bool(self._queue)
        if pending:
            self._schedule(self._deliver_webhooks())
        return _Described(True, "Webhook is already set" if already else "Webhook was set")

    def _get_webhook_info(self, call: RecordedCall) -> dict[str, Any]:
        with self._lock:
            info: dict[str, Any] = {
                "url": self.webhook_url,
                "has_custom_certificate": False,
                "pending_update_count": len(self._queue),
            }
            if self.webhook_url:
                info["max_connections"] = 40
                info["ip_address"] = "127.0.0.1"
                if self.allowed_updates != _DEFAULT_ALLOWED_UPDATES:
                    info["allowed_updates"] = sorted(self.allowed_updates)
                if self.webhook_last_error:
                    info["last_error_date"], info["last_error_message"] = self.webhook_last_error
        return info

    async def _deliver_webhooks(self) -> None:
        """POST queued updates to the webhook in order; a 2xx answer confirms an update.

        One loop runs at a time. A failed update stays queued and is retried first the next
        time an update is pushed (Telegram retries on its own schedule).
        """
        with self._lock:
            if self._delivering:
                return
            self._delivering = True
        while True:
            with self._lock:
                url, secret = self.webhook_url, self.webhook_secret
                item = next((q for q in self._queue if not q.delivered), None)
                if not url or item is None or self._closing:
                    self._delivering = False
                    return
                item.delivered = True
                self.delivered_at.setdefault(item.update_id, time.monotonic())
            status: int | None
            try:
                status, _ = await self.post_webhook_update(url, item.update, secret)
            except (aiohttp.ClientError, TimeoutError) as exc:
                status = None
                error = f"Connection failed: {exc.__class__.__name__}"
            except BaseException:
                with self._lock:
                    item.delivered = False
                    self._delivering = False
                raise
            else:
                error = f"Wrong response from the webhook: {status}"
            with self._lock:
                self.webhook_deliveries.append((item.update_id, status))
                if status is not None and 200 <= status < 300:
                    self._queue = [q for q in self._queue if q is not item]
                    self.confirmed_at.setdefault(item.update_id, time.monotonic())
                else:
                    item.delivered = False
                    self._delivering = False
                    self.webhook_last_error = (int(time.time()), error)
                    retry = self.webhook_retry_delay
                    self._notify()
                    if retry is not None and not self._closing:
                        # Telegram retries on its own; tests can also call push_update again
                        asyncio.get_running_loop().call_later(
                            retry, lambda: self._schedule(self._deliver_webhooks())
                        )
                    return
            self._notify()

    @staticmethod
    def _commands_key(params: dict[str, Any]) -> tuple[str, str]:
        scope = params.get("scope") or {"type": "default"}
        return json.dumps(scope, sort_keys=True), str(params.get("language_code") or "")

    def _set_my_commands(self, call: RecordedCall) -> bool:
        commands = call.params.get("commands") or []
        if not isinstance(commands, list):
            raise _bad_request("can't parse commands JSON object")
        if len(commands) > 100:
            raise _bad_request("BOT_COMMANDS_TOO_MUCH")
        clean: list[dict[str, str]] = []
        for item in commands:
            if not isinstance(item, dict) or "command" not in item:
                raise _bad_request("can't parse BotCommand: Can't find field \"command\"")
            if "description" not in item:
                raise _bad_request("can't parse BotCommand: Can't find field \"description\"")
            command, description = str(item["command"]), str(item["description"])
            if not _COMMAND_RE.fullmatch(command):
                raise _bad_request("BOT_COMMAND_INVALID")
            if not description.strip():
                raise _bad_request("command description must be non-empty")
            if len(description) > 256:
                raise _bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
            clean.append({"command": command, "description": description})
        with self._lock:
            self.commands[self._commands_key(call.params)] = clean
        return True

    def _get_my_commands(self, call: RecordedCall) -> list[dict[str, str]]:
        with self._lock:
            return copy.deepcopy(self.commands.get(self._commands_key(call.params), []))

    def _delete_my_commands(self, call: RecordedCall) -> bool:
        with self._lock:
            self.commands.pop(self._commands_key(call.params), None)
        return True

    def _send_message(self, call: RecordedCall) -> dict[str, Any]:
        params = call.params
        chat = self._chat_for(params)
        markup = self._check_markup(params.get("reply_markup"))
        text, entities, raw = self._formatted(
            params, "text", MAX_MESSAGE_LENGTH, "message is too long", required=True
        )
        self._check_chat_rate(call.method, chat["id"])
        return self._bot_message(chat, "sendMessage", text=text, raw_text=raw,
                                 parse_mode=params.get("parse_mode"), entities=entities,
                                 reply_markup=markup)

    def _edit_message_text(self, call: RecordedCall) -> dict[str, Any] | bool:
        params = call.params
        markup = self._check_markup(params.get("reply_markup"))
        text, entities, raw = self._formatted(
            params, "text", MAX_MESSAGE_LENGTH, "message is too long", required=True
        )
        with self._lock:
            stored = self._editable(params)
            if stored is None:
                return True
            if stored.text is None:
                raise _bad_request("there is no text in the message to edit")
            if (text, entities, markup) == (stored.text, stored.entities, stored.reply_markup):
                raise _ApiError(400, _NOT_MODIFIED)
            # Like Telegram: an edit without reply_markup removes the inline keyboard.
            stored.text, stored.entities, stored.raw_text = text, entities, raw
            stored.parse_mode = params.get("parse_mode")
            stored.reply_markup = markup
            stored.edit_date = int(time.time())
            stored.edit_count += 1
            return stored.to_api()

    def _edit_message_reply_markup(self, call: RecordedCall) -> dict[str, Any] | bool:
        params = call.params
        markup = self._check_markup(params.get("reply_markup"))
        with self._lock:
            stored = self._editable(params)
            if stored is None:
                return True
            if markup == stored.reply_markup:
                raise _ApiError(400, _NOT_MODIFIED)
            stored.reply_markup = markup
            stored.edit_date = int(time.time())
            stored.edit_count += 1
            return stored.to_api()

    def _answer_callback_query(self, call: RecordedCall) -> bool:
        params = call.params
        query_id = str(params.get("callback_query_id") or "")
        text = params.get("text")
        if text is not None and len(str(text)) > MAX_CALLBACK_ANSWER_LENGTH:
            raise _bad_request("MESSAGE_TOO_LONG")
        with self._lock:
            if query_id not in self._callback_queries:
                raise _ApiError(400, _QUERY_INVALID)
            age = time.monotonic() - self._callback_pushed.get(query_id, time.monotonic())
            if self.callback_query_max_age is not None and age > self.callback_query_max_age:
                raise _ApiError(400, _QUERY_INVALID)
            self.callback_answers.append(
                CallbackAnswer(
                    callback_query_id=query_id,
                    text=None if text is None else str(text),
                    show_alert=bool(params.get("show_alert")),
                    url=params.get("url"),
                    cache_time=params.get("cache_time"),
                )
            )
        return True

    def _send_chat_action(self, call: RecordedCall) -> bool:
        chat = self._chat_for(call.params)
        action = call.params.get("action")
        if action not in _CHAT_ACTIONS:
            raise _bad_request("wrong parameter action in request")
        with self._lock:
            self.chat_actions.append((chat["id"], str(action)))
        return True

    def _send_document(self, call: RecordedCall, field: str = "document",
                       method: str = "sendDocument") -> dict[str, Any]:
        """sendDocument, and sendPhoto (`field` "photo"): kept as the message's document."""
        params = call.params
        chat = self._chat_for(params)
        markup = self._check_markup(params.get("reply_markup"))
        ref = params.get(field)
        upload: UploadedFile | None = call.files.get(field)
        if isinstance(ref, str) and ref.startswith("attach://"):
            upload = call.files.get(ref.removeprefix("attach://"))
            ref = None
        if upload is None and not ref:
            raise _bad_request("there is no document in the request")
        if upload is not None and not upload.data:
            raise _bad_request("file must be non-empty")
        caption, caption_entities, _ = self._formatted(
            params, "caption", MAX_CAPTION_LENGTH, "message caption is too long", required=False
        )
        self._check_chat_rate(call.method, chat["id"])
        number = next(self._file_ids)
        document: dict[str, Any] = {
            "file_id": f"BQACAgFAKE{number:06d}",
            "file_unique_id": f"AgADFAKE{number:06d}",
        }
        if upload is not None:
            if upload.filename:
                document["file_name"] = upload.filename
            if upload.content_type:
                document["mime_type"] = upload.content_type
            document["file_size"] = len(upload.data)
        return self._bot_message(chat, method, caption=caption,
                                 caption_entities=caption_entities,
                                 parse_mode=params.get("parse_mode"), reply_markup=markup,
                                 document=upload, document_ref=None if ref is None else str(ref),
                                 document_obj=document)

    def _bot_message(self, chat: dict[str, Any], method: str, **fields: Any) -> dict[str, Any]:
        """Store a message the bot sent to ``chat`` now; its Message object."""
        with self._lock:
            stored = _StoredMessage(chat=chat, message_id=self._take_message_id(chat["id"]),
                                    date=int(time.time()), sender=copy.deepcopy(self.bot_user),
                                    by_bot=True, method=method, **fields)
            self._store(stored)
            return stored.to_api()

    def _delete_message(self, call: RecordedCall) -> bool:
        chat = self._chat_for(call.params)
        with self._lock:
            stored = self._messages.get((chat["id"], call.params.get("message_id")))
            if stored is None or stored.deleted:
                raise _bad_request("message to delete not found")
            stored.deleted = True
        return True

    def _close(self, call: RecordedCall) -> bool:
        return True

    def _log_out(self, call: RecordedCall) -> bool:
        with self._lock:
            self.logged_out = True
        return True


def _coerce(key: str, value: Any) -> Any:
    """Decode a form value like Telegram: JSON for everything except string parameters."""
    if not isinstance(value, str) or key in _STRING_PARAMS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value
