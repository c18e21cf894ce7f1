"""The status endpoint (adapters/status.py): /healthz and /metrics over real HTTP on
127.0.0.1, for a coach in this process, then for `coach telegram` and `coach discord`
started with a status port (the Telegram webhook's own port: tests/test_telegram_webhook.py).

Stores that fail their ping as the test says stand in for a database that is away; the
PostgreSQL store's own ping against a stopped server is in tests/test_postgres.py."""

from __future__ import annotations

import argparse
import asyncio
import logging
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import SimpleNamespace

import aiohttp
import pytest

from adapters import status
from adapters.lifecycle import ConfigError
from adapters.status import Health, StatusOptions, StatusServer, status_options
from bot.flowlang.catalog import Catalog
from bot.pipeline import Coach
from bot.store.base import StoreUnavailable
from bot.store.memory import MemoryStore
from bot.store.sqlite import SQLiteStore
from tests.conftest import REPO, Chat
from tests.fakes.discord_api import FakeDiscordAPI
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.process_output import Output, get, health, labels_and_names, sample, until
from tests.telegram_harness import ALICE, command_env, free_port, reply_to, start_command
from tests.test_discord_adapter import _env as discord_env
from tests.test_discord_adapter import _shown_with_buttons
from tests.test_discord_adapter import threaded_server as discord_fake  # noqa: F401 (fixture)

pytest_plugins = ["tests.telegram_fixtures"]

WAIT = 60.0  # a safety net against a hang, never a measure of speed


class PingStore(MemoryStore):
    """A memory store whose ping fails as the test says: `failure` raised, or `hang`."""

    failure: BaseException | None = None
    hang = False

    async def ping(self) -> None:
        if self.hang:
            await asyncio.Event().wait()
        if self.failure is not None:
            raise self.failure


@asynccontextmanager
async def serving(coach: Coach) -> AsyncIterator[str]:
    server = StatusServer(coach, StatusOptions(port=free_port()))
    await server.start()
    try:
        yield f"http://127.0.0.1:{server.options.port}"
    finally:
        await server.stop()


async def fetch(url: str) -> tuple[int, str, str]:
    """(status, body, content type)."""
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.text(), response.headers["Content-Type"]


async def test_healthz_is_ok_while_the_store_answers_and_the_flows_are_loaded(
        coach: Coach) -> None:
    async with serving(coach) as base:
        code, body, kind = await fetch(base + "/healthz")
        assert code == 200 and kind.startswith("application/json")
        assert body == '{"status": "ok", "store": "ok", "flows": "ok"}'
        async with aiohttp.ClientSession() as session, session.head(base + "/healthz") as head:
            assert head.status == 200  # a balancer may probe with HEAD


async def test_metrics_are_this_coachs_in_prometheus_text(coach: Coach) -> None:
    await Chat(coach, platform="telegram").send("/start quiz")
    async with serving(coach) as base:
        code, body, kind = await fetch(base + "/metrics")
    assert code == 200 and kind.startswith("text/plain") and "version=0.0.4" in kind
    assert sample(body, "coach_updates_total", platform="telegram", outcome="replied") == 1
    assert sample(body, "process_cpu_seconds_total") > 0  # the process too, for the operator


@pytest.mark.parametrize(("failure", "said"), [
    (StoreUnavailable("busy"), "busy"),
    (RuntimeError("postgresql://coach:hunter2@db/coach said no"), "error"),
    (None, "timeout")])
