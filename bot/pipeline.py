"""The path of one message: the person's turn, the stages, commit, then reply.

Adapters call `Coach.handle` with an Incoming and send the Reply it returns. A user's
messages are handled one at a time in arrival order; the session is committed before the
reply exists, so a reply is never sent for a step that was not saved. What happens to the
message in between is `Stages` (bot/stages.py), in order.
"""

from __future__ import annotations

import asyncio
import logging
import time
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path

from bot.config import retention_days
from bot.flowlang.catalog import Catalog
from bot.i18n.speaking import ByLanguage
from bot.locks import KeyedLocks
from bot.lru import BoundedLRU
from bot.messages import Incoming, Reply, UserKey
from bot.metrics import DUPLICATE, FAILED, GROUP, NOT_SAVED, REPLIED, Metrics
from bot.pairing import couple
from bot.pairing.shared import Shared
from bot.session import Session
from bot.stages import CONSENT_SLOT, CONSENT_VALUE, Screen, Stages, parse_command
from bot.store.base import (
    SharedTables,
    Store,
    StoreClosed,
    StoreUnavailable,
    VersionConflict,
)
from bot.texts import Texts
from bot.turn import Turn

log = logging.getLogger("coach.core")

SAVE_ATTEMPTS = 5
PURGE_EVERY_S = 3600.0
GROUP_UPDATES_KEPT = 4096

__all__ = ["CONSENT_SLOT", "CONSENT_VALUE", "Coach", "clean_text", "parse_command",
           "valid_unicode"]


