"""Flood control for outgoing Bot API calls: one FIFO lane per chat, one global token bucket.

Why: Telegram allows about one message a second in a chat (short bursts pass), about 20 a
minute in a group and about 30 a second in all; beyond that it answers 429 with
`retry_after`, and python-telegram-bot raises RetryAfter without retrying. Each chat gets
its own queue and worker, so a chat waiting out a 429 waits alone while other chats keep
sending, and its messages still arrive in order. Lanes disappear when empty, so idle users
cost nothing. Logs carry event names, chat ids and error classes, never message text.

Timeouts: a call that timed out before it reached Telegram (no connection, or none free in
the pool: `NotSent`) is retried once. A call that timed out waiting for the answer may have
been delivered: it is retried once only when doing it twice is harmless (taking a keyboard
off, answering a button press); a message is not sent again, because it could show twice.
Either way the timeout is logged, with the call and the chat id only.
"""

from __future__ import annotations

import asyncio
import datetime as dtm
import logging
import time
import warnings
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from telegram.error import (
    BadRequest,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.warnings import PTBDeprecationWarning

from adapters.telegram.transport import NotSent

log = logging.getLogger("coach.telegram.outbox")

ApiCall = Callable[[], Awaitable[Any]]  # one Bot API call, made when its turn comes
# Calls that do no harm when they reach Telegram twice.
IDEMPOTENT = frozenset({"editMessageReplyMarkup", "answerCallbackQuery"})
TIMEOUT_RETRIES = 1
TIMEOUT_PAUSE = 0.5  # seconds before the retry


@dataclass(frozen=True)
class Pacing:
    """Send rates; None turns a limit off. Defaults follow Telegram's published limits."""

    per_chat: float | None = 1.0  # messages per second, sustained, in a private chat
    chat_burst: int = 5
    per_group: float | None = 20 / 60
    group_burst: int = 3
    overall: float | None = 30.0
    overall_burst: int = 30
    max_flood_waits: int = 8  # 429s for one call before it is given up
    network_retries: int = 3
    timeout_retries: int = TIMEOUT_RETRIES

    @classmethod
    def off(cls) -> Pacing:
        """No pacing at all (429s are still waited out and retried)."""
        return cls(per_chat=None, per_group=None, overall=None)


class TokenBucket:
    """A token bucket that hands out reservations: callers sleep their own delay, in order."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic):
        self.rate = rate
        self.burst = float(max(1, burst))
        self.clock = clock
        self.tokens = self.burst
        self.stamp = clock()

    def reserve(self) -> float:
        """Take one token; return how long to wait before using it (0 when one is free)."""
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        self.tokens -= 1.0
        return 0.0 if self.tokens >= 0 else -self.tokens / self.rate

    def full(self) -> bool:
        return self.tokens + (self.clock() - self.stamp) * self.rate >= self.burst

    def empty(self) -> None:
        """After a 429 the server's count matters, not ours: start again from nothing."""
        self.tokens = min(self.tokens, 0.0)
        self.stamp = self.clock()


def never_arrived(error: Exception) -> bool:
    """Whether a call given up with `error` surely never reached Telegram: refused for flood
    control, or timed out before it was sent. Anything else may have arrived."""
    return isinstance(error, (RetryAfter, NotSent))


def retry_seconds(error: RetryAfter) -> float:
    """RetryAfter.retry_after is an int or a timedelta depending on PTB's settings."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = error.retry_after
    if isinstance(value, dtm.timedelta):
        return value.total_seconds()
    return float(value)


@dataclass
class _Job:
    call: ApiCall
    event: str
    paced: bool = True
    ephemeral: bool = False  # a chat action: pointless once a message is queued behind it
    marker: Callable[[], None] | None = None  # run in turn, not sent; kept when a chat goes
    on_error: Callable[[Exception], None] | None = None  # told when the call is given up


@dataclass
class _Lane:
    bucket: TokenBucket | None
    jobs: deque[_Job] = field(default_factory=deque)
    worker: asyncio.Task[None] | None = None


class Outbox:
    """Runs Bot API calls per chat in order, paced, retrying 429s after `retry_after`."""

    def __init__(self, pacing: Pacing | None = None) -> None:
        self.pacing = pacing or Pacing()
        self._lanes: dict[int, _Lane] = {}
        # A chat's bucket outlives its lane until it has refilled: a lane that empties and
        # comes back a moment later must not start with a fresh burst Telegram won't grant.
        self._buckets: dict[int, TokenBucket] = {}
        self._closed_lanes = 0
        self._overall = (TokenBucket(self.pacing.overall, self.pacing.overall_burst)
                         if self.pacing.overall else None)
        self._direct: set[asyncio.Task[None]] = set()
        self.flood_waits = 0
        self.failures = 0

    def send(self, chat_id: int, call: ApiCall, event: str, *, group: bool = False,
             paced: bool = True, ephemeral: bool = False,
             on_error: Callable[[Exception], None] | None = None) -> None:
        """Queue `call` behind this chat's earlier calls; never blocks. `on_error` hears why
        the call was given up, for callers that must know whether it reached Telegram."""
        lane = self._lanes.get(chat_id)
        if lane is None:
            lane = self._lanes[chat_id] = _Lane(self._bucket(chat_id, group))
        lane.jobs.append(_Job(call, event, paced, ephemeral, on_error=on_error))
        if lane.worker is None:
            lane.worker = asyncio.create_task(self._work(chat_id, lane))

    def after(self, chat_id: int, callback: Callable[[], None]) -> None:
        """Run `callback` once everything queued for this chat so far has been sent or given
        up (also when the chat blocked the bot); not when the outbox is abandoned at a stop."""
        async def nothing() -> None:
            return None

        lane = self._lanes.get(chat_id)
        if lane is None:
            callback()
            return
        lane.jobs.append(_Job(nothing, "marker", paced=False, marker=callback))

    @property
    def idle(self) -> bool:
        """Nothing queued and nothing being sent."""
        return not self._lanes and not self._direct

    def send_now(self, call: ApiCall, event: str) -> None:
        """Run `call` at once, outside any lane (callback answers must not wait in line)."""
        task = asyncio.create_task(self._attempt(None, _Job(call, event, paced=False)))
        self._direct.add(task)
        task.add_done_callback(self._direct.discard)

    async def drain(self, timeout: float) -> bool:
        """Wait until everything queued is sent; cancel what is left after `timeout`."""
        tasks = [lane.worker for lane in self._lanes.values() if lane.worker] + [*self._direct]
        if not tasks:
            return True
        _, left = await asyncio.wait(tasks, timeout=timeout)
        for task in left:
            task.cancel()
        if left:
            log.warning("event=outbox_abandoned chats=%d", len(left))
        await asyncio.gather(*left, return_exceptions=True)
        return not left

    # -- the worker ---------------------------------------------------------------------------

    def _bucket(self, chat_id: int, group: bool) -> TokenBucket | None:
        rate, burst = ((self.pacing.per_group, self.pacing.group_burst) if group
                       else (self.pacing.per_chat, self.pacing.chat_burst))
        if not rate:
            return None
        bucket = self._buckets.get(chat_id)
        if bucket is None:
            bucket = self._buckets[chat_id] = TokenBucket(rate, burst)
        return bucket

    def _lane_closed(self, chat_id: int, lane: _Lane) -> None:
        del self._lanes[chat_id]
        if lane.bucket is not None and lane.bucket.full():
            self._buckets.pop(chat_id, None)
        self._closed_lanes += 1
        if self._closed_lanes % 1024 == 0:  # now and then, forget buckets that refilled
            for chat in [c for c, b in self._buckets.items() if c not in self._lanes and b.full()]:
                del self._buckets[chat]

    async def _work(self, chat_id: int, lane: _Lane) -> None:
        try:
            while lane.jobs:
                job = lane.jobs[0]
                if job.marker is not None:
                    lane.jobs.popleft()
                    self._run_marker(job)
                    continue
                stale = job.ephemeral and len(lane.jobs) > 1
                if not stale and not await self._attempt(lane, job, chat_id):
                    # The chat is gone (it blocked us): drop the rest, but keep the markers.
                    lane.jobs = deque(j for j in lane.jobs if j.marker is not None)
                    continue
                lane.jobs.popleft()
        finally:
            lane.worker = None
            if self._lanes.get(chat_id) is lane:
                self._lane_closed(chat_id, lane)

    @staticmethod
    def _run_marker(job: _Job) -> None:
        assert job.marker is not None
        try:
            job.marker()
        except Exception:
            log.exception("event=outbox_marker_failed")

    async def _pace(self, lane: _Lane | None) -> None:
        if lane is not None and lane.bucket is not None:
            await _sleep(lane.bucket.reserve())
        if self._overall is not None:
            await _sleep(self._overall.reserve())

    async def _attempt(self, lane: _Lane | None, job: _Job, chat_id: int | None = None) -> bool:
        """Send one call; False when the chat can no longer be written to."""
        floods = errors = timeouts = 0
        while True:
            if job.paced:
                await self._pace(lane)
            try:
                await job.call()
                return True
            except RetryAfter as error:
                floods += 1
                self.flood_waits += 1
                wait = retry_seconds(error)
                log.warning("event=flood_wait call=%s chat=%s retry_after=%.1f attempt=%d",
                            job.event, chat_id, wait, floods)
                if job.ephemeral or floods > self.pacing.max_flood_waits:
                    return self._give_up(job, chat_id, error)
                if lane is not None and lane.bucket is not None:
                    lane.bucket.empty()
                await asyncio.sleep(wait)
            except Forbidden as error:  # blocked by the user, or kicked from the group
                self._give_up(job, chat_id, error)
                return False
            except TimedOut as error:  # before NetworkError, of which it is a subclass
                timeouts += 1
                unsent = isinstance(error, NotSent)
                again = (not job.ephemeral and timeouts <= self.pacing.timeout_retries
                         and (unsent or job.event in IDEMPOTENT))
                log.warning("event=send_timed_out call=%s chat=%s phase=%s attempt=%d "
                            "retry=%s", job.event, chat_id, "connect" if unsent else "read",
                            timeouts, "yes" if again else "no")
                if not again:
                    return self._give_up(job, chat_id, error)
                await asyncio.sleep(TIMEOUT_PAUSE)
            except BadRequest as error:  # sending it again won't help
                return self._give_up(job, chat_id, error)
            except NetworkError as error:
                errors += 1
                if job.ephemeral or errors > self.pacing.network_retries:
                    return self._give_up(job, chat_id, error)
                await asyncio.sleep(0.5 * 2 ** (errors - 1))
            except TelegramError as error:
                return self._give_up(job, chat_id, error)
            except Exception as error:  # a bug in one call must not stop the chat's lane
                log.exception("event=send_crashed call=%s chat=%s", job.event, chat_id)
                return self._give_up(job, chat_id, error)

    def _give_up(self, job: _Job, chat_id: int | None, error: Exception) -> bool:
        self.failures += 1
        description = getattr(error, "message", "")
        log.error("event=send_failed call=%s chat=%s error=%s description=%s", job.event,
                  chat_id, type(error).__name__, description[:120])
        if job.on_error is not None:
            try:
                job.on_error(error)
            except Exception:
                log.exception("event=outbox_error_callback_failed")
        return True


async def _sleep(seconds: float) -> None:
    if seconds > 0:
        await asyncio.sleep(seconds)