async def test_a_store_that_does_not_answer_is_503_naming_the_part(
        catalog: Catalog, failure: BaseException | None, said: str,
        caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    store = PingStore()
    store.failure, store.hang = failure, failure is None
    monkeypatch.setattr(status, "PING_TIMEOUT_S", 0.05)  # the hanging ping's turn comes soon
    caplog.set_level(logging.INFO, logger="coach.status")
    async with serving(Coach(catalog, store)) as base:
        for _ in range(3):
            code, body, _ = await fetch(base + "/healthz")
            assert code == 503
            assert body == f'{{"status": "failing", "store": "{said}", "flows": "ok"}}'
        store.failure, store.hang = None, False
        assert (await fetch(base + "/healthz"))[0] == 200
    logged = [record.getMessage() for record in caplog.records]
    assert logged.count(f"event=health_failing store={said} flows=ok") == 1  # once, not a probe
    assert logged.count("event=health_ok") == 1
    assert "hunter2" not in body and "Traceback" not in body and "hunter2" not in caplog.text


async def test_a_closed_store_and_missing_flows_fail_the_check(catalog: Catalog,
                                                                tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "closed.db")
    coach = Coach(catalog, store)
    assert await Health(coach).check() == {"store": "ok", "flows": "ok"}
    await store.close()
    assert await Health(coach).check() == {"store": "closed", "flows": "ok"}
    empty = SimpleNamespace(ping=MemoryStore().ping, catalog=SimpleNamespace(flows={}, home="menu"))
    assert await Health(empty).check() == {"store": "ok", "flows": "not_loaded"}  # type: ignore[arg-type]


def test_the_port_comes_from_the_command_line_or_the_environment() -> None:
    assert status_options({}) == StatusOptions(None, "127.0.0.1")  # off unless asked for
    env = {"COACH_STATUS_PORT": " 9100 ", "COACH_STATUS_LISTEN": "0.0.0.0"}
    assert status_options(env) == StatusOptions(9100, "0.0.0.0")
    given = argparse.Namespace(status_port=9200, status_listen="::1")
    assert status_options(env, given) == StatusOptions(9200, "::1")
    for bad in ("0", "65536", "http", "91 00"):
        with pytest.raises(ConfigError, match="COACH_STATUS_PORT must be a port number"):
            status_options({"COACH_STATUS_PORT": bad})


async def test_a_port_in_use_is_one_line_naming_it(coach: Coach) -> None:
    async with serving(coach) as base:
        port = int(base.rsplit(":", 1)[1])
        second = StatusServer(coach, StatusOptions(port=port))
        with pytest.raises(OSError) as raised:
            await second.start()
    assert f"cannot listen on 127.0.0.1:{port} for /healthz and /metrics" in str(raised.value)


# -- the commands ---------------------------------------------------------------------------


def test_coach_telegram_serves_its_status_on_the_port_set(threaded_server: FakeTelegramAPI,
                                                          tmp_path: Path) -> None:
    """Polling, with COACH_STATUS_PORT: one start line names the port; an update handled shows
    in /metrics; nothing of the person does."""
    port = free_port()
    env = {**command_env(threaded_server, tmp_path / "t.db"), "COACH_STATUS_PORT": str(port)}
    output = Output(start_command(env, "--log-level", "INFO"))
    try:
        found = output.wait_for(r"event=status_started listen=(\S+) port=(\d+)")
        assert found.groups() == ("127.0.0.1", str(port))
        base = f"http://127.0.0.1:{port}"
        assert health(base) == (200, {"status": "ok", "store": "ok", "flows": "ok"})
        reply_to(threaded_server, lambda: threaded_server.push_command(ALICE, "start"))
        metrics = lambda: get(base + "/metrics")[1]  # noqa: E731
        until(lambda: sample(metrics(), "coach_replies_sent_total", platform="telegram") >= 1)
        text = metrics()
        assert sample(text, "coach_updates_total", platform="telegram", outcome="replied") == 1
        assert sample(text, "coach_store_commit_seconds_count", store="sqlite") >= 1
        assert str(ALICE) not in labels_and_names(text)
    finally:
        output.proc.terminate()
    out = output.finish()
    assert output.proc.returncode == 0, out
    assert out.count("event=status_started") == 1 and "Traceback" not in out


def test_coach_discord_serves_its_status_with_status_port(discord_fake: FakeDiscordAPI,  # noqa: F811
                                                          tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "--log-level", "INFO", "discord", "--status-port",
         str(port)], cwd=REPO, env=discord_env(discord_fake, tmp_path / "d.db"),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output = Output(proc)
    try:
        output.wait_for(rf"event=status_started listen=127\.0\.0\.1 port={port}")
        base = f"http://127.0.0.1:{port}"
        assert health(base)[0] == 200
        discord_fake.wait_for_sync("gateway:ready", timeout=WAIT)
        mark = len(discord_fake.calls)
        discord_fake.push_slash(ALICE, "start", {"flow": "boundaries"})
        _shown_with_buttons(discord_fake, mark)
        until(lambda: sample(get(base + "/metrics")[1], "coach_replies_sent_total",
                             platform="discord") >= 1)
        text = get(base + "/metrics")[1]
        assert sample(text, "coach_updates_total", platform="discord", outcome="replied") == 1
    finally:
        proc.terminate()
    out = output.finish()
    assert proc.returncode == 0, out
    assert "Traceback" not in out


def test_a_status_port_that_is_not_one_stops_the_command(tmp_path: Path) -> None:
    env = {**command_env(None, tmp_path / "b.db"), "COACH_STATUS_PORT": "metrics"}
    done = subprocess.run([sys.executable, "-m", "bot", "telegram"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=WAIT)
    assert done.returncode == 64, done.stderr
    assert done.stderr.startswith("coach: COACH_STATUS_PORT must be a port number")
    done = subprocess.run([sys.executable, "-m", "bot", "telegram", "--status-port", "0"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=WAIT)
    assert done.returncode == 2 and "--status-port" in done.stderr
