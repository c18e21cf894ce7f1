"""After a restart: answer whom the previous run left without their whole reply.

Why: an update is confirmed to Telegram once the core has committed it, but its reply may
still be waiting in the outbox when the process dies (kill -9, a power cut after the ledger's
last write). The ledger (adapters/telegram/ledger.py) says who: at start, everyone whose
update was committed gets their current step again, exactly as it was sent, after "Welcome
back" (`Coach.greet_returning`); a button press among them is answered if Telegram still
knows it. Updates taken but not committed come again from Telegram; if the core then finds
them committed after all (a duplicate), the step is shown then. Each person gets it once,
however many of their updates were left, and nobody whose last update erased them (/delete)
gets a new session.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from adapters.lifecycle import Stopping
from adapters.telegram.handling import HANDLE_ATTEMPTS, HANDLE_RETRY_PAUSE
from adapters.telegram.ledger import Ledger, Taken
from adapters.telegram.sending import ReplySender
from bot.messages import Incoming, Reply, UserKey
from bot.pipeline import Coach
from bot.store.base import StoreClosed

log = logging.getLogger("coach.telegram")

# A button press left unanswered by a crash is answered after the restart if it was taken
# less than this long ago (Telegram forgets a query after some minutes; too old is ignored).
CALLBACK_ANSWER_WINDOW = 600.0
# A second delivery of an update another process took (a shared ledger): how long to wait for
# that process to answer it, or to be found dead (then this one shows the step again).
SETTLE_WAIT = 20.0


@dataclass
class _Resend:
    """One person's step shown again after a restart, and the updates it answers."""

    ledger: Ledger
    ids: list[int]
    delivered: bool = False

    def finish(self) -> None:
        self.delivered = True
        for update_id in self.ids:
            self.ledger.sent(update_id)
        self.ids.clear()


class _NotSaved(Exception):
    """The core could not commit a step the adapter asked for itself (a step shown again)."""


