"""A ledger's notes written once the event loop is free: many notes, one transaction.

Why apart: both ledgers (the file of one process, the tables several share) note what
happened to an update from many places on the loop and write in the background; a failed
background write is only logged, because the update it concerned is answered again (by the
next start, or by another process), at least once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("coach.telegram")


class WriteSoon:
    """Calls `flush` once the loop is free after `soon`; `settle` waits for those calls."""

    def __init__(self, flush: Callable[[], Awaitable[None]]) -> None:
        self._flush = flush
        self._handle: asyncio.Handle | None = None
        self._running: set[asyncio.Task[None]] = set()

    def soon(self) -> None:
        if self._handle is None:
            self._handle = asyncio.get_running_loop().call_soon(self._start)

    def cancel(self) -> None:
        """The caller writes now itself: no background write needed for what is noted."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    async def settle(self) -> None:
        """Wait for the background writes under way."""
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)

    def _start(self) -> None:
        self._handle = None
        task = asyncio.get_running_loop().create_task(self._logged())
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _logged(self) -> None:
        try:
            await self._flush()
        except Exception as error:  # the update is answered again: at least once
            log.error("event=ledger_write_failed error=%s", type(error).__name__)
