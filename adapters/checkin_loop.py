"""The loop every adapter runs for check-ins: ask the core what is due, deliver each one,
and tell the core when a person can no longer be written to.

Why here and so small: the core decides what is due and commits it (the claim, so of several
processes sharing a store exactly one gets each check-in); an adapter only knows how to get a
message to a person and what its platform says when they blocked the bot. `tick` is one pass,
so tests drive it on events (a simulated clock, then `await tick()`), never on a timer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from enum import Enum

from bot.messages import Reply, UserKey
from bot.pipeline import Coach
from bot.store.base import StoreClosed

log = logging.getLogger("coach.checkins")

CHECK_EVERY_S = 30.0  # how often the core is asked; a check-in is at most this late


class Delivered(Enum):
    SENT = "sent"
    BLOCKED = "blocked"  # the person blocked the bot (Telegram 403, Discord 50007)
    FAILED = "failed"  # anything else: logged; it was committed as sent, like any reply


Deliver = Callable[[UserKey, Reply], Awaitable[Delivered]]


class CheckinLoop:
    """Asks `coach` for the check-ins due on `platform` every `interval` seconds (`only`: one
    person's, as the console has one) and hands each to `deliver`."""

    def __init__(self, coach: Coach, platform: str, deliver: Deliver, *,
                 interval: float = CHECK_EVERY_S, only: UserKey | None = None) -> None:
        self.coach = coach
        self.platform = platform
        self.deliver = deliver
        self.interval = interval
        self.only = only
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def tick(self) -> int:
        """One pass: every check-in due now, delivered; how many were sent."""
        try:
            due = await self.coach.due_checkins(self.platform, only=self.only)
        except StoreClosed:
            return 0
        except Exception as error:  # a failing pass must not end the loop
            log.warning("event=checkins_pass_failed error=%s", type(error).__name__)
            return 0
        sent = 0
        for user, reply in due:
            outcome = await self._deliver(user, reply)
            if outcome is Delivered.BLOCKED:
                log.info("event=checkin_blocked user=%s", user.key)
                await self.coach.stop_checkins(user, "blocked")
            elif outcome is Delivered.FAILED:
                log.warning("event=checkin_not_delivered user=%s", user.key)
            else:
                sent += 1
        return sent

    async def _deliver(self, user: UserKey, reply: Reply) -> Delivered:
        try:
            return await self.deliver(user, reply)
        except Exception as error:
            log.warning("event=checkin_delivery_failed user=%s error=%s", user.key,
                        type(error).__name__)
            return Delivered.FAILED

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while not self._stop.is_set():
            await self.tick()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.interval)

    async def stop(self) -> None:
        """No new pass starts; a pass delivering now finishes first."""
        self._stop.set()
        if self._task is not None:
            await self._task
            self._task = None