class Recovery:
    """The previous run's unanswered updates, and the steps shown again for them."""

    def __init__(self, coach: Coach, ledger: Ledger, sender: ReplySender,
                 stopping: Stopping) -> None:
        self.coach = coach
        self.ledger = ledger
        self.sender = sender
        self.stopping = stopping
        self._resending: set[asyncio.Task[None]] = set()
        self._recovered: dict[int, Taken] = {}  # update id -> row from the previous run
        self._resends: dict[int, _Resend] = {}  # user id -> their step shown again
        self._carried: dict[int, list[int]] = {}  # user id -> ids their next reply answers

    @property
    def idle(self) -> bool:
        """No step being shown again."""
        return not self._resending

    async def resume(self) -> None:
        """Updates the previous run took but did not answer in full. Committed ones will not
        come again: show those people their current step now. The others will be delivered
        again; if the core then finds them committed after all, the step is shown then."""
        rows = await self.ledger.recovered()
        if not rows:
            return
        waiting: dict[int, list[Taken]] = {}
        now = time.time()
        for row in rows:
            self._recovered[row.update_id] = row
            if row.committed:
                waiting.setdefault(row.user_id, []).append(row)
                # The press will not come again, so its answer is now or never (the spinner
                # on the person's button); one taken long ago Telegram has forgotten.
                if row.query_id and now - row.at < CALLBACK_ANSWER_WINDOW:
                    self.sender.answer_query(row.query_id, None)
        log.info("event=unanswered_updates taken=%d committed=%d", len(rows),
                 sum(len(r) for r in waiting.values()))
        for user_id, taken in waiting.items():
            resend = self._resends[user_id] = _Resend(self.ledger,
                                                      [row.update_id for row in taken])
            task = asyncio.create_task(self._resend(taken[0].chat_id, user_id, resend))
            self._resending.add(task)
            task.add_done_callback(self._resending.discard)

    def adopted(self, rows: list[Taken]) -> None:
        """Updates a process which died had taken (a shared ledger), delivered again to this
        one: if the core finds one committed, its person gets their step again."""
        for row in rows:
            self._recovered[row.update_id] = row
            self._forget_delivered(row.user_id)

    def _forget_delivered(self, user_id: int) -> None:
        """A step shown again earlier answered what was left then, not what a process that
        died since left: that needs its own."""
        resend = self._resends.get(user_id)
        if resend is not None and resend.delivered:
            del self._resends[user_id]

    async def sweep(self, every: float) -> None:
        """With a shared ledger: take over, every `every` seconds until the bot stops, the
        committed updates that processes which died left without their reply (Telegram will
        not send those again), as `resume` does at start."""
        while not self.stopping.is_set():
            await self.stopping.pause(every)
            if self.stopping.is_set():
                return
            try:
                await self.resume()
            except StoreClosed:
                return
            except Exception as error:  # the next sweep tries again
                log.warning("event=sweep_failed error=%s", type(error).__name__)

    async def finish(self) -> None:
        """Wait for the steps being shown again (at a stop)."""
        if self._resending:
            await asyncio.gather(*self._resending, return_exceptions=True)

    def carried(self, user_id: int) -> list[int]:
        """Recovered updates of this person that their reply now being sent answers too."""
        return self._carried.pop(user_id, [])

    async def after_duplicate(self, update_id: int, message: Incoming, superseded: bool
                              ) -> tuple[Reply | None, list[int], Callable[[], None] | None]:
        """A private update the core had already committed: send nothing, unless it is one
        the previous run took and did not answer in full. Returns (the step to show again,
        the update ids a reply answers, what to call once that step is out)."""
        user_id = int(message.user.user_id)
        if self._recovered.pop(update_id, None) is None:
            settled = await self.ledger.settle(update_id, SETTLE_WAIT)
            if settled is True:
                return None, [update_id], None  # a plain second delivery: it was answered
            if settled is False:  # another process is still answering it
                return None, [], None
            self._forget_delivered(user_id)  # a process died with it: this one answers
        resend = self._resends.get(user_id)
        if resend is not None:  # their step is (being) shown again already
            if resend.delivered:
                return None, [update_id], None
            resend.ids.append(update_id)
            return None, [], None
        if superseded:  # a later update of theirs in this batch answers it
            self._carried.setdefault(user_id, []).append(update_id)
            return None, [], None
        resend = self._resends[user_id] = _Resend(
            self.ledger, [update_id, *self._carried.pop(user_id, [])])
        reply = await self._step_again(message.user)
        if reply is None:
            resend.finish()
            return None, [], None
        log.info("event=reply_resent user=%s updates=1", message.user.key)
        return reply, [], resend.finish

    async def _resend(self, chat_id: int, user_id: int, resend: _Resend) -> None:
        user = UserKey("telegram", str(user_id))
        try:
            reply = await self._step_again(user)
        except StoreClosed:
            return
        if reply is None:
            resend.finish()
            return
        log.info("event=reply_resent user=%s updates=%d", user.key, len(resend.ids))
        self.sender.send(chat_id, True, reply, None, resend.finish)

    async def _step_again(self, user: UserKey) -> Reply | None:
        """`_current_step`, tried as often as `Coach.handle` when it fails; None when there is
        nothing to show or it kept failing (the failure is logged: their next message gets
        their step anyway)."""
        for attempt in range(1, HANDLE_ATTEMPTS + 1):
            try:
                return await self._current_step(user)
            except StoreClosed:  # stopping: the ledger keeps them for the next start
                raise
            except _NotSaved:
                log.warning("event=resend_failed user=%s attempt=%d reason=not_saved",
                            user.key, attempt)
            except Exception as error:
                log.error("event=resend_failed user=%s attempt=%d error=%s", user.key, attempt,
                          type(error).__name__, exc_info=error)
            if attempt < HANDLE_ATTEMPTS:
                await self.stopping.pause(HANDLE_RETRY_PAUSE * 2 ** (attempt - 1))
        return None

    async def _current_step(self, user: UserKey) -> Reply | None:
        """The person's step again, exactly as it was sent, after "Welcome back"; None when
        they have no session (their last update erased it: there is nothing to show).
        Raises _NotSaved when the core could not commit the greeting: a "send it again" is
        no answer to something the person did not just send."""
        reply = await self.coach.greet_returning(user)
        if reply is None:
            log.info("event=resend_skipped user=%s reason=no_session", user.key)
            return None
        if not reply.saved:
            raise _NotSaved(user.key)
        return reply
