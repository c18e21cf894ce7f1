"""The fake Discord itself: it must answer the way Discord does, or the adapter tests prove
nothing. Raw HTTP and websocket checks, plus a bare discord.py client for the happy path."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import discord
import pytest
import yarl
from discord.gateway import DiscordWebSocket
from discord.http import Route

from tests.fakes.discord_api import FakeDiscordAPI

TOKEN = "MTAwMDAwMDAwMDAwMDAwMDAx.Gfake0.fake-token-for-tests-only_abcdefghijklmn"
AUTH = {"Authorization": f"Bot {TOKEN}"}
USER = 4242


@pytest.fixture
async def server() -> AsyncIterator[FakeDiscordAPI]:
    async with FakeDiscordAPI(TOKEN, ack_deadline=0.5) as fake:
        yield fake


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def call(http: aiohttp.ClientSession, method: str, url: str, body: Any = None,
               headers: dict[str, str] | None = None) -> tuple[int, Any, str]:
    async with http.request(method, url, json=body, headers=headers or AUTH) as response:
        text = await response.text()
        return response.status, (json.loads(text) if text else None), response.content_type


async def sync(server: FakeDiscordAPI, http: aiohttp.ClientSession) -> None:
    commands = [{"name": "help", "description": "Help", "type": 1},
                {"name": "start", "description": "Start", "type": 1,
                 "options": [{"name": "flow", "description": "Flow", "type": 3}]}]
    url = f"{server.api_base}/applications/{server.application_id}/commands"
    status, _, _ = await call(http, "PUT", url, commands)
    assert status == 200


class Gateway:
    """A raw gateway client: reads frames, answers nothing by itself."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws

    async def frame(self) -> dict[str, Any]:
        message = await asyncio.wait_for(self.ws.receive(), 5)
        assert message.type is aiohttp.WSMsgType.TEXT, message
        return json.loads(message.data)

    async def send(self, op: int, d: Any) -> None:
        await self.ws.send_str(json.dumps({"op": op, "d": d}))

    async def identify(self, token: str = TOKEN, **extra: Any) -> dict[str, Any]:
        hello = await self.frame()
        assert hello["op"] == 10 and hello["d"]["heartbeat_interval"] > 0
        await self.send(2, {"token": token, "intents": 1 << 12, "properties": {}, **extra})
        return await self.frame()


async def gateway(server: FakeDiscordAPI, http: aiohttp.ClientSession) -> Gateway:
    return Gateway(await http.ws_connect(server.gateway_url + "?v=10&encoding=json"))


# --------------------------------------------------------------------------- REST