def valid_unicode(text: str) -> str:
    """Text that can be encoded: a lone surrogate (half an emoji, or a byte that was not
    UTF-8, as Python decodes it) becomes U+FFFD; a proper pair becomes its character."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


def clean_text(text: str) -> str:
    """Valid Unicode, without control characters (keeping line breaks) and surrounding
    blanks."""
    if text.isprintable():
        return text.strip()
    return "".join(
        ch for ch in valid_unicode(text) if ch in "\n\t" or unicodedata.category(ch) != "Cc"
    ).strip()


Step = Callable[[Session | None, Shared], Turn]


class _NoSession(Exception):
    """`greet_returning` found nobody to greet: nothing is saved."""


class _NothingToDo(Exception):
    """A check-in turn found nothing due (or nothing to stop): nothing is saved."""


DUE_BATCH = 100  # people whose check-ins are looked at in one pass


class Coach:
    """The platform-free core. One instance serves every user of every adapter."""

    def __init__(
        self,
        catalog: Catalog,
        store: Store,
        *,
        config: Mapping[str, str] | None = None,
        screen: Screen | None = None,
        clock: Callable[[], float] = time.time,
        metrics: Metrics | None = None,
    ) -> None:
        self.config = dict(config or {})
        self.metrics = metrics or Metrics()
        # One Stages per shipped language (bot/i18n/speaking.py); `stages`, `texts` and
        # `engine` are the default language's.
        self.speaking = ByLanguage(catalog, lambda cat: Stages(
            cat, self.config, screen, on_flag=self.metrics.flagged, clock=clock))
        self.stages = self.speaking.of(None)
        self.catalog = catalog
        self.texts = self.stages.texts
        self.engine = self.stages.engine
        self.store = store
        self.locks = KeyedLocks()
        self.clock = clock
        self._last_purge = 0.0
        self._group_updates: BoundedLRU[str, bool] = BoundedLRU(GROUP_UPDATES_KEPT)
        self._purging: asyncio.Task | None = None

    # -- entry points ---------------------------------------------------------------------

    async def handle(self, message: Incoming) -> Reply:
        """The reply to one message, once its step is committed; counted in `metrics` (by
        platform and outcome, never by person)."""
        started = time.perf_counter()
        self._purge_if_due()
        platform = message.user.platform
        if not message.private:
            if message.update_id and self._seen_in_groups(message.update_id):
                self.metrics.handled(platform, DUPLICATE, time.perf_counter() - started)
                return Reply(duplicate=True)
            log.info("event=group_chat platform=%s", platform)
            self.metrics.handled(platform, GROUP, time.perf_counter() - started)
            return Reply(parts=[self.speaking.texts(self.speaking.lang_for(None, message))
                                .get("group_chat")])
        update_id = valid_unicode(message.update_id) if message.update_id else message.update_id
        if update_id is not message.update_id:
            message = replace(message, update_id=update_id)
        text = clean_text(message.text) if message.text is not None else None
        try:
            reply = await self._commit(
                message, lambda stored, shared: self.speaking.run(stored, message, text, shared))
        except Exception:
            self.metrics.handled(platform, FAILED, None)
            raise
        outcome = DUPLICATE if reply.duplicate else REPLIED if reply.saved else NOT_SAVED
        self.metrics.handled(platform, outcome, time.perf_counter() - started)
        return reply

    async def open(self, user: Incoming) -> Reply:
        """Greet someone opening the chat: where they left off (that step exactly as it was
        sent, buttons still valid), or the menu if new."""
        return await self._commit(
            user, lambda stored, shared: self.speaking.greet(stored, user, shared))

    async def greet_returning(self, user: UserKey) -> Reply | None:
        """`open` for someone the adapter greets without being asked (their reply was lost
        to a restart): their step after "Welcome back", or None, with nothing saved, when
        they have no session (their last message erased it: greeting them would start a new
        one). Decided in their turn, so a /delete in flight comes first."""
        message = Incoming(user, private=True)

        def greet(stored: Session | None, shared: Shared) -> Turn:
            if stored is None:
                raise _NoSession
            return self.speaking.greet(stored, message, shared)

        try:
            return await self._commit(message, greet)
        except _NoSession:
            return None

    def texts_by_language(self) -> dict[str, Texts]:
        """The core's messages in each shipped language, the default first: what adapters
        list beside their commands, per language (Telegram's `language_code`, Discord's
        localizations)."""
        return {code: self.speaking.texts(code) for code in self.speaking.codes}

    # -- check-ins: messages nobody asked for just now -------------------------------------

    async def due_checkins(self, platform: str, *, only: UserKey | None = None,
                           limit: int = DUE_BATCH) -> list[tuple[UserKey, Reply]]:
        """The check-ins due now on `platform` (`only`: that person's alone, as the console
        has one), each as the person and the Reply to send them. Each one is committed
        before it is returned (the session has moved to the check-in's step, so its buttons
        work and it is never sent twice); several processes sharing the store may ask at
        once, and each due check-in is returned by exactly one of them. Nothing is returned
        for someone who has since used /delete (their row is gone) or when the store could
        not commit (it stays due, for the next pass)."""
        now = self.clock()
        keys = await self.store.due(now, platform, limit)
        found: list[tuple[UserKey, Reply]] = []
        for key in keys:
            user = UserKey(platform, key.partition(":")[2])
            if only is not None and user != only:
                continue
            message = Incoming(user, private=True)
            reply = await self._turn_if(message, lambda stored, shared, m=message: self.speaking
                                        .of(stored.lang if stored else None)
                                        .checkins.due(stored, m, now, shared) if stored else None)
            if reply is not None and reply.saved and reply.parts:
                found.append((user, reply))
        return found

    async def stop_checkins(self, user: UserKey, reason: str) -> bool:
        """Stop every check-in of this person (the adapter found they blocked the bot);
        True if any was set. The weeks they answered stay until /delete."""
        message = Incoming(user, private=True)
        reply = await self._turn_if(message, lambda stored, shared: self.speaking.of(
            stored.lang if stored else None).checkins.stop(stored, message, reason)
            if stored else None)
        return reply is not None and reply.saved

    async def _tell_partners(self, news: list[tuple[str, str]]) -> None:
        """After a partner tapped "Show us both": the other's one "ready when you are" note,
        set in their session (the check-ins' loop sends it). Saved with compare-and-set and
        without their lock, as shared records are: this reply never waits for the partner's
        turn, and a turn of theirs in flight conflicts and runs again with the note in."""
        for partner, topic in news:
            platform, _, ident = partner.partition(":")
            message = Incoming(UserKey(platform, ident), private=True)
            try:
                for _ in range(SAVE_ATTEMPTS):
                    stored = await self.store.load(partner)
                    turn = self.speaking.of(stored.lang if stored else None).checkins \
                        .partner_ready(stored, message, topic, self.clock())
                    if turn is None:
                        break
                    try:
                        await self.store.save(turn.session)
                    except VersionConflict:
                        continue
                    log.info("event=partner_ready_set user=%s", partner)
                    break
            except StoreUnavailable:
                # Not set: they still hear it at their next message (bot/pairing/view.py).
                log.warning("event=partner_ready_not_set user=%s", partner)

    async def _turn_if(self, message: Incoming,
                       step: Callable[[Session | None, Shared], Turn | None]) -> Reply | None:
        """A turn without a message: committed when `step` has one, else nothing saved."""
        def taken(stored: Session | None, shared: Shared) -> Turn:
            turn = step(stored, shared)
            if turn is None:
                raise _NothingToDo
            return turn

        try:
            return await self._commit(message, taken)
        except _NothingToDo:
            return None

    async def ping(self) -> None:
        """The store answers a cheap query (a health check); StoreUnavailable or StoreClosed
        when it does not."""
        await self.store.ping()

    def data_folder(self) -> Path | None:
        """The folder the store keeps its files in, for an adapter's own small files beside
        them (None for a store without files: the memory store)."""
        return self.store.folder

    def shared_tables(self) -> SharedTables | None:
        """The database of a store other processes share, for an adapter's own small
        tables (what it notes about updates, where the other processes see it); None when
        one process uses the store."""
        return self.store.shared_tables()

    async def close(self) -> None:
        """Let a retention purge in progress finish, then close the store."""
        if self._purging is not None and not self._purging.done():
            await self._purging
        await self.store.close()

    # -- commit before reply -------------------------------------------------------------

    async def _commit(self, message: Incoming, step: Step) -> Reply:
        """Under the person's locks (this process's, then the store's, which other
        processes share): load, take the step, save (compare-and-set), reply.
        A conflict means another process saved first: the step runs again on its version.
        Records shared with a partner are saved first, each compare-and-set too: a partner
        who saved first makes the whole step run again on what they saved."""
        key = message.user.key
        news: list[tuple[str, str]] = []
        async with self.locks.hold(key):
            try:
                async with self.store.person_lock(key):  # the other processes' turn
                    reply = await self._take_step(message, step, news)
            except StoreUnavailable as error:
                return await self._not_saved(message, error)
        await self._tell_partners(news)
        return reply

    async def _take_step(self, message: Incoming, step: Step,
                         news: list[tuple[str, str]]) -> Reply:
        key = message.user.key
        for _ in range(SAVE_ATTEMPTS):
            stored = await self.store.load(key)
            if stored is not None and self._expired(stored):
                # Past the retention period: erased now, before anything could save it
                # again (the background purge may not have reached it yet).
                await self.store.delete(key)
                log.info("event=retention_expired user=%s", key)
                stored = None
            if stored and message.update_id and message.update_id in stored.seen:
                log.info("event=duplicate user=%s", key)
                return Reply(duplicate=True)
            shared = Shared(self.clock(), key)
            await shared.load(self.store, stored, message.text)
            turn = step(stored, shared)
            started = time.perf_counter()
            try:
                if turn.erase:
                    couple.erase(shared, turn.session)
                    await shared.save(self.store)
                    await self.store.delete(key)
                    log.info("event=deleted user=%s", key)
                    return self.speaking.reply(turn)
                await shared.save(self.store)
                await self.store.save(turn.session)
                news.extend(shared.partner_news)  # committed: now they may hear of it
            except VersionConflict:
                self.metrics.conflict()
                log.info("event=version_conflict user=%s", key)
                continue
            self.metrics.committed(self.store.kind, time.perf_counter() - started)
            session = turn.session
            log.info("event=%s user=%s flow=%s state=%s", turn.event, key, session.flow,
                     session.state)
            return self.speaking.reply(turn)
        raise VersionConflict(key)

    async def _not_saved(self, message: Incoming, error: StoreUnavailable) -> Reply:
        """Nothing of this step was kept: say so, with the step that still stands (its
        buttons stay valid), so the person can send it again. The adapter confirms the
        message only once this reply has gone out."""
        key = message.user.key
        log.warning("event=store_unavailable reason=%s user=%s", error.reason, key)
        self.metrics.not_saved(error.reason)
        texts = self.speaking.texts(self.speaking.lang_for(None, message))
        reply = Reply(parts=[texts.get("not_saved")], saved=False)
        try:
            stored = await self.store.load(key)  # the last committed step, if still readable
        except StoreUnavailable:
            return reply
        if stored is None:
            return reply
        reply.parts = [self.speaking.texts(stored.lang).get("not_saved")]
        return self.speaking.still_standing(stored, reply)

    # -- group chats and retention ----------------------------------------------------------

    def _seen_in_groups(self, update_id: str) -> bool:
        """Group updates touch no session, so their ids are remembered here (the last
        GROUP_UPDATES_KEPT of them) to answer a repeated delivery once."""
        if update_id in self._group_updates:
            return True
        self._group_updates.put(update_id, True)
        return False

    def _expired(self, session: Session) -> bool:
        days = retention_days(self.config)
        return bool(days) and session.updated_at < self.clock() - days * 86400

    def _purge_if_due(self) -> None:
        """Retention: sessions untouched for COACH_RETENTION_DAYS are erased, checked at
        most hourly, in the background."""
        days = retention_days(self.config)
        now = self.clock()
        if not days or now - self._last_purge < PURGE_EVERY_S:
            return
        if self._purging is not None and not self._purging.done():
            return
        self._last_purge = now
        self._purging = asyncio.get_running_loop().create_task(self._purge_quietly())

    async def _purge_quietly(self) -> None:
        """The background purge: its failure is logged, never left for the event loop to
        report at shutdown."""
        try:
            await self.purge_expired()
        except StoreClosed:
            log.info("event=retention_purge_skipped reason=store_closed")
        except Exception as error:  # a purge must never take the bot down
            log.warning("event=retention_purge_failed error=%s", type(error).__name__)

    async def purge_expired(self) -> int:
        days = retention_days(self.config)
        if not days:
            return 0
        count = await self.store.purge(self.clock() - days * 86400)
        if count:
            log.info("event=retention_purge sessions=%d", count)
        return count
