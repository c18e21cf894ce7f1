"""One update, from Telegram to the core's commit, with its reply queued.

Why apart: polling and the webhook hand updates over differently (a batch confirmed by the
next offset; one request answered 200), but what happens to each update is the same, and so
is when Telegram may forget it (`Outcome`): once the core has committed it, or once the person
was told it did not go through. Never before, so nothing taken is lost.

A step that could not be committed is never confirmed silently. When the store is busy or
full the core answers "that didn't go through, please send it again" (`Reply.saved` False):
that message is sent, and only once it is out is the update confirmed, so Telegram does not
hand it over again after the person was asked to repeat it (which would do it twice). When
`Coach.handle` raises, it is tried again a few times (`HANDLE_ATTEMPTS`), then the person gets
the same message; an update that always fails cannot stall the chat forever. If that message
surely never reached Telegram (flood control, no connection), the update is left unconfirmed
and Telegram sends it again, a bounded number of times (`REDELIVERIES`).

Order: no await comes before `Coach.handle`, which queues on the core's per-user FIFO lock, so
one person's updates are handled in the order the handling tasks were made; the core skips
update ids it has seen (also across restarts).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator
from enum import Enum
from typing import TYPE_CHECKING

from telegram import CallbackQuery, Update

from adapters.lifecycle import Stopping
from adapters.telegram.ledger import Ledger, Taken
from adapters.telegram.sending import ReplySender
from adapters.telegram.translate import addressed
from bot.lru import BoundedLRU
from bot.messages import Incoming, Reply
from bot.pipeline import Coach
from bot.store.base import StoreClosed

if TYPE_CHECKING:
    from adapters.telegram.recovery import Recovery

log = logging.getLogger("coach.telegram")

# Coach.handle raising (a bug, or a fault that passes): tries in all, the pause before the
# second doubling each time; then the person is told it did not go through.
HANDLE_ATTEMPTS = 3
HANDLE_RETRY_PAUSE = 0.5
# Times an update is left for Telegram to send again because the "not saved" message surely
# never reached Telegram; after that it is confirmed anyway, so it cannot come back forever.
REDELIVERIES = 3
SETTLED_REMEMBERED = 4096  # updates confirmed without a commit, skipped if they come again
NOT_SAVED = "not_saved"  # the core's "that didn't go through, please send it again"


class Outcome(Enum):
    """What became of one update: whether Telegram may forget it."""

    DONE = "done"  # committed, or the person was told it did not go through: confirm it
    AGAIN = "again"  # not handled: leave it unconfirmed, so Telegram sends it again


def taken_rows(updates: list[Update], messages: list[Incoming | None]) -> list[Taken]:
    """The ledger's rows for updates about to be handled: private chats' only (a group
    hears a notice at most, nothing to answer again after a restart)."""
    return [Taken(update.update_id, update.effective_chat.id, int(message.user.user_id),
                  query_id=update.callback_query.id if update.callback_query else None)
            for update, message in zip(updates, messages, strict=True)
            if message is not None and message.private and update.effective_chat]


class UpdateHandler:
    """Hands updates to the core and their replies to the sender; says what Telegram may
    forget."""

    def __init__(self, coach: Coach, ledger: Ledger, sender: ReplySender,
                 recovery: Recovery, stopping: Stopping) -> None:
        self.coach = coach
        self.ledger = ledger
        self.sender = sender
        self.recovery = recovery
        self.stopping = stopping
        self.inflight = 0  # updates being handled
        # Updates confirmed without a commit (the person was told to send it again): handled
        # again they would be done twice, so a second delivery is only acknowledged.
        self._settled: BoundedLRU[int, bool] = BoundedLRU(SETTLED_REMEMBERED)
        self._redelivered: dict[int, int] = {}  # update id -> times left unconfirmed
        # With a shared ledger: update id -> done once the reply this process queued for it
        # is out (the webhook answers Telegram only then: see `reply_out`).
        self._replies: dict[int, asyncio.Future[None]] = {}

    @contextlib.contextmanager
    def handling(self, count: int) -> Iterator[None]:
        """Count `count` updates as being handled (the bot is not idle) while inside."""
        self.inflight += count
        try:
            yield
        finally:
            self.inflight -= count

    async def take(self, updates: list[Update], messages: list[Incoming | None]) -> None:
        """Note updates in the ledger before handling them; durable when this returns. Rows
        a process which died left for them are this one's to answer now."""
        self.recovery.adopted(await self.ledger.taken(taken_rows(updates, messages)))

    async def reply_out(self, update_id: int, timeout: float) -> bool:
        """With a shared ledger: wait (up to `timeout`) until the reply this process queued
        for the update is out and noted; whether it was in time. Several processes answer
        one bot's chats, and Telegram sends a chat's next update to any of them once this
        one is answered, so answering only now keeps each person's replies in order. (A
        second delivery of an update another process answers waited for that process in
        `Recovery.after_duplicate`.)"""
        if not self.ledger.shared:
            return True
        sending = self._replies.pop(update_id, None)
        if sending is not None:
            try:
                await asyncio.wait_for(sending, timeout)
            except TimeoutError:
                return False
        await self.ledger.flush()
        return True

    def _out_callback(self, update_id: int, then: Callable[[], None]) -> Callable[[], None]:
        """`then`, and (with a shared ledger) the reply counted as out for `reply_out`."""
        if not self.ledger.shared:
            return then
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._replies[update_id] = done

        def sent() -> None:
            then()
            if self._replies.get(update_id) is done:  # nobody waits for it any more
                del self._replies[update_id]
            if not done.done():
                done.set_result(None)

        return sent

    async def process(self, update: Update, message: Incoming | None, *,
                      superseded: bool = False) -> Outcome:
        """Handle one update up to the core's commit; its reply is queued when this returns
        (sent, when the step could not be committed). No await may come before
        `Coach.handle`: that keeps a person's updates in order. `superseded`: a later update
        of the same person is in the same batch (it will answer a recovered one)."""
        chat, query = update.effective_chat, update.callback_query
        if message is None or chat is None:
            self.sender.answer(query, None)
            return Outcome.DONE
        if not message.private and update.message is not None and not addressed(
                update.message, self.sender.bot.username, self.sender.bot.id):
            return Outcome.DONE
        if update.update_id in self._settled:  # they were asked to send it again
            self.sender.answer(query, None)
            self.ledger.sent(update.update_id)
            return Outcome.DONE
        typing = self.sender.typing_soon(chat.id) if message.private else None
        try:
            reply = await self._handle(update.update_id, message)
        except StoreClosed:
            self.sender.answer(query, None)
            raise
        finally:
            if typing is not None:
                typing.cancel()
        if reply is None:  # Coach.handle kept failing: nothing of it was kept
            if not message.private:  # a group hears nothing but the group notice
                self.sender.answer(query, None)
                return Outcome.DONE
            reply = Reply(parts=[self.coach.texts.get(NOT_SAVED)], saved=False)
        if not reply.saved:
            return await self._not_saved(update.update_id, chat.id, message.private, reply,
                                         query)
        self._redelivered.pop(update.update_id, None)
        if not message.private:
            self.sender.send(chat.id, False, reply, query, None)
            return Outcome.DONE
        user_id = int(message.user.user_id)
        ids, finish = [update.update_id], None
        if reply.duplicate:
            again, ids, finish = await self.recovery.after_duplicate(update.update_id, message,
                                                                     superseded)
            if again is not None:
                reply = again
        else:
            ids += self.recovery.carried(user_id)
        ledger = self.ledger

        def sent() -> None:
            for update_id in ids:
                ledger.sent(update_id)

        self.sender.send(chat.id, True, reply, query,
                         self._out_callback(update.update_id, finish or sent))
        self.ledger.committed(update.update_id)
        return Outcome.DONE

    async def _handle(self, update_id: int, message: Incoming) -> Reply | None:
        """`Coach.handle`, tried again when it raises: a fault that passes goes through on a
        later try, one that does not is given up after HANDLE_ATTEMPTS (None) instead of
        stalling the chat. StoreClosed (the bot is stopping) is not tried again. A try that
        raised committed nothing, so trying again cannot do the step twice."""
        for attempt in range(1, HANDLE_ATTEMPTS + 1):
            try:
                return await self.coach.handle(message)
            except StoreClosed:
                raise
            except Exception as error:
                log.error("event=handler_error update=%s attempt=%d error=%s", update_id,
                          attempt, type(error).__name__, exc_info=error)
            if attempt < HANDLE_ATTEMPTS:
                await self.stopping.pause(HANDLE_RETRY_PAUSE * 2 ** (attempt - 1))
        log.error("event=update_given_up update=%s attempts=%d", update_id, HANDLE_ATTEMPTS)
        return None

    async def _not_saved(self, update_id: int, chat_id: int, private: bool, reply: Reply,
                         query: CallbackQuery | None) -> Outcome:
        """Nothing of the step was kept, and the reply asks the person to send it again: send
        it and confirm the update only once it is out. Confirmed before, the update could be
        lost without a word; left for Telegram to send again after they were asked, it could
        be done twice. Only a message that surely never reached Telegram leaves the update
        unconfirmed, so it comes again (REDELIVERIES times at most)."""
        log.warning("event=not_saved update=%s", update_id)
        if not await self.sender.delivered(chat_id, private, reply, query):
            times = self._redelivered.get(update_id, 0) + 1
            if times <= REDELIVERIES:
                self._redelivered[update_id] = times
                log.warning("event=update_unconfirmed update=%s times=%d", update_id, times)
                return Outcome.AGAIN
            log.error("event=not_saved_unsent update=%s", update_id)
        self._redelivered.pop(update_id, None)
        self._settled.put(update_id, True)
        self.ledger.sent(update_id)
        return Outcome.DONE
