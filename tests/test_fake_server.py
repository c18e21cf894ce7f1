"""The plumbing both fake platforms share (tests/fakes/server.py), shown on both: holding a
call until the test lets it go (or drops it), waiting for calls still pending, and a fake in a
thread of its own. (Each fake's own behaviour is in test_fake_telegram_api.py and
test_fake_discord_api.py.)"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import aiohttp
import pytest

from tests.fakes.discord_api import FakeDiscordAPI
from tests.fakes.server import FakeServer
from tests.fakes.telegram_api import FakeTelegramAPI

TELEGRAM = "123456789:AAFakeTokenForTestsOnly_abcdefghijkl"
DISCORD = "MTAwMDAwMDAwMDAwMDAwMDAx.Gfake0.fake-token-for-tests-only_abcdefghijklmn"
WAIT = 60.0


async def _get(url: str, **headers: str) -> int:
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as response:
        await response.read()
        return response.status


async def test_a_held_discord_call_waits_for_release_or_is_dropped() -> None:
    """The Discord fake holds like the Telegram one (test_fake_telegram_api.py)."""
    async with FakeDiscordAPI(DISCORD) as server:
        url, auth = f"{server.api_base}/users/@me", {"Authorization": f"Bot {DISCORD}"}
        server.hold("get_me")
        request = asyncio.create_task(_get(url, **auth))
        [held] = await server.wait_for("get_me", include_pending=True, timeout=WAIT)
        assert held.held and held.status is None and server.unanswered() == [held]
        server.release("get_me")
        assert await asyncio.wait_for(request, WAIT) == 200
        server.hold("get_me")
        request = asyncio.create_task(_get(url, **auth))
        await server.wait_for(lambda c: c.name == "get_me" and c.held and c.status is None,
                              include_pending=True, timeout=WAIT)
        server.release("get_me", drop=True)
        assert await asyncio.wait_for(request, WAIT) == 502
        assert [c.status for c in server.calls_to("get_me")] == [200, 502]


@pytest.mark.parametrize(("make", "name", "path"), [
    (lambda: FakeTelegramAPI(TELEGRAM), "getMe", f"/bot{TELEGRAM}/getMe"),
    (lambda: FakeDiscordAPI(DISCORD), "get_me", "/api/v10/users/@me"),
], ids=["telegram", "discord"])
def test_both_fakes_serve_from_a_thread_and_hold_calls_there(
        make: Callable[[], FakeServer], name: str, path: str) -> None:
    """For subprocess tests: the fake runs its own loop in a thread, and a test without a
    loop waits with `wait_for_sync`."""
    fake = make()
    port, stop = fake.run_in_thread()
    got: list[int] = []
    try:
        assert fake.url == f"http://127.0.0.1:{port}"
        fake.hold(name)
        client = threading.Thread(target=lambda: got.append(asyncio.run(
            _get(fake.url + path, Authorization=f"Bot {DISCORD}"))))
        client.start()
        [held] = fake.wait_for_sync(name, include_pending=True, timeout=WAIT)
        assert held.held and held.status is None
        fake.release(name)
        client.join(WAIT)
        assert got == [200]
    finally:
        stop()
    stop()  # a second stop does nothing
