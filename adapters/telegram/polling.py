"""Long polling: getUpdates in a loop, each batch confirmed only once it is handled.

Why the adapter polls itself instead of PTB's Updater: the Updater confirms a batch with its
next poll before the batch is handled, so a crash in between would lose it. Here the offset
moves past an update only once the core has committed it (or the person was told it did not
go through); an update left for Telegram to send again stops the offset before it.

The updates of one batch are handled concurrently, different people in parallel; each task's
first await is `Coach.handle`, which queues on the core's per-user lock, so one person's
updates are handled in arrival order. The next poll waits for the slowest commit of the batch,
never for replies (those wait in the outbox).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from telegram import Bot, Update
from telegram.error import Conflict, RetryAfter, TelegramError

from adapters.lifecycle import Stopping
from adapters.telegram.handling import Outcome, UpdateHandler
from adapters.telegram.outbox import retry_seconds
from adapters.telegram.translate import ALLOWED_UPDATES, to_incoming
from bot.store.base import StoreClosed

log = logging.getLogger("coach.telegram")

UPDATES_PER_POLL = 100  # Telegram's maximum for getUpdates
POLL_BACKOFF_MAX = 30.0  # seconds between getUpdates attempts while Telegram is unreachable
REDELIVERY_PAUSE = 1.0  # seconds before polling again for an update left unconfirmed
BATCH_RETRY_PAUSE = 1.0  # seconds before polling again when a batch could not be noted


class _Stopping(Exception):
    """The bot is stopping: no more getUpdates."""


class Poller:
    """The getUpdates loop of one bot."""

    def __init__(self, bot: Bot, handler: UpdateHandler, stopping: Stopping, *,
                 timeout: float) -> None:
        self.bot = bot
        self.handler = handler
        self.stopping = stopping
        self.timeout = timeout

    async def run(self) -> None:
        """Poll until the bot stops, then confirm the last batch handled (as PTB does)."""
        offset: int | None = None
        confirmed: int | None = None
        failures = 0
        while not self.stopping.is_set():
            try:
                updates = await self._get_updates(offset, int(self.timeout))
            except _Stopping:
                break
            except RetryAfter as error:
                await self.stopping.pause(retry_seconds(error))
                continue
            except Exception as error:  # Telegram unreachable, 409, 5xx: wait and try again
                failures += 1
                _polling_error(error)
                await self.stopping.pause(min(POLL_BACKOFF_MAX, 0.5 * 2 ** (failures - 1)))
                continue
            failures = 0
            confirmed = offset
            if not updates:
                continue
            try:
                offset = await self._handle_batch(updates)
            except Exception as error:  # the ledger cannot be written: keep the offset, so
                # Telegram sends the batch again (the core skips what it committed)
                log.error("event=batch_failed updates=%d error=%s", len(updates),
                          type(error).__name__, exc_info=error)
                await self.stopping.pause(BATCH_RETRY_PAUSE)
                continue
            if offset <= updates[-1].update_id:  # some left for Telegram to send again
                await self.stopping.pause(REDELIVERY_PAUSE)
        if offset is not None and offset != confirmed:
            with contextlib.suppress(Exception):
                await self.bot.get_updates(offset=offset, timeout=0, limit=1,
                                           allowed_updates=ALLOWED_UPDATES)

    async def _get_updates(self, offset: int | None, timeout: int) -> list[Update]:
        """One long poll; raises _Stopping (the poll cancelled) when the bot stops meanwhile."""
        call = asyncio.ensure_future(self.bot.get_updates(
            offset=offset, limit=UPDATES_PER_POLL, timeout=timeout,
            allowed_updates=ALLOWED_UPDATES))
        stop = asyncio.ensure_future(self.stopping.wait())
        try:
            await asyncio.wait((call, stop), return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        if not call.done():
            call.cancel()
            with contextlib.suppress(BaseException):
                await call
            raise _Stopping
        return list(call.result())

    async def _handle_batch(self, updates: list[Update]) -> int:
        """Handle one batch up to the core's commits; returns the offset that confirms it, or
        that stops before the first update to be sent again (the core skips those after it
        that it committed, and the handler those the person was asked to repeat)."""
        messages = [to_incoming(update) for update in updates]
        await self.handler.take(updates, messages)
        last: dict[str, int] = {}
        for update, message in zip(updates, messages, strict=True):
            if message is not None and message.private:
                last[message.user.user_id] = update.update_id
        # Created in order, each task's first await is Coach.handle: the per-user lock is
        # queued in the order of the batch.
        tasks = [asyncio.create_task(self.handler.process(update, message, superseded=(
            message is not None and last.get(message.user.user_id, -1) != update.update_id)))
            for update, message in zip(updates, messages, strict=True)]
        with self.handler.handling(len(tasks)):
            results = await asyncio.gather(*tasks, return_exceptions=True)
        await self.handler.ledger.flush()  # the commits are noted before the offset moves
        for update, result in zip(updates, results, strict=True):
            if isinstance(result, StoreClosed):  # stopping: leave it for the next run
                return update.update_id
            if result is Outcome.AGAIN:
                return update.update_id
            if isinstance(result, BaseException):  # the adapter's own fault, after the core
                log.error("event=update_failed update=%s error=%s", update.update_id,
                          type(result).__name__, exc_info=result)
        return updates[-1].update_id + 1


def _polling_error(error: BaseException) -> None:
    event = "polling_conflict" if isinstance(error, Conflict) else "polling_error"
    if isinstance(error, TelegramError):
        log.warning("event=%s error=%s", event, type(error).__name__)
    else:
        log.error("event=polling_error error=%s", type(error).__name__, exc_info=error)
