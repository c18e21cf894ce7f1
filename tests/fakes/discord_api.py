"""A fake Discord (REST API v10 and gateway) for tests: real HTTP and websockets on 127.0.0.1.

Why: the Discord adapter is built on discord.py. Mocking discord.py would test our assumptions
about discord.py, not discord.py, and `dpytest` cannot drive interactions (slash commands,
buttons). Instead a real ``discord.Client`` is pointed at this server (``discord.http.Route.BASE``
and ``discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY``): it logs in over REST, connects to the
gateway websocket, identifies, gets READY, and then receives the events a test scripts. Every
REST call and every gateway frame is recorded so tests can assert on what the bot really did.

Quick start (async test, same event loop)::

    from tests.fakes.discord_api import FakeDiscordAPI

    TOKEN = "MTAwMDAwMDAwMDAwMDAwMDAx.Gfake0.fake-token-for-tests-only_abcdefghijklmn"

    async with FakeDiscordAPI(TOKEN) as server:
        discord.http.Route.BASE = server.api_base            # "http://127.0.0.1:<port>/api/v10"
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(server.gateway_url)
        ...  # start a client with TOKEN
        await server.wait_for("gateway:ready")
        server.push_dm(42, "hello")                           # user 42 writes in the bot's DM
        [call] = await server.wait_for("create_message")      # wakes on the call, no sleeps
        assert server.messages(server.dm_channel_id(42))[-1].content == "..."

Subprocess tests (the bot runs as ``coach discord`` in another process) start the server in a
background thread; the helpers are thread-safe::

    server = FakeDiscordAPI(TOKEN)
    port, stop = server.run_in_thread()
    env["DISCORD_API_BASE_URL"], env["DISCORD_GATEWAY_URL"] = server.api_base, server.gateway_url
    ...
    server.wait_for_sync("gateway:ready", timeout=20)
    stop()

What it models:

* REST under ``/api/v<n>``: ``GET /gateway``, ``GET /gateway/bot`` (with a configurable
  recommended shard count), ``GET /users/@me``, ``GET /oauth2/applications/@me``, command sync
  (``PUT``/``GET /applications/{id}/commands`` and ``.../guilds/{gid}/commands``),
  ``POST /users/@me/channels`` (open a DM), channel messages (``POST``, ``PATCH``, ``DELETE``;
  JSON or multipart with ``payload_json`` and ``files[n]``), ``POST /channels/{id}/typing``,
  interaction callbacks (``POST /interactions/{id}/{token}/callback``, types 4, 5, 6 and 7, with
  and without ``with_response``) and the interaction webhook (``POST /webhooks/{app}/{token}``
  follow-ups, ``GET``/``PATCH``/``DELETE .../messages/{id|@original}``).
* Answers are JSON with the exact content type ``application/json`` (discord.py compares it
  literally: with ``; charset=utf-8`` it would treat the body as text).
* Auth: bot routes need ``Authorization: Bot <token>`` (otherwise ``401: Unauthorized``);
  interaction routes need a known interaction token (``10062 Unknown interaction``,
  ``10015 Unknown Webhook``).
* Interaction rules: one acknowledgement per interaction (``40060 Interaction has already been
  acknowledged.``), within ``ack_deadline`` seconds (3 s like Discord, else ``10062``); types 6
  and 7 only for components; follow-ups only after the acknowledgement; the first follow-up
  after a "thinking" defer replaces the loading message, as Discord does.
* Message validation with Discord's error bodies (``50035 Invalid Form Body``): content over
  2,000 characters, more than 5 action rows, more than 5 buttons in a row, button labels over 80,
  custom ids over 100 or repeated, select menus over 25 options, link buttons without a URL;
  ``50006 Cannot send an empty message``; ``10003 Unknown Channel``; editing another user's
  message (``50005``).
* Gateway at ``/gateway-ws``: HELLO (op 10), IDENTIFY (op 2: token checked, close 4004; a
  privileged intent closes with 4014 unless ``privileged_intents`` allows it), READY (op 0 with
  user, session_id, resume_gateway_url, application {id, flags}, guilds [], shard), heartbeats
  (op 1 → op 11), RESUME (op 6 → RESUMED and the events queued meanwhile). Events are routed
  like Discord routes them: ``(guild_id >> 22) % num_shards``, and DMs to shard 0. Events pushed
  while no session for their shard is connected wait until one is.
* Faults: ``inject_error(name, status, body)``, ``rate_limit_next(name, retry_after)`` (a 429
  with Discord's body and headers, which discord.py waits out and retries), ``set_delay(name, s)``
  (a slow route; a request still waiting when the server stops is answered 503 at once) and
  ``disconnect_gateway(code)``.

Inbound helpers build the payloads discord.py reads: ``push_dm(user_id, content)`` (a
MESSAGE_CREATE in the user's DM with the bot), ``push_slash(user_id, name, options, guild_id=...,
channel_id=...)`` (an INTERACTION_CREATE for a command that was synced: pushing an unsynced
command raises), ``push_button(user_id, custom_id, message_id)`` and ``push_select(...)`` (a
component press on a stored message; a custom id that is not on the message is added to the
payload's copy, which is how tests forge one) and ``push_event(t, d)`` for anything else.

Recording: ``server.calls`` holds a :class:`RecordedCall` per REST request (``name`` such as
``create_message``, ``interaction_callback``, ``edit_webhook_message``) and per gateway frame
(``gateway:identify``, ``gateway:ready``, ``gateway:dispatch``, ``gateway:heartbeat``, ...).
``messages(channel_id)`` gives the messages of a channel in their current state (after edits);
``interaction(id)`` what happened to one interaction. Tests wait with ``await wait_for(...)`` /
``wait_until(...)`` (or ``wait_for_sync`` from another thread) instead of sleeping; both wait for
answered calls, or with ``include_pending=True`` for calls that have arrived (a delayed one,
say). ``hold(name, channel_id)`` keeps matching requests unanswered until ``release`` (or
``release(..., drop=True)``: 502, not acted on). The plumbing (start and stop, a thread of its
own, recording, waits, holds) is shared with the Telegram fake: tests/fakes/server.py.

Not modelled: guild state (GUILD_CREATE, members, roles, permissions), embeds beyond echoing,
modals, autocomplete, voice, real rate-limit buckets, zlib/zstd transport compression (frames are
sent as text, which discord.py accepts), message content redaction for missing intents.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import datetime as dt
import itertools
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from tests.fakes.server import FakeServer, UploadedFile

__all__ = ["FakeDiscordAPI", "InteractionRecord", "RecordedCall", "StoredMessage", "UploadedFile"]

DISCORD_EPOCH_MS = 1_420_070_400_000
MAX_CONTENT = 2000
MAX_ROWS = 5
MAX_ROW_BUTTONS = 5
MAX_BUTTON_LABEL = 80
MAX_CUSTOM_ID = 100
MAX_OPTIONS = 25
EPHEMERAL = 1 << 6
LOADING = 1 << 7
PRIVILEGED_INTENTS = (1 << 1) | (1 << 8) | (1 << 15)  # members, presences, message content
DEFAULT_PERMISSIONS = "2248473465835073"
ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024

# interaction types and callback types
PING, APPLICATION_COMMAND, MESSAGE_COMPONENT = 1, 2, 3
CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE, DEFERRED_UPDATE, UPDATE_MESSAGE = 4, 5, 6, 7
# interaction context types
GUILD_CONTEXT, BOT_DM_CONTEXT, PRIVATE_CHANNEL_CONTEXT = 0, 1, 2

_ROUTES: tuple[tuple[str, str, str], ...] = (
    ("GET", "/gateway", "get_gateway"),
    ("GET", "/gateway/bot", "get_gateway_bot"),
    ("GET", "/users/@me", "get_me"),
    ("GET", "/oauth2/applications/@me", "get_application"),
    ("GET", "/applications/@me", "get_application"),
    ("PUT", "/applications/{app_id}/commands", "sync_global_commands"),
    ("GET", "/applications/{app_id}/commands", "get_global_commands"),
    ("PUT", "/applications/{app_id}/guilds/{guild_id}/commands", "sync_guild_commands"),
    ("GET", "/applications/{app_id}/guilds/{guild_id}/commands", "get_guild_commands"),
    ("POST", "/users/@me/channels", "create_dm"),
    ("POST", "/channels/{channel_id}/messages", "create_message"),
    ("PATCH", "/channels/{channel_id}/messages/{message_id}", "edit_message"),
    ("DELETE", "/channels/{channel_id}/messages/{message_id}", "delete_message"),
    ("POST", "/channels/{channel_id}/typing", "typing"),
    ("POST", "/interactions/{interaction_id}/{token}/callback", "interaction_callback"),
    ("POST", "/webhooks/{app_id}/{token}", "create_followup"),
    ("GET", "/webhooks/{app_id}/{token}/messages/{message_id}", "get_webhook_message"),
    ("PATCH", "/webhooks/{app_id}/{token}/messages/{message_id}", "edit_webhook_message"),
    ("DELETE", "/webhooks/{app_id}/{token}/messages/{message_id}", "delete_webhook_message"),
)
# Routes that need the bot token; interaction routes are authorised by their own token.
_WEBHOOK_ROUTES = frozenset({"interaction_callback", "create_followup", "get_webhook_message",
                             "edit_webhook_message", "delete_webhook_message"})


def _now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


def _json(status: int, body: Any) -> web.Response:
    """JSON with exactly ``application/json``: discord.py compares the header literally."""
    return web.Response(status=status, body=json.dumps(body).encode(),
                        headers={"Content-Type": "application/json"})


# --------------------------------------------------------------------------- records


@dataclass
class RecordedCall:
    """One REST request or gateway frame; ``status`` is None while a request is pending.

    ``json`` is the JSON body (or a multipart request's ``payload_json``; for gateway records
    the frame's ``d``), ``params`` the path parameters, ``query`` the query string.
    """

    name: str
    method: str
    path: str
    time: float
    params: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    json: Any = None
    files: list[UploadedFile] = field(default_factory=list)
    status: int | None = None
    response: Any = None
    held: bool = False  # waited (or waits) for ``release``: see ``FakeServer.hold``

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def event(self) -> str | None:
        """The dispatch name (``t``) of a ``gateway:dispatch`` record."""
        return self.query.get("t")


@dataclass
class StoredMessage:
    """A message in the fake's state: the bot's or a pushed user message, after edits."""

    id: int
    channel_id: int
    author: dict[str, Any]
    content: str = ""
    components: list[dict[str, Any]] = field(default_factory=list)
    embeds: list[dict[str, Any]] = field(default_factory=list)
    attachments: list[UploadedFile] = field(default_factory=list)
    flags: int = 0
    guild_id: int | None = None
    allowed_mentions: dict[str, Any] | None = None
    interaction_id: int | None = None
    timestamp: str = field(default_factory=_now_iso)
    edited_timestamp: str | None = None
    edits: int = 0
    deleted: bool = False
    by_bot: bool = True

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & EPHEMERAL)

    @property
    def loading(self) -> bool:
        return bool(self.flags & LOADING)

    def custom_ids(self) -> list[str]:
        return [c["custom_id"] for c in _walk(self.components) if "custom_id" in c]

    def buttons(self) -> list[dict[str, Any]]:
        """Every button (type 2) on the message, in order."""
        return [c for c in _walk(self.components) if c.get("type") == 2]

    def to_api(self, application_id: int | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": str(self.id),
            "channel_id": str(self.channel_id),
            "type": 0,
            "author": copy.deepcopy(self.author),
            "content": self.content,
            "timestamp": self.timestamp,
            "edited_timestamp": self.edited_timestamp,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [
                {"id": str(index), "filename": f.filename or "file", "size": len(f.data),
                 "url": f"https://cdn.invalid/attachments/{self.id}/{index}",
                 "proxy_url": f"https://media.invalid/attachments/{self.id}/{index}",
                 "content_type": f.content_type or "application/octet-stream"}
                for index, f in enumerate(self.attachments)
            ],
            "embeds": copy.deepcopy(self.embeds),
            "pinned": False,
            "flags": self.flags,
            "components": copy.deepcopy(self.components),
        }
        if self.guild_id is not None:
            data["guild_id"] = str(self.guild_id)
        if self.interaction_id is not None and application_id is not None:
            data["application_id"] = str(application_id)
            data["webhook_id"] = str(application_id)
        return data


@dataclass
class InteractionRecord:
    """One pushed interaction and what the bot did with it."""

    id: int
    token: str
    type: int
    user_id: int
    channel_id: int
    guild_id: int | None
    payload: dict[str, Any]
    dispatched_at: float | None = None  # monotonic time the INTERACTION_CREATE was sent
    callback_type: int | None = None
    callback_at: float | None = None
    callback_flags: int = 0
    original_message_id: int | None = None
    followups: list[int] = field(default_factory=list)

    @property
    def acknowledged(self) -> bool:
        return self.callback_type is not None

    @property
    def ack_seconds(self) -> float | None:
        """Seconds from the INTERACTION_CREATE frame to the acknowledgement."""
        if self.dispatched_at is None or self.callback_at is None:
            return None
        return self.callback_at - self.dispatched_at


class _ApiError(Exception):
    """Raised by handlers; becomes Discord's ``{"message", "code"}`` error body."""

    def __init__(self, status: int, code: int, message: str,
                 errors: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.errors = status, code, message, errors

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.errors:
            body["errors"] = self.errors
        return body


def _form_error(path: str, code: str, message: str) -> _ApiError:
    """Discord's nested ``errors`` object for one invalid field (path like ``a.0.b``)."""
    errors: dict[str, Any] = {"_errors": [{"code": code, "message": message}]}
    for key in reversed(path.split(".")):
        errors = {key: errors}
    return _ApiError(400, 50035, "Invalid Form Body", errors)


def _walk(components: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for component in components or []:
        found.append(component)
        found += _walk(component.get("components") or [])
    return found


@dataclass
class _Connection:
    """One gateway websocket."""

    ws: web.WebSocketResponse
    queue: asyncio.Queue[tuple[str, dict[str, Any]] | None]
    session_id: str | None = None
    shard: tuple[int, int] = (0, 1)
    ready: bool = False
    sequence: int = 0
    identified_at: float = 0.0

    def serves(self, guild_id: int | None) -> bool:
        shard_id, count = self.shard
        target = 0 if guild_id is None else (guild_id >> 22) % count
        return self.ready and shard_id == target


@dataclass
class _Injected:
    status: int
    body: Any
    headers: dict[str, str]



class FakeDiscordAPI(FakeServer[RecordedCall]):
    """The fake Discord. See the module docstring for usage and what is modelled."""

    thread_name = "fake-discord-api"
    default_timeout = 5.0
    summary_length = 30

    def __init__(
        self,
        token: str,
        *,
        application_id: int = 1_100_000_000_000_000_001,
        bot_id: int | None = None,
        bot_name: str = "Coach Test Bot",
        recommended_shards: int = 1,
        heartbeat_interval_ms: int = 41_250,
        ack_deadline: float = 3.0,
        privileged_intents: int = 0,
        host: str = "127.0.0.1",
    ) -> None:
        super().__init__(host)
        self.token = token
        self.application_id = application_id
        self.bot_id = bot_id or application_id
        self.recommended_shards = recommended_shards
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.ack_deadline = ack_deadline
        self.privileged_intents = privileged_intents
        self.bot_user: dict[str, Any] = {
            "id": str(self.bot_id), "username": bot_name.lower().replace(" ", "_"),
            "global_name": bot_name, "discriminator": "0", "avatar": None, "bot": True,
            "public_flags": 0, "flags": 0, "verified": True, "mfa_enabled": False,
        }

        self.identifies: list[dict[str, Any]] = []
        self.commands: dict[int | None, list[dict[str, Any]]] = {}  # guild id (None: global)
        self._messages: dict[int, StoredMessage] = {}
        self._order: list[StoredMessage] = []
        self._interactions: dict[int, InteractionRecord] = {}
        self._tokens: dict[str, int] = {}
        self._users: dict[int, dict[str, Any]] = {}
        self._dm_channels: dict[int, int] = {}  # user id -> channel id
        self._channels: dict[int, dict[str, Any]] = {}
        self._connections: list[_Connection] = []
        self._sessions: dict[str, _Connection] = {}
        self._pending: list[tuple[str, dict[str, Any], int | None]] = []
        self._ids = itertools.count()
        self._last_id = 0
        self._injected: dict[str, list[_Injected]] = {}

    # ----------------------------------------------------------------- lifecycle

    @property
    def api_base(self) -> str:
        """What ``discord.http.Route.BASE`` (``DISCORD_API_BASE_URL``) should be."""
        return f"{self.url}/api/v10"

    @property
    def gateway_url(self) -> str:
        """What ``DiscordWebSocket.DEFAULT_GATEWAY`` (``DISCORD_GATEWAY_URL``) should be."""
        return f"ws://{self.host}:{self.port}/gateway-ws"

    def _routes(self, app: web.Application) -> None:
        app.router.add_get("/gateway-ws", self._gateway)
        for method, path, name in _ROUTES:
            app.router.add_route(method, "/api/v{version:\\d+}" + path, self._endpoint(name))
        app.router.add_route("*", "/{tail:.*}", self._not_found)

    async def _before_stop(self) -> None:
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            conn.queue.put_nowait(None)
            with contextlib.suppress(Exception):
                await conn.ws.close(code=1001)

    def _call_name(self, call: RecordedCall) -> str:
        return call.name

    def _hold_target(self, call: RecordedCall) -> Any:
        channel = call.params.get("channel_id", "")
        return int(channel) if channel.isdigit() else None

    # ----------------------------------------------------------------- objects

    def snowflake(self) -> int:
        """A new, strictly increasing snowflake (its timestamp part is now)."""
        with self._lock:
            stamp = (int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22
            value = max(stamp | (next(self._ids) & 0x3FFFFF), self._last_id + 1)
            self._last_id = value
            return value

    def user(self, user_id: int, **fields: Any) -> dict[str, Any]:
        """The User object for ``user_id`` (created on first use; ``fields`` override)."""
        with self._lock:
            user = self._users.setdefault(user_id, {
                "id": str(user_id), "username": f"user{user_id}", "global_name": f"User {user_id}",
                "discriminator": "0", "avatar": None, "public_flags": 0,
            })
            user.update(fields)
            return copy.deepcopy(user)

    def dm_channel_id(self, user_id: int) -> int:
        """The id of the bot's DM channel with ``user_id`` (created on first use)."""
        with self._lock:
            if user_id not in self._dm_channels:
                channel_id = self.snowflake()
                self._dm_channels[user_id] = channel_id
                self._channels[channel_id] = {
                    "id": str(channel_id), "type": 1, "last_message_id": None, "flags": 0,
                    "recipients": [self.user(user_id)],
                }
            return self._dm_channels[user_id]

    def guild_channel(self, guild_id: int, channel_id: int) -> dict[str, Any]:
        """A text channel in a guild (created on first use)."""
        with self._lock:
            channel = self._channels.setdefault(channel_id, {
                "id": str(channel_id), "type": 0, "guild_id": str(guild_id), "name": "general",
                "position": 0, "permission_overwrites": [], "nsfw": False, "parent_id": None,
                "topic": None, "rate_limit_per_user": 0, "last_message_id": None, "flags": 0,
            })
            return copy.deepcopy(channel)

    # ----------------------------------------------------------------- inbound helpers

    def push_event(self, t: str, d: dict[str, Any], *, guild_id: int | None = None) -> None:
        """Send one dispatch to the session serving ``guild_id``'s shard (shard 0 for DMs);
        held until such a session is ready."""
        event = (t, copy.deepcopy(d), guild_id)
        with self._lock:
            conn = self._route(guild_id)
            if conn is None:
                self._pending.append(event)
                return
        self._enqueue(conn, event[0], event[1])

    def push_dm(self, user_id: int, content: str, *, message_id: int | None = None
                ) -> dict[str, Any]:
        """User ``user_id`` writes ``content`` in their DM with the bot (MESSAGE_CREATE).
        Reuse a ``message_id`` to replay the same event (what a gateway replay looks like)."""
        channel_id = self.dm_channel_id(user_id)
        with self._lock:
            stored = self._messages.get(message_id) if message_id else None
            if stored is None:
                stored = StoredMessage(id=message_id or self.snowflake(), channel_id=channel_id,
                                       author=self.user(user_id), content=content, by_bot=False)
                self._store(stored)
            data = stored.to_api()
        self.push_event("MESSAGE_CREATE", data)
        return data

    def push_slash(
        self,
        user_id: int,
        name: str,
        options: dict[str, Any] | None = None,
        *,
        guild_id: int | None = None,
        channel_id: int | None = None,
        context: int | None = None,
        locale: str = "en-US",
    ) -> InteractionRecord:
        """User ``user_id`` runs ``/name`` with ``options``, in their DM with the bot or, with
        ``guild_id``, in a server channel; ``locale`` is their client's language. The command
        must have been synced (globally, or to that guild); its option types come from the
        synced definition."""
        command = self._synced_command(name, guild_id)
        kinds = {o["name"]: o.get("type", 3) for o in command.get("options") or []}
        unknown = set(options or {}) - set(kinds)
        if unknown:
            raise ValueError(f"/{name} has no option(s) {sorted(unknown)}")
        data = {
            "id": command["id"], "name": name, "type": 1,
            "options": [{"name": key, "type": kinds[key], "value": value}
                        for key, value in (options or {}).items()],
        }
        if command.get("guild_id"):
            data["guild_id"] = command["guild_id"]
        return self._push_interaction(APPLICATION_COMMAND, user_id, data, guild_id=guild_id,
                                      channel_id=channel_id, context=context, locale=locale)

    def push_button(self, user_id: int, custom_id: str, message_id: int) -> InteractionRecord:
        """User ``user_id`` presses the button ``custom_id`` on message ``message_id``.

        Discord only sends custom ids that are on the message; a custom id that is not there
        is added to the payload's copy of the message, which is how a test forges one."""
        return self._press(user_id, message_id, {"custom_id": custom_id, "component_type": 2})

    def push_select(self, user_id: int, custom_id: str, values: list[str], message_id: int
                    ) -> InteractionRecord:
        """User ``user_id`` picks ``values`` in the select menu ``custom_id``."""
        return self._press(user_id, message_id,
                           {"custom_id": custom_id, "component_type": 3, "values": values})

    # ----------------------------------------------------------------- faults

    def inject_error(self, name: str, status: int, body: Any, *, count: int = 1,
                     headers: dict[str, str] | None = None) -> None:
        """The next ``count`` calls of route ``name`` (or ``"*"``) get this answer instead."""
        with self._lock:
            for _ in range(count):
                self._injected.setdefault(name, []).append(
                    _Injected(status, body, dict(headers or {})))

    def rate_limit_next(self, name: str, retry_after: float = 0.2, *, count: int = 1) -> None:
        """A 429 with Discord's body and headers (discord.py waits ``retry_after``, retries)."""
        headers = {"X-RateLimit-Limit": "5", "X-RateLimit-Remaining": "0",
                   "X-RateLimit-Reset-After": str(retry_after), "X-RateLimit-Bucket": "fake",
                   "X-RateLimit-Scope": "user", "Retry-After": str(max(1, round(retry_after))),
                   "Via": "1.1 google"}  # without Via, discord.py takes a 429 for a Cloudflare ban
        body = {"message": "You are being rate limited.", "retry_after": retry_after,
                "global": False, "code": 0}
        self.inject_error(name, 429, body, count=count, headers=headers)

    def disconnect_gateway(self, code: int = 4000) -> None:
        """Close every gateway socket with ``code`` (discord.py reconnects and resumes)."""
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            conn.ready = False
            self._schedule(conn.ws.close(code=code))

    # ----------------------------------------------------------------- inspection

    def messages(self, channel_id: int, *, include_deleted: bool = False,
                 include_users: bool = False) -> list[StoredMessage]:
        """The bot's messages in a channel, oldest first, in their current state (copies)."""
        with self._lock:
            return [copy.deepcopy(m) for m in self._order
                    if m.channel_id == channel_id and (include_users or m.by_bot)
                    and (include_deleted or not m.deleted)]

    def all_messages(self) -> list[StoredMessage]:
        """Every message the bot created, in any channel (copies)."""
        with self._lock:
            return [copy.deepcopy(m) for m in self._order if m.by_bot]

    def message(self, message_id: int) -> StoredMessage | None:
        with self._lock:
            stored = self._messages.get(message_id)
            return copy.deepcopy(stored) if stored else None

    def interaction(self, interaction_id: int) -> InteractionRecord:
        with self._lock:
            return copy.deepcopy(self._interactions[interaction_id])

    def dispatched(self, t: str) -> list[RecordedCall]:
        """The ``gateway:dispatch`` records of events named ``t``."""
        with self._lock:
            return [c for c in self.calls if c.name == "gateway:dispatch" and c.event == t]

    # ----------------------------------------------------------------- internals: plumbing

    def _store(self, message: StoredMessage) -> None:
        self._messages[message.id] = message
        self._order.append(message)

    # ----------------------------------------------------------------- internals: gateway

    def _route(self, guild_id: int | None) -> _Connection | None:
        serving = [c for c in self._connections if c.serves(guild_id)]
        return max(serving, key=lambda c: c.identified_at) if serving else None

    def _enqueue(self, conn: _Connection, t: str, d: dict[str, Any]) -> None:
        self._in_loop(lambda: conn.queue.put_nowait((t, d)))

    def _flush_pending(self, conn: _Connection) -> None:
        with self._lock:
            mine = [p for p in self._pending if conn.serves(p[2])]
            self._pending = [p for p in self._pending if not conn.serves(p[2])]
        for t, d, _ in mine:
            self._enqueue(conn, t, d)

    async def _gateway(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        conn = _Connection(ws, asyncio.Queue())
        with self._lock:
            self._connections.append(conn)
        writer = asyncio.get_running_loop().create_task(self._writer(conn))
        self._track(writer)
        try:
            await self._send(conn, 10, {"heartbeat_interval": self.heartbeat_interval_ms})
            async for frame in ws:
                if frame.type != WSMsgType.TEXT:
                    continue
                await self._on_frame(conn, json.loads(frame.data))
                if ws.closed:
                    break
        finally:
            conn.ready = False
            conn.queue.put_nowait(None)
            with self._lock:
                if conn in self._connections:
                    self._connections.remove(conn)
            self._record(RecordedCall("gateway:closed", "WS", "/gateway-ws", time.monotonic(),
                                      status=ws.close_code or 1000))
        return ws

    async def _on_frame(self, conn: _Connection, frame: dict[str, Any]) -> None:
        op, data = frame.get("op"), frame.get("d")
        if op == 1:
            self._record(RecordedCall("gateway:heartbeat", "WS", "/gateway-ws",
                                      time.monotonic(), json=data, status=200))
            await self._send(conn, 11, None)
        elif op == 2:
            await self._identify(conn, data or {})
        elif op == 6:
            await self._resume(conn, data or {})
        else:  # presence, voice, member requests: accepted and ignored
            self._record(RecordedCall(f"gateway:op{op}", "WS", "/gateway-ws", time.monotonic(),
                                      json=data, status=200))

    async def _identify(self, conn: _Connection, data: dict[str, Any]) -> None:
        record = RecordedCall("gateway:identify", "WS", "/gateway-ws", time.monotonic(),
                              json={k: v for k, v in data.items() if k != "token"})
        if data.get("token") != self.token:
            record.status = 4004
            self._record(record)
            await conn.ws.close(code=4004, message=b"Authentication failed.")
            return
        intents = int(data.get("intents") or 0)
        if intents & PRIVILEGED_INTENTS & ~self.privileged_intents:
            record.status = 4014
            self._record(record)
            await conn.ws.close(code=4014, message=b"Disallowed intent(s).")
            return
        record.status = 200
        with self._lock:
            self.identifies.append(record.json)
        self._record(record)
        shard = data.get("shard") or [0, 1]
        conn.shard = (int(shard[0]), int(shard[1]))
        conn.session_id = uuid.uuid4().hex
        ready: dict[str, Any] = {
            "v": 10, "user": copy.deepcopy(self.bot_user), "guilds": [],
            "session_id": conn.session_id, "resume_gateway_url": self.gateway_url,
            "application": {"id": str(self.application_id), "flags": 1 << 23},
            "private_channels": [], "relationships": [], "presences": [], "user_settings": {},
            "session_type": "normal", "geo_ordered_rtc_regions": [],
        }
        if data.get("shard"):
            ready["shard"] = list(conn.shard)
        await self._dispatch_now(conn, "READY", ready)
        with self._lock:
            self._sessions[conn.session_id] = conn
            conn.identified_at = time.monotonic()
            conn.ready = True
        self._record(RecordedCall("gateway:ready", "WS", "/gateway-ws", time.monotonic(),
                                  json={"shard": list(conn.shard)}, status=200))
        self._flush_pending(conn)

    async def _resume(self, conn: _Connection, data: dict[str, Any]) -> None:
        record = RecordedCall("gateway:resume", "WS", "/gateway-ws", time.monotonic(),
                              json={k: v for k, v in data.items() if k != "token"})
        with self._lock:
            old = self._sessions.get(str(data.get("session_id")))
        if data.get("token") != self.token or old is None:
            record.status = 9
            self._record(record)
            await self._send(conn, 9, False)
            return
        record.status = 200
        self._record(record)
        conn.session_id, conn.shard, conn.sequence = old.session_id, old.shard, old.sequence
        await self._dispatch_now(conn, "RESUMED", {})
        with self._lock:
            self._sessions[str(conn.session_id)] = conn
            conn.identified_at = time.monotonic()
            conn.ready = True
        self._flush_pending(conn)

    async def _send(self, conn: _Connection, op: int, d: Any) -> None:
        with contextlib.suppress(ConnectionError, RuntimeError):
            await conn.ws.send_str(json.dumps({"op": op, "d": d, "s": None, "t": None}))

    async def _dispatch_now(self, conn: _Connection, t: str, d: dict[str, Any]) -> None:
        conn.sequence += 1
        with contextlib.suppress(ConnectionError, RuntimeError):
            await conn.ws.send_str(json.dumps({"op": 0, "s": conn.sequence, "t": t, "d": d}))
        now = time.monotonic()
        if t == "INTERACTION_CREATE":
            with self._lock:
                record = self._interactions.get(int(d["id"]))
                if record is not None and record.dispatched_at is None:
                    record.dispatched_at = now
        self._record(RecordedCall("gateway:dispatch", "WS", "/gateway-ws", now,
                                  query={"t": t}, json=d, status=200))

    async def _writer(self, conn: _Connection) -> None:
        """Sends queued events in order; those the socket closed under are held for the
        next session of their shard (a resume, or a new identify)."""
        while True:
            item = await conn.queue.get()
            if item is None:
                break
            if conn.ws.closed:
                self._hold(*item)
            else:
                await self._dispatch_now(conn, *item)
        while not conn.queue.empty():
            left = conn.queue.get_nowait()
            if left is not None:
                self._hold(*left)

    def _hold(self, t: str, d: dict[str, Any]) -> None:
        with self._lock:
            self._pending.append((t, d, _guild_of(d)))

    # ----------------------------------------------------------------- internals: interactions

    def _synced_command(self, name: str, guild_id: int | None) -> dict[str, Any]:
        with self._lock:
            for scope in ([guild_id] if guild_id else []) + [None]:
                for command in self.commands.get(scope, []):
                    if command["name"] == name:
                        return copy.deepcopy(command)
        raise ValueError(f"/{name} was never synced (globally or to guild {guild_id})")

    def _press(self, user_id: int, message_id: int, data: dict[str, Any]) -> InteractionRecord:
        with self._lock:
            stored = self._messages.get(message_id)
            if stored is None or stored.deleted:
                raise ValueError(f"no message {message_id} to press a component on")
            message = stored.to_api(self.application_id)
            if data["custom_id"] not in stored.custom_ids():
                forged: dict[str, Any] = {"type": 2, "style": 2, "label": "forged",
                                          "custom_id": data["custom_id"]}
                if data["component_type"] == 3:
                    forged = {"type": 3, "custom_id": data["custom_id"],
                              "options": [{"label": v, "value": v} for v in data["values"]]}
                message["components"].append({"type": 1, "components": [forged]})
            channel_id, guild_id = stored.channel_id, stored.guild_id
        return self._push_interaction(MESSAGE_COMPONENT, user_id, data, guild_id=guild_id,
                                      channel_id=channel_id, message=message)

    def _push_interaction(
        self,
        kind: int,
        user_id: int,
        data: dict[str, Any],
        *,
        guild_id: int | None,
        channel_id: int | None,
        context: int | None = None,
        message: dict[str, Any] | None = None,
        locale: str = "en-US",
    ) -> InteractionRecord:
        user = self.user(user_id)
        if guild_id is None:
            channel_id = channel_id or self.dm_channel_id(user_id)
            with self._lock:
                channel = copy.deepcopy(self._channels[channel_id])
        else:
            channel_id = channel_id or self.snowflake()
            channel = self.guild_channel(guild_id, channel_id)
        interaction_id = self.snowflake()
        token = f"aW50ZXJhY3Rpb246{interaction_id}:" + uuid.uuid4().hex
        if context is None:
            context = GUILD_CONTEXT if guild_id else BOT_DM_CONTEXT
        payload: dict[str, Any] = {
            "id": str(interaction_id), "application_id": str(self.application_id),
            "type": kind, "token": token, "version": 1, "data": data,
            "channel": channel, "channel_id": str(channel_id), "locale": locale,
            "app_permissions": DEFAULT_PERMISSIONS, "entitlements": [],
            "entitlement_sku_ids": [], "context": context,
            "attachment_size_limit": ATTACHMENT_SIZE_LIMIT,
            "authorizing_integration_owners": (
                {"0": str(guild_id)} if guild_id else {"1": str(user_id)}),
        }
        if guild_id is not None:
            payload.update({
                "guild_id": str(guild_id), "guild_locale": "en-US",
                "guild": {"id": str(guild_id), "locale": "en-US", "features": []},
                "member": {"user": user, "roles": [], "joined_at": _now_iso(), "deaf": False,
                           "mute": False, "flags": 0, "pending": False, "nick": None,
                           "avatar": None, "premium_since": None,
                           "communication_disabled_until": None,
                           "permissions": DEFAULT_PERMISSIONS},
            })
        else:
            payload["user"] = user
        if message is not None:
            payload["message"] = message
        record = InteractionRecord(interaction_id, token, kind, user_id, channel_id, guild_id,
                                   payload)
        if message is not None:
            record.original_message_id = int(message["id"])
        with self._lock:
            self._interactions[interaction_id] = record
            self._tokens[token] = interaction_id
        self.push_event("INTERACTION_CREATE", payload, guild_id=guild_id)
        return copy.deepcopy(record)

    # ----------------------------------------------------------------- internals: HTTP

    async def _not_found(self, request: web.Request) -> web.Response:
        self._record(RecordedCall("unknown", request.method, request.path, time.monotonic(),
                                  status=404))
        return _json(404, {"message": "404: Not Found", "code": 0})

    def _endpoint(self, name: str) -> Callable[[web.Request], Any]:
        async def handle(request: web.Request) -> web.Response:
            return await self._handle(name, request)

        return handle

    async def _handle(self, name: str, request: web.Request) -> web.Response:
        params = {k: v for k, v in request.match_info.items() if k != "version"}
        body, files = await _read_body(request)
        call = RecordedCall(name, request.method, request.path, time.monotonic(), params,
                            dict(request.query), body, files)
        self._record(call)
        with self._lock:
            delay = self._delay(name)
            queue = self._injected.get(name) or self._injected.get("*")
            injected = queue.pop(0) if queue else None
        if delay and await self._delayed(delay):
            return self._answer(call, 503, {"message": "the fake is stopping", "code": 0})
        if not await self._wait_if_held(call):  # dropped: the request was lost
            return self._answer(call, 502, {"message": "502: Bad Gateway", "code": 0})
        if injected is not None:
            return self._answer(call, injected.status, injected.body, injected.headers)
        auth = request.headers.get("Authorization")
        if name not in _WEBHOOK_ROUTES and auth != f"Bot {self.token}":
            return self._answer(call, 401, {"message": "401: Unauthorized", "code": 0})
        try:
            status, result = getattr(self, f"_{name}")(call)
        except _ApiError as error:
            return self._answer(call, error.status, error.body())
        return self._answer(call, status, result)

    async def _delayed(self, seconds: float) -> bool:
        """Wait ``seconds``; True when the server began stopping meanwhile (so a slow route
        does not hold up the shutdown)."""
        await self._until(lambda: False, seconds)
        return self._closing

    def _answer(self, call: RecordedCall, status: int, body: Any,
                headers: dict[str, str] | None = None) -> web.Response:
        with self._lock:
            call.status, call.response = status, body
        self._notify()
        if status == 204:
            return web.Response(status=204, headers=headers)
        response = _json(status, body)
        response.headers.update(headers or {})
        return response

    # -- bot, gateway, commands

    def _get_gateway(self, call: RecordedCall) -> tuple[int, Any]:
        return 200, {"url": self.gateway_url}

    def _get_gateway_bot(self, call: RecordedCall) -> tuple[int, Any]:
        return 200, {"url": self.gateway_url, "shards": self.recommended_shards,
                     "session_start_limit": {"total": 1000, "remaining": 999,
                                             "reset_after": 14_400_000, "max_concurrency": 1}}

    def _get_me(self, call: RecordedCall) -> tuple[int, Any]:
        return 200, copy.deepcopy(self.bot_user)

    def _get_application(self, call: RecordedCall) -> tuple[int, Any]:
        return 200, {
            "id": str(self.application_id), "name": self.bot_user["global_name"],
            "icon": None, "description": "", "summary": "", "type": None, "bot_public": True,
            "bot_require_code_grant": False, "verify_key": "0" * 64, "flags": 1 << 23,
            "owner": self.user(9_000_000_000_000_000_001), "team": None,
            "bot": copy.deepcopy(self.bot_user), "redirect_uris": [],
            "interactions_endpoint_url": None, "integration_types_config": {"0": {}, "1": {}},
        }

    def _check_app(self, call: RecordedCall) -> None:
        if call.params.get("app_id") != str(self.application_id):
            raise _ApiError(403, 50001, "Missing Access")

    def _sync(self, call: RecordedCall, guild_id: int | None) -> tuple[int, Any]:
        self._check_app(call)
        commands = call.json if isinstance(call.json, list) else []
        if len(commands) > 100:
            raise _form_error("_", "BASE_TYPE_MAX_LENGTH", "Must be 100 or fewer in length.")
        stored = []
        for index, command in enumerate(commands):
            for key, limit in (("name", 32), ("description", 100)):
                value = str(command.get(key) or "")
                if not 1 <= len(value) <= limit:
                    raise _form_error(f"{index}.{key}", "BASE_TYPE_BAD_LENGTH",
                                      f"Must be between 1 and {limit} in length.")
            for number, option in enumerate(command.get("options") or []):
                if len(option.get("choices") or []) > MAX_OPTIONS:
                    raise _form_error(f"{index}.options.{number}.choices",
                                      "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
            entry = copy.deepcopy(command)
            entry.update({"id": str(self.snowflake()), "application_id": str(self.application_id),
                          "version": str(self.snowflake()), "type": command.get("type", 1)})
            entry.setdefault("default_member_permissions", None)
            if guild_id is not None:
                entry["guild_id"] = str(guild_id)
            stored.append(entry)
        with self._lock:
            self.commands[guild_id] = stored
        return 200, copy.deepcopy(stored)

    def _sync_global_commands(self, call: RecordedCall) -> tuple[int, Any]:
        return self._sync(call, None)

    def _sync_guild_commands(self, call: RecordedCall) -> tuple[int, Any]:
        return self._sync(call, int(call.params["guild_id"]))

    def _get_global_commands(self, call: RecordedCall) -> tuple[int, Any]:
        self._check_app(call)
        with self._lock:
            return 200, copy.deepcopy(self.commands.get(None, []))

    def _get_guild_commands(self, call: RecordedCall) -> tuple[int, Any]:
        self._check_app(call)
        with self._lock:
            return 200, copy.deepcopy(self.commands.get(int(call.params["guild_id"]), []))

    # -- channels and messages

    def _create_dm(self, call: RecordedCall) -> tuple[int, Any]:
        recipient = (call.json or {}).get("recipient_id")
        if recipient is None:
            raise _form_error("recipient_id", "BASE_TYPE_REQUIRED", "This field is required")
        channel_id = self.dm_channel_id(int(recipient))
        with self._lock:
            return 200, copy.deepcopy(self._channels[channel_id])

    def _channel(self, channel_id: int) -> dict[str, Any]:
        with self._lock:
            channel = self._channels.get(channel_id)
        if channel is None:
            raise _ApiError(404, 10003, "Unknown Channel")
        return channel

    def _create_message(self, call: RecordedCall) -> tuple[int, Any]:
        channel_id = int(call.params["channel_id"])
        channel = self._channel(channel_id)
        guild = channel.get("guild_id")
        message = StoredMessage(id=0, channel_id=channel_id, author=copy.deepcopy(self.bot_user),
                                guild_id=int(guild) if guild else None)
        self._apply(message, call, creating=True)
        with self._lock:
            message.id = self.snowflake()
            self._store(message)
            return 200, message.to_api()

    def _bot_message(self, call: RecordedCall) -> StoredMessage:
        with self._lock:
            stored = self._messages.get(int(call.params["message_id"]))
        if stored is None or stored.deleted or stored.channel_id != int(call.params["channel_id"]):
            raise _ApiError(404, 10008, "Unknown Message")
        if not stored.by_bot:
            raise _ApiError(403, 50005, "Cannot edit a message authored by another user")
        return stored

    def _edit_message(self, call: RecordedCall) -> tuple[int, Any]:
        stored = self._bot_message(call)
        with self._lock:
            self._apply(stored, call, creating=False)
            return 200, stored.to_api(self.application_id)

    def _delete_message(self, call: RecordedCall) -> tuple[int, Any]:
        stored = self._bot_message(call)
        with self._lock:
            stored.deleted = True
        return 204, None

    def _typing(self, call: RecordedCall) -> tuple[int, Any]:
        self._channel(int(call.params["channel_id"]))
        return 204, None

    def _apply(self, message: StoredMessage, call: RecordedCall, *, creating: bool,
               data: dict[str, Any] | None = None) -> None:
        """Validate a message payload like Discord and write it into ``message``."""
        payload = data if data is not None else (call.json or {})
        if not isinstance(payload, dict):
            raise _form_error("_", "DICT_TYPE_CONVERT", "Only dictionaries may be used.")
        content = payload.get("content")
        if content is not None and len(str(content)) > MAX_CONTENT:
            raise _form_error("content", "BASE_TYPE_MAX_LENGTH",
                              f"Must be {MAX_CONTENT} or fewer in length.")
        components = payload.get("components")
        if components is not None:
            _check_components(components)
        embeds = payload.get("embeds")
        if creating and not (content or components or embeds or call.files
                             or payload.get("sticker_ids") or payload.get("poll")):
            raise _ApiError(400, 50006, "Cannot send an empty message")
        if "content" in payload:
            message.content = str(content or "")
        if components is not None:
            message.components = copy.deepcopy(components)
        if embeds is not None:
            message.embeds = copy.deepcopy(embeds)
        if call.files:
            message.attachments = list(call.files)
        elif payload.get("attachments") == []:
            message.attachments = []
        if "flags" in payload and payload["flags"] is not None:
            message.flags = (message.flags & EPHEMERAL) | int(payload["flags"])
        message.allowed_mentions = copy.deepcopy(payload.get("allowed_mentions"))
        if not creating:
            message.edits += 1
            message.edited_timestamp = _now_iso()
            message.flags &= ~LOADING

    # -- interactions

    def _interaction_for(self, call: RecordedCall) -> InteractionRecord:
        token = call.params["token"]
        with self._lock:
            record = self._interactions.get(self._tokens.get(token, -1))
        if record is None:
            if call.name == "interaction_callback":
                raise _ApiError(404, 10062, "Unknown interaction")
            raise _ApiError(404, 10015, "Unknown Webhook")
        if "interaction_id" in call.params and call.params["interaction_id"] != str(record.id):
            raise _ApiError(404, 10062, "Unknown interaction")
        if "app_id" in call.params and call.params["app_id"] != str(self.application_id):
            raise _ApiError(404, 10015, "Unknown Webhook")
        return record

    def _interaction_callback(self, call: RecordedCall) -> tuple[int, Any]:
        record = self._interaction_for(call)
        body = call.json or {}
        kind = int(body.get("type") or 0)
        data = body.get("data") or {}
        now = time.monotonic()
        with self._lock:
            if record.acknowledged:
                raise _ApiError(400, 40060, "Interaction has already been acknowledged.")
            sent = record.dispatched_at
            if sent is not None and now - sent > self.ack_deadline:
                raise _ApiError(404, 10062, "Unknown interaction")
            if kind in (DEFERRED_UPDATE, UPDATE_MESSAGE) and record.type != MESSAGE_COMPONENT:
                raise _form_error("type", "INTERACTION_RESPONSE_TYPE_INVALID",
                                  "Interaction response type is invalid for this interaction.")
            if kind not in (CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE, DEFERRED_UPDATE,
                            UPDATE_MESSAGE):
                raise _form_error("type", "BASE_TYPE_CHOICES", f"Value must be one of (4, 5, 6, "
                                  f"7); {kind} is not supported by the fake.")
            message: StoredMessage | None = None
            if kind in (CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE):
                flags = int(data.get("flags") or 0)
                message = StoredMessage(id=0, channel_id=record.channel_id,
                                        author=copy.deepcopy(self.bot_user),
                                        guild_id=record.guild_id, interaction_id=record.id,
                                        flags=flags | (LOADING if kind == 5 else 0))
                if kind == CHANNEL_MESSAGE:
                    self._apply(message, call, creating=True, data=data)
                message.id = self.snowflake()
                self._store(message)
                record.original_message_id = message.id
                record.callback_flags = flags
            elif kind == UPDATE_MESSAGE:
                message = self._messages[record.original_message_id or 0]
                self._apply(message, call, creating=False, data=data)
            record.callback_type, record.callback_at = kind, now
        if call.query.get("with_response") not in ("1", "true", "True"):
            return 204, None
        answer: dict[str, Any] = {
            "interaction": {
                "id": str(record.id), "type": record.type,
                "response_message_loading": kind == DEFERRED_CHANNEL_MESSAGE,
                "response_message_ephemeral": bool(record.callback_flags & EPHEMERAL),
            },
            "resource": {"type": kind},
        }
        if message is not None:
            answer["interaction"]["response_message_id"] = str(message.id)
            answer["resource"]["message"] = message.to_api(self.application_id)
        return 200, answer

    def _webhook_message(self, call: RecordedCall, record: InteractionRecord) -> StoredMessage:
        wanted = call.params["message_id"]
        if not record.acknowledged:
            raise _ApiError(404, 10015, "Unknown Webhook")
        message_id = record.original_message_id if wanted == "@original" else int(wanted)
        if wanted != "@original" and message_id not in record.followups:
            raise _ApiError(404, 10008, "Unknown Message")
        with self._lock:
            stored = self._messages.get(message_id or 0)
        if stored is None or stored.deleted:
            raise _ApiError(404, 10008, "Unknown Message")
        return stored

    def _create_followup(self, call: RecordedCall) -> tuple[int, Any]:
        record = self._interaction_for(call)
        if not record.acknowledged:
            raise _ApiError(404, 10015, "Unknown Webhook")
        with self._lock:
            original = self._messages.get(record.original_message_id or 0)
            if (original is not None and original.loading
                    and record.callback_type == DEFERRED_CHANNEL_MESSAGE):
                # Discord: the first follow-up after a "thinking" defer replaces the loader.
                self._apply(original, call, creating=False)
                return 200, original.to_api(self.application_id)
            message = StoredMessage(id=0, channel_id=record.channel_id,
                                    author=copy.deepcopy(self.bot_user),
                                    guild_id=record.guild_id, interaction_id=record.id)
            self._apply(message, call, creating=True)
            message.id = self.snowflake()
            self._store(message)
            record.followups.append(message.id)
            self._interactions[record.id] = record
            return 200, message.to_api(self.application_id)

    def _get_webhook_message(self, call: RecordedCall) -> tuple[int, Any]:
        stored = self._webhook_message(call, self._interaction_for(call))
        return 200, stored.to_api(self.application_id)

    def _edit_webhook_message(self, call: RecordedCall) -> tuple[int, Any]:
        stored = self._webhook_message(call, self._interaction_for(call))
        with self._lock:
            self._apply(stored, call, creating=False)
            return 200, stored.to_api(self.application_id)

    def _delete_webhook_message(self, call: RecordedCall) -> tuple[int, Any]:
        stored = self._webhook_message(call, self._interaction_for(call))
        with self._lock:
            stored.deleted = True
        return 204, None


def _guild_of(data: dict[str, Any]) -> int | None:
    guild = data.get("guild_id")
    return int(guild) if guild else None


def _check_components(rows: list[dict[str, Any]]) -> None:
    """Discord's limits for classic (non-v2) components."""
    if len(rows) > MAX_ROWS:
        raise _form_error("components", "BASE_TYPE_MAX_LENGTH", "Must be 5 or fewer in length.")
    seen: set[str] = set()
    for r, row in enumerate(rows):
        if row.get("type") != 1:
            raise _form_error(f"components.{r}.type", "UNION_TYPE_CHOICES",
                              "Value of field \"type\" must be one of (1,).")
        items = row.get("components") or []
        if not 1 <= len(items) <= MAX_ROW_BUTTONS:
            raise _form_error(f"components.{r}.components", "BASE_TYPE_BAD_LENGTH",
                              "Must be between 1 and 5 in length.")
        if any(i.get("type") == 3 for i in items) and len(items) > 1:
            raise _form_error(f"components.{r}.components", "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
                              "The specified component exceeds the maximum width")
        for c, item in enumerate(items):
            where = f"components.{r}.components.{c}"
            custom_id = item.get("custom_id")
            if item.get("type") == 2:
                if len(str(item.get("label") or "")) > MAX_BUTTON_LABEL:
                    raise _form_error(f"{where}.label", "BASE_TYPE_MAX_LENGTH",
                                      "Must be 80 or fewer in length.")
                if item.get("style") == 5:
                    if not item.get("url") or custom_id:
                        raise _form_error(f"{where}.url", "BUTTON_COMPONENT_URL_REQUIRED",
                                          "A url is required")
                    continue
            elif item.get("type") == 3:
                options = item.get("options") or []
                if not 1 <= len(options) <= MAX_OPTIONS:
                    raise _form_error(f"{where}.options", "BASE_TYPE_BAD_LENGTH",
                                      "Must be between 1 and 25 in length.")
                for o, option in enumerate(options):
                    for key in ("label", "value"):
                        if not 1 <= len(str(option.get(key) or "")) <= 100:
                            raise _form_error(f"{where}.options.{o}.{key}",
                                              "BASE_TYPE_BAD_LENGTH",
                                              "Must be between 1 and 100 in length.")
            if not custom_id or len(str(custom_id)) > MAX_CUSTOM_ID:
                raise _form_error(f"{where}.custom_id", "BASE_TYPE_BAD_LENGTH",
                                  "Must be between 1 and 100 in length.")
            if custom_id in seen:
                raise _form_error(f"{where}.custom_id", "COMPONENT_CUSTOM_ID_DUPLICATED",
                                  "Component custom id cannot be duplicated")
            seen.add(custom_id)


async def _read_body(request: web.Request) -> tuple[Any, list[UploadedFile]]:
    """JSON body, or multipart with ``payload_json`` and ``files[n]`` parts."""
    if request.content_type.startswith("multipart/"):
        payload: Any = None
        files: list[UploadedFile] = []
        reader = await request.multipart()
        while True:
            part = await reader.next()
            if part is None:
                break
            data = await part.read()  # type: ignore[union-attr]
            name = part.name or ""  # type: ignore[union-attr]
            if name == "payload_json":
                payload = json.loads(data.decode())
            else:
                files.append(UploadedFile(name, part.filename,  # type: ignore[union-attr]
                                          part.headers.get("Content-Type"), bytes(data)))
        return payload, files
    raw = await request.read()
    if not raw:
        return None, []
    try:
        return json.loads(raw), []
    except ValueError:
        return raw.decode(errors="replace"), []
