"""Flood control (adapters/telegram/outbox.py): one paced lane per chat, a global bucket, 429s
waited out in their own chat only, and timeouts retried once only when that is safe."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from telegram.error import Forbidden, RetryAfter, TimedOut

from adapters.telegram.outbox import Outbox, Pacing, TokenBucket, never_arrived, retry_seconds
from adapters.telegram.transport import NotSent
from bot.store.url import open_store
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.telegram_harness import (
    ALICE,
    BOB,
    FAST,
    INTRO,
    RETRY_AFTER_WARNING,
    TEXTS,
    WAIT,
    running,
    texts,
)

pytest_plugins = ["tests.telegram_fixtures"]


@RETRY_AFTER_WARNING
async def test_a_429_storm_delays_only_its_own_chat(server: FakeTelegramAPI,
                                                    tmp_path: Path) -> None:
    """Alice's chat is flooded (every send to her gets 429) for as long as the test keeps it
    so: her lane waits out one retry_after after another, and Bob is answered meanwhile. When
    the flood ends, her messages go out, in order."""
    patient = replace(FAST, max_flood_waits=10_000)  # the flood lasts as long as the test says
    async with running(server, open_store(str(tmp_path / "flood.db")), pacing=patient) as tg:
        await tg.begin(ALICE)
        await tg.begin(BOB)
        mark, alice_before = len(server.calls), len(tg.messages(ALICE))
        server.flood_chat(ALICE, retry_after=1)
        server.push_command(ALICE, "start", "boundaries")  # one message, with buttons
        await server.wait_for(lambda c: c.method == "sendMessage" and c.status == 429,
                              after=mark)
        bob_reply = await tg.send(BOB, "/help")  # while Alice's lane waits out her 429s
        assert bob_reply[0].text.startswith(TEXTS.get("help")[:20])
        to_alice = [c for c in server.calls[mark:]
                    if c.method == "sendMessage" and c.params["chat_id"] == ALICE]
        assert to_alice and not any(c.ok for c in to_alice), "Alice's came first"
        server.unflood_chat(ALICE)
        alice = await tg.until_keyboard(ALICE, alice_before)
        assert texts(alice) == INTRO
        statuses = [c.status for c in server.calls[mark:]
                    if c.method == "sendMessage" and c.params["chat_id"] == ALICE]
        floods = statuses.count(429)
        assert floods >= 1 and statuses == [429] * floods + [200]  # one message
        assert tg.bot.outbox.flood_waits == floods


def test_the_token_bucket_gives_a_burst_then_spaces_by_the_rate() -> None:
    """The pacing arithmetic on a clock the test moves: exact, whatever the machine does."""
    now = [1000.0]
    bucket = TokenBucket(rate=20.0, burst=2, clock=lambda: now[0])
    assert [round(bucket.reserve(), 9) for _ in range(6)] == [0, 0, 0.05, 0.1, 0.15, 0.2]
    now[0] += 1.0  # refilled, but never past the burst
    assert bucket.full()
    assert [round(bucket.reserve(), 9) for _ in range(3)] == [0, 0, 0.05]
    bucket.empty()  # after a 429 Telegram's count matters: start from nothing
    assert round(bucket.reserve(), 9) == 0.1
    now[0] += 0.05
    assert round(bucket.reserve(), 9) == 0.1


async def test_pacing_spaces_one_chat_and_the_global_bucket_caps_all() -> None:
    """Real sleeps, so only what holds on any machine: never sooner than the rate allows,
    and a chat's paced sends do not hold up another chat."""
    sent: list[tuple[int, float]] = []

    def recorder(chat: int) -> Callable[[], asyncio.Future[None]]:
        async def call() -> None:
            sent.append((chat, time.monotonic()))
        return call  # type: ignore[return-value]

    outbox = Outbox(Pacing(per_chat=20.0, chat_burst=2, overall=None))
    for _ in range(6):
        outbox.send(1, recorder(1), "sendMessage")
    outbox.send(2, recorder(2), "sendMessage")
    assert await outbox.drain(WAIT)
    chat_one = [t for chat, t in sent if chat == 1]
    assert [chat for chat, _ in sent].index(2) < 3  # not behind chat 1's paced sends
    assert chat_one == sorted(chat_one)
    assert chat_one[-1] - chat_one[0] >= 0.18  # burst of 2, then 20/s: 4 x 50 ms

    sent.clear()
    outbox = Outbox(Pacing(per_chat=None, overall=50.0, overall_burst=1))
    started = time.monotonic()
    for chat in range(6):
        outbox.send(chat, recorder(chat), "sendMessage")
    assert await outbox.drain(WAIT)
    assert max(t for _, t in sent) - started >= 0.09  # 6 sends at 50/s across chats


