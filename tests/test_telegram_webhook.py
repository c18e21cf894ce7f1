"""Webhook mode (adapters/telegram/webhook.py): the secret checked, bad posts refused, and the
200 that lets Telegram forget an update sent only once the core has committed it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp

from adapters.telegram.webhook import SECRET_HEADER, WEBHOOK_MAX_CONNECTIONS
from bot.store.url import open_store
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.process_output import labels_and_names
from tests.telegram_harness import ALICE, BOB, TEXTS, WAIT, GatedDisk, free_port, labels, running

pytest_plugins = ["tests.telegram_fixtures"]


async def test_webhook_mode_checks_the_secret(server: FakeTelegramAPI, tmp_path: Path) -> None:
    port = free_port()
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
    port = free_port()
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


async def test_only_the_webhook_path_takes_updates(server: FakeTelegramAPI,
                                                   tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/hook/only-here"
    async with running(server, open_store(str(tmp_path / "p.db")), webhook_url=url,
                       listen="127.0.0.1", port=port, webhook_secret="s3cret-Value_4"):
        update = {"update_id": 4242, "message": {
            "message_id": 1, "date": 0, "text": "/help", "chat": {"id": BOB, "type": "private"},
            "from": {"id": BOB, "is_bot": False, "first_name": "Bob"}}}
        elsewhere = f"http://127.0.0.1:{port}/hook/elsewhere"
        assert (await server.post_webhook_update(elsewhere, update, "s3cret-Value_4"))[0] == 404
        assert (await server.post_webhook_update(url, update, "s3cret-Value_4"))[0] == 200
        await server.wait_until(lambda: bool(server.sent_messages(BOB)), timeout=WAIT)


async def test_the_webhooks_port_answers_healthz_and_metrics(server: FakeTelegramAPI,
                                                              tmp_path: Path) -> None:
    """A load balancer checks each replica where it takes updates; Prometheus scrapes there."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/telegram/hook"
    async with running(server, open_store(str(tmp_path / "h.db")), webhook_url=url,
                       listen="127.0.0.1", port=port, webhook_secret="s3cret-Value_5") as tg:
        await tg.send(ALICE, "/start")
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{port}/healthz") as response:
                assert response.status == 200
                assert await response.json() == {"status": "ok", "store": "ok", "flows": "ok"}
            async with session.get(f"http://127.0.0.1:{port}/metrics") as response:
                assert response.status == 200
                text = await response.text()
    assert 'coach_updates_total{outcome="replied",platform="telegram"} 1.0' in text
    assert str(ALICE) not in labels_and_names(text)
