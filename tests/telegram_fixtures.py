"""The Telegram adapter tests' fixtures, loaded as a plugin by the modules that use them
(`pytest_plugins = ["tests.telegram_fixtures"]`): a fake Bot API server in the test's loop, a
bot running on it, and a fake in a thread of its own for `coach telegram` subprocesses."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.store.url import open_store
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.telegram_harness import TOKEN, Harness, running


@pytest.fixture
async def server() -> AsyncIterator[FakeTelegramAPI]:
    async with FakeTelegramAPI(TOKEN, max_poll_wait=1.0) as fake:
        yield fake


@pytest.fixture
async def tg(server: FakeTelegramAPI, tmp_path: Path) -> AsyncIterator[Harness]:
    async with running(server, open_store(str(tmp_path / "coach.db"))) as harness:
        await server.wait_for("getUpdates", include_pending=True)
        yield harness


@pytest.fixture
def threaded_server() -> Iterator[FakeTelegramAPI]:
    server = FakeTelegramAPI(TOKEN, max_poll_wait=0.5)
    _, stop = server.run_in_thread()
    yield server
    stop()