async def test_timeouts_are_logged_and_retried_once_when_that_is_safe(
        caplog: pytest.LogCaptureFixture) -> None:
    """Not sent (connecting, or no free connection): retried once. Sent, no answer: it may have
    arrived, so a message is not sent again (it could show twice), but taking a keyboard off
    is (twice is harmless). Each timeout is logged with the call and chat id only."""
    caplog.set_level(logging.INFO, logger="coach.telegram.outbox")
    attempts: dict[str, int] = {}

    def failing(name: str, *errors: Exception) -> Callable[[], asyncio.Future[None]]:
        queue = list(errors)

        async def call() -> None:
            attempts[name] = attempts.get(name, 0) + 1
            if queue:
                raise queue.pop(0)
        return call  # type: ignore[return-value]

    outbox = Outbox(Pacing.off())
    outbox.send(1, failing("unsent", NotSent("connect")), "sendMessage")
    outbox.send(2, failing("read", TimedOut()), "sendMessage")
    outbox.send(3, failing("edit", TimedOut()), "editMessageReplyMarkup")
    outbox.send(4, failing("twice", NotSent("connect"), NotSent("connect")), "sendMessage")
    assert await outbox.drain(5)
    assert attempts == {"unsent": 2, "read": 1, "edit": 2, "twice": 2}
    logged = caplog.text
    assert "event=send_timed_out call=sendMessage chat=1 phase=connect attempt=1 retry=yes" \
        in logged
    assert "event=send_timed_out call=sendMessage chat=2 phase=read attempt=1 retry=no" in logged
    assert "event=send_timed_out call=editMessageReplyMarkup chat=3 phase=read attempt=1 " \
        "retry=yes" in logged
    assert "event=send_timed_out call=sendMessage chat=4 phase=connect attempt=2 retry=no" \
        in logged
    assert outbox.failures == 2  # chat 2's message and chat 4's, each logged as send_failed


@RETRY_AFTER_WARNING
async def test_a_chat_that_blocked_the_bot_drops_its_queue_but_keeps_its_markers() -> None:
    """Forbidden (blocked by the user, kicked from the group): what is queued for that chat
    is dropped, and whoever waits for the reply to be out still hears that it is over."""
    calls: list[str] = []
    done = asyncio.Event()

    async def refused() -> None:
        calls.append("refused")
        raise Forbidden("Forbidden: bot was blocked by the user")

    async def never() -> None:
        calls.append("never")

    outbox = Outbox(Pacing.off())
    outbox.send(1, refused, "sendMessage")
    outbox.send(1, never, "sendMessage")
    outbox.after(1, done.set)
    await asyncio.wait_for(done.wait(), WAIT)
    assert calls == ["refused"] and outbox.failures == 1
    assert await outbox.drain(WAIT) and outbox.idle


@RETRY_AFTER_WARNING
def test_what_surely_never_reached_telegram() -> None:
    assert never_arrived(RetryAfter(3)) and never_arrived(NotSent("connect"))
    assert not never_arrived(TimedOut()) and not never_arrived(Forbidden("blocked"))
    assert retry_seconds(RetryAfter(3)) == 3.0
