"""PTB's HTTP transport on aiohttp (adapters/telegram/transport.py): a timeout before the
request left is told apart from one while waiting for the answer, since only the first is
safe to send again."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from telegram.error import NetworkError, TimedOut

from adapters.telegram.transport import AiohttpRequest, NotSent
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.telegram_harness import TOKEN, WAIT, free_port

pytest_plugins = ["tests.telegram_fixtures"]


async def test_the_transport_tells_a_timeout_before_sending_from_one_after(
        server: FakeTelegramAPI) -> None:
    """The fake holds every sendMessage unanswered, so the one connection stays taken for as
    long as the test needs, and an answer never comes: no race with a timer."""
    server.hold("sendMessage")
    request = AiohttpRequest(pool=1, read_timeout=WAIT, connect_timeout=WAIT, pool_timeout=WAIT)
    await request.initialize()
    url = server.method_url("sendMessage")
    try:
        first = asyncio.create_task(request.do_request(url, "POST"))  # takes the connection
        await server.wait_for("sendMessage", include_pending=True)
        with pytest.raises(NotSent):  # no free connection: it never left
            await request.do_request(url, "POST", connect_timeout=0.1, pool_timeout=0.1)
        first.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await first
        with pytest.raises(TimedOut) as waited:  # sent, and no answer in time
            await request.do_request(url, "POST", read_timeout=0.2)
        assert not isinstance(waited.value, NotSent)
        assert len(server.calls_to("sendMessage")) == 2  # the one that timed out did arrive
    finally:
        await request.shutdown()


async def test_a_call_goes_through_and_a_failure_names_no_url(
        server: FakeTelegramAPI) -> None:
    """A call goes through (an upload too: the export in test_telegram_sending.py); a failed
    connection says what failed without the URL, which holds the token."""
    request = AiohttpRequest()
    await request.initialize()
    try:
        status, body = await request.do_request(server.method_url("getMe"), "POST")
        assert status == 200 and b'"is_bot":true' in body.replace(b" ", b"")
        nobody = f"http://127.0.0.1:{free_port()}/bot{TOKEN}/getMe"
        with pytest.raises(NetworkError) as failed:
            await request.do_request(nobody, "POST", connect_timeout=WAIT)
        assert TOKEN not in str(failed.value) and "aiohttp." in str(failed.value)
    finally:
        await request.shutdown()
    with pytest.raises(RuntimeError, match="not initialized"):
        await request.do_request(server.method_url("getMe"), "POST")