async def test_json_has_the_exact_content_type_and_auth_is_checked(
        server: FakeDiscordAPI, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{server.api_base}/users/@me", headers=AUTH) as response:
        assert response.headers["Content-Type"] == "application/json"
        assert (await response.json())["id"] == str(server.bot_id)
    status, body, _ = await call(http, "GET", f"{server.api_base}/users/@me",
                                 headers={"Authorization": "Bot wrong"})
    assert (status, body) == (401, {"message": "401: Unauthorized", "code": 0})
    status, body, kind = await call(http, "GET", f"{server.api_base}/nothing/here")
    assert status == 404 and body["code"] == 0 and kind == "application/json"
    status, body, _ = await call(http, "GET", f"{server.api_base}/gateway/bot")
    assert body["url"] == server.gateway_url and body["shards"] == 1


async def test_messages_are_validated_like_discord(server: FakeDiscordAPI,
                                                   http: aiohttp.ClientSession) -> None:
    status, dm, _ = await call(http, "POST", f"{server.api_base}/users/@me/channels",
                               {"recipient_id": str(USER)})
    assert status == 200 and dm["type"] == 1 and int(dm["id"]) == server.dm_channel_id(USER)
    url = f"{server.api_base}/channels/{dm['id']}/messages"
    status, body, _ = await call(http, "POST", url, {"content": "x" * 2001})
    assert status == 400 and body["code"] == 50035 and "content" in body["errors"]
    assert (await call(http, "POST", url, {}))[1]["code"] == 50006
    six = [{"type": 2, "style": 2, "label": str(n), "custom_id": f"c{n}"} for n in range(6)]
    status, body, _ = await call(http, "POST", url, {"components": [{"type": 1,
                                                                      "components": six}]})
    assert status == 400 and body["code"] == 50035
    same = [{"type": 2, "style": 2, "label": "a", "custom_id": "c"}] * 2
    assert (await call(http, "POST", url, {"components": [{"type": 1,
                                                           "components": same}]}))[0] == 400
    status, body, _ = await call(http, "POST", f"{server.api_base}/channels/1/messages",
                                 {"content": "hi"})
    assert (status, body["code"]) == (404, 10003)

    status, sent, _ = await call(http, "POST", url, {"content": "hi", "components": [
        {"type": 1, "components": six[:5]}]})
    assert status == 200 and sent["content"] == "hi" and len(sent["components"]) == 1
    status, edited, _ = await call(http, "PATCH", f"{url}/{sent['id']}", {"components": []})
    assert status == 200 and edited["components"] == [] and edited["content"] == "hi"
    [stored] = server.messages(int(dm["id"]))
    assert stored.edits == 1 and stored.buttons() == []


async def test_multipart_uploads_are_recorded(server: FakeDiscordAPI,
                                              http: aiohttp.ClientSession) -> None:
    channel = server.dm_channel_id(USER)
    form = aiohttp.FormData()
    form.add_field("payload_json", json.dumps({"content": "your data",
                                               "attachments": [{"id": 0, "filename": "a.json"}]}))
    form.add_field("files[0]", b'{"a": 1}', filename="a.json",
                   content_type="application/octet-stream")
    async with http.post(f"{server.api_base}/channels/{channel}/messages", data=form,
                         headers=AUTH) as response:
        assert response.status == 200
        body = await response.json()
    assert body["attachments"][0]["filename"] == "a.json"
    [upload] = server.calls_to("create_message")[-1].files
    assert (upload.filename, upload.data) == ("a.json", b'{"a": 1}')


# --------------------------------------------------------------------------- gateway


async def test_gateway_hello_identify_ready_heartbeat_and_events(
        server: FakeDiscordAPI, http: aiohttp.ClientSession) -> None:
    server.push_dm(USER, "sent before anyone listened")  # held until a session is ready
    gw = await gateway(server, http)
    ready = await gw.identify()
    assert (ready["op"], ready["t"], ready["s"]) == (0, "READY", 1)
    data = ready["d"]
    assert data["user"]["id"] == str(server.bot_id) and data["guilds"] == []
    assert data["application"]["id"] == str(server.application_id)
    assert data["resume_gateway_url"] == server.gateway_url and data["session_id"]
    held = await gw.frame()
    assert (held["t"], held["d"]["content"], held["s"]) == (
        "MESSAGE_CREATE", "sent before anyone listened", 2)
    await gw.send(1, 2)
    assert (await gw.frame())["op"] == 11
    server.push_dm(USER, "hello")
    event = await gw.frame()
    assert event["d"]["author"]["id"] == str(USER) and "guild_id" not in event["d"]
    assert server.identifies[0]["intents"] == 1 << 12 and "token" not in server.identifies[0]
    await gw.ws.close()


async def test_gateway_rejects_bad_tokens_and_privileged_intents(
        server: FakeDiscordAPI, http: aiohttp.ClientSession) -> None:
    for token, intents, code in (("nope", 1 << 12, 4004), (TOKEN, 1 << 15, 4014)):
        gw = await gateway(server, http)
        assert (await gw.frame())["op"] == 10
        await gw.send(2, {"token": token, "intents": intents, "properties": {}})
        closing = await asyncio.wait_for(gw.ws.receive(), 5)
        assert (closing.type, closing.data) == (aiohttp.WSMsgType.CLOSE, code)
        await gw.ws.close()
    assert server.identifies == []


async def test_events_go_to_the_shard_that_serves_them_and_resume_replays(
        server: FakeDiscordAPI, http: aiohttp.ClientSession) -> None:
    await sync(server, http)
    zero, one = await gateway(server, http), await gateway(server, http)
    await zero.identify(shard=[0, 2])
    ready = await one.identify(shard=[1, 2])
    assert ready["d"]["shard"] == [1, 2]
    guild = 1001 << 22  # shard 1 of 2
    server.push_slash(USER, "help", guild_id=guild, channel_id=77)
    server.push_dm(USER, "a DM")
    assert (await one.frame())["d"]["guild_id"] == str(guild)
    assert (await zero.frame())["d"]["content"] == "a DM"

    session = ready["d"]["session_id"]
    await one.ws.close(code=4000)
    await server.wait_for("gateway:closed")
    server.push_slash(USER, "help", guild_id=guild, channel_id=77)  # missed while away
    again = await gateway(server, http)
    assert (await again.frame())["op"] == 10
    await again.send(6, {"token": TOKEN, "session_id": session, "seq": 2})
    assert (await again.frame())["t"] == "RESUMED"
    assert (await again.frame())["t"] == "INTERACTION_CREATE"
    for gw in (zero, again):
        await gw.ws.close()


# --------------------------------------------------------------------------- interactions


async def test_interaction_acknowledgement_rules(server: FakeDiscordAPI,
                                                 http: aiohttp.ClientSession) -> None:
    await sync(server, http)
    with pytest.raises(ValueError, match="never synced"):
        server.push_slash(USER, "unsynced")
    gw = await gateway(server, http)
    await gw.identify()
    record = server.push_slash(USER, "start", {"flow": "talk"})
    event = (await gw.frame())["d"]
    assert event["data"]["options"] == [{"name": "flow", "type": 3, "value": "talk"}]
    for key in ("attachment_size_limit", "context", "channel", "app_permissions",
                "entitlements", "authorizing_integration_owners", "locale", "version",
                "application_id", "token", "user"):
        assert key in event, key
    base = f"{server.api_base}/interactions/{record.id}/{record.token}/callback"
    status, _, _ = await call(http, "POST", base, {"type": 6})
    assert status == 400  # a deferred update is for buttons only
    status, body, _ = await call(http, "POST", base + "?with_response=1", {"type": 5})
    assert status == 200 and body["interaction"]["response_message_loading"] is True
    assert body["resource"]["message"]["flags"] & 128
    status, body, _ = await call(http, "POST", base, {"type": 5})
    assert (status, body["code"]) == (400, 40060)

    hook = f"{server.api_base}/webhooks/{server.application_id}/{record.token}"
    status, first, _ = await call(http, "POST", hook + "?wait=true", {"content": "one"})
    assert first["id"] == body_id(server, record.id)  # replaced the "thinking" message
    status, second, _ = await call(http, "POST", hook + "?wait=true", {"content": "two"})
    assert second["id"] != first["id"]
    status, edited, _ = await call(http, "PATCH", f"{hook}/messages/@original",
                                   {"content": "edited"})
    assert status == 200 and edited["content"] == "edited" and not edited["flags"] & 128
    assert (await call(http, "GET", f"{hook}x/messages/@original"))[1]["code"] == 10015

    late = server.push_slash(USER, "help")
    await gw.frame()
    await asyncio.sleep(0.6)  # the fake's deadline is 0.5 s here (Discord's is 3 s)
    url = f"{server.api_base}/interactions/{late.id}/{late.token}/callback"
    status, body, _ = await call(http, "POST", url, {"type": 5})
    assert (status, body["code"]) == (404, 10062)
    await gw.ws.close()


def body_id(server: FakeDiscordAPI, interaction_id: int) -> str:
    return str(server.interaction(interaction_id).original_message_id)


async def test_button_presses_carry_the_message_and_can_be_forged(
        server: FakeDiscordAPI, http: aiohttp.ClientSession) -> None:
    with pytest.raises(ValueError, match="no message"):
        server.push_button(USER, "coach:1.0", 12345)
    channel = server.dm_channel_id(USER)
    button = {"type": 2, "style": 2, "label": "Go", "custom_id": "coach:1.0"}
    _, sent, _ = await call(http, "POST", f"{server.api_base}/channels/{channel}/messages",
                            {"content": "step", "components": [{"type": 1,
                                                                "components": [button]}]})
    gw = await gateway(server, http)
    await gw.identify()
    record = server.push_button(USER, "coach:1.0", int(sent["id"]))
    event = (await gw.frame())["d"]
    assert event["type"] == 3 and event["message"]["components"][0]["components"] == [button]
    base = f"{server.api_base}/interactions/{record.id}/{record.token}/callback"
    assert (await call(http, "POST", base, {"type": 6}))[0] == 204
    hook = f"{server.api_base}/webhooks/{server.application_id}/{record.token}"
    _, edited, _ = await call(http, "PATCH", f"{hook}/messages/@original", {"components": []})
    assert edited["id"] == sent["id"] and edited["components"] == []

    server.push_button(USER, "coach:forged", int(sent["id"]))
    forged = (await gw.frame())["d"]["message"]["components"]
    assert forged[-1]["components"][0]["custom_id"] == "coach:forged"
    await gw.ws.close()


def test_a_threaded_server_with_injected_rate_limits() -> None:
    server = FakeDiscordAPI(TOKEN)
    _, stop = server.run_in_thread()
    try:
        server.rate_limit_next("get_me", retry_after=0.1)

        async def fetch() -> list[int]:
            async with aiohttp.ClientSession() as session:
                return [(await call(session, "GET", f"{server.api_base}/users/@me"))[0]
                        for _ in range(2)]

        assert asyncio.run(fetch()) == [429, 200]
        [limited, _] = server.wait_for_sync("get_me", 2)
        assert limited.response["retry_after"] == 0.1
    finally:
        stop()


async def test_a_delayed_call_can_be_awaited_pending_and_ends_when_the_fake_stops() -> None:
    server = await FakeDiscordAPI(TOKEN).start()
    server.set_delay("get_me", 30)
    async with aiohttp.ClientSession() as http:
        request = asyncio.create_task(call(http, "GET", f"{server.api_base}/users/@me"))
        [pending] = await server.wait_for("get_me", include_pending=True)
        assert pending.status is None and not server.calls_to("get_me", ok_only=True)
        await server.stop()
        status, body, _ = await request
    # 503, not the delayed 200: stopping ended the wait instead of sitting it out
    assert status == 503 and body["code"] == 0


# --------------------------------------------------------------------------- discord.py


async def test_a_bare_discord_py_client_logs_in_reads_dms_and_answers(
        server: FakeDiscordAPI) -> None:
    old = Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY
    Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = server.api_base, yarl.URL(server.gateway_url)
    intents = discord.Intents.none()
    intents.dm_messages = True
    client = discord.Client(intents=intents)
    heard: asyncio.Queue[discord.Message] = asyncio.Queue()

    @client.event
    async def on_message(message: discord.Message) -> None:
        await heard.put(message)

    try:
        await client.login(TOKEN)
        runner = asyncio.create_task(client.connect())
        await server.wait_for("gateway:ready")
        server.push_dm(USER, "hi there")
        message = await asyncio.wait_for(heard.get(), 5)
        assert message.content == "hi there" and isinstance(message.channel, discord.DMChannel)
        reply = await message.channel.send("hello back")
        assert reply.content == "hello back" and reply.author.id == server.bot_id

        server.disconnect_gateway(4000)  # a dropped connection: discord.py resumes by itself
        await server.wait_for("gateway:resume")
        server.push_dm(USER, "still there?")
        assert (await asyncio.wait_for(heard.get(), 5)).content == "still there?"
        assert len(server.identifies) == 1
        await client.close()
        await runner
    finally:
        Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = old
