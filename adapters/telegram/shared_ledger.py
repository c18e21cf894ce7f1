"""The ledger of a bot whose webhook is served by several processes on one PostgreSQL store.

Why: with one process, a file beside the store says at the next start whom the last run left
without their reply (adapters/telegram/ledger.py). With several, the process that took an
update may die while the others run on, and Telegram sends the update again to any of them.
So the rows live in the store's database, each marked with the process that took it (its
`owner`, a random number), and each process holds a session-level advisory lock on its own
number while it lives. A row whose owner's lock is free was left by a process that died: the
process that meets it (Telegram's next delivery of that update, or the sweep every process
makes at start and every `SWEEP_EVERY_S`) takes it over and shows the person their step.

The same tables keep the last message with buttons per chat, so whichever process sends a
chat's next reply takes the old buttons away. Ids only, as in the file ledger: update, chat
and user ids and a button press's id, never text. Tables are created here, beside the
sessions, with names of their own (`telegram_taken`, `telegram_keyboards`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Iterable
from typing import Any

from adapters.telegram.ledger import UPDATE_ROWS_KEPT_S, PollerRunning, Taken
from adapters.telegram.write_soon import WriteSoon
from bot.store.base import SharedTables

log = logging.getLogger("coach.telegram")

SCHEMA = """
    CREATE TABLE IF NOT EXISTS telegram_taken (
        bot_id TEXT NOT NULL, update_id BIGINT NOT NULL, chat_id BIGINT NOT NULL,
        user_id BIGINT NOT NULL, committed BOOLEAN NOT NULL DEFAULT false,
        at DOUBLE PRECISION NOT NULL, query_id TEXT, owner BIGINT NOT NULL,
        PRIMARY KEY (bot_id, update_id));
    CREATE INDEX IF NOT EXISTS telegram_taken_owner ON telegram_taken (bot_id, owner);
    CREATE TABLE IF NOT EXISTS telegram_keyboards (
        bot_id TEXT NOT NULL, chat_id BIGINT NOT NULL, message_id BIGINT NOT NULL,
        at DOUBLE PRECISION NOT NULL, PRIMARY KEY (bot_id, chat_id));
"""
SCHEMA_LOCK = (0x5447, 1)  # "TG": two processes creating the tables at once
POLLER_SPACE = 0x5450  # "TP": (POLLER_SPACE, hashtext(bot id)) is held by the bot's poller
SWEEP_EVERY_S = 60.0
SETTLE_POLL_FIRST_S = 0.01
SETTLE_POLL_LAST_S = 0.25
RELOCK_FIRST_S = 0.05
RELOCK_LAST_S = 2.0
CLOSE_WAIT_S = 10.0
COLUMNS = "update_id, chat_id, user_id, committed, query_id, at"

Op = tuple[str, tuple[Any, ...]]


def _taken(row: Any) -> Taken:
    return Taken(row["update_id"], row["chat_id"], row["user_id"], row["committed"],
                 row["query_id"], row["at"])


class SharedLedger:
    """`Ledger` on the tables of a PostgreSQL store that other processes share."""

    def __init__(self, tables: SharedTables, bot_id: str, keyboard_days: int = 0) -> None:
        self.tables = tables
        self.bot_id = bot_id
        self.keyboard_days = keyboard_days
        self.owner = secrets.randbits(62) + 1  # > 0, so never the "nobody" of an old row
        self._life: Any = None  # the connection holding this process's lock while it lives
        self._relocking: asyncio.Task[None] | None = None
        self._ops: list[Op] = []
        self._writing = asyncio.Lock()
        self._writer = WriteSoon(self.flush)
        self._closed = False

    @property
    def shared(self) -> bool:
        return True

    # -- life ---------------------------------------------------------------------------------

    async def open(self) -> None:
        """Create the tables if need be, forget rows older than Telegram keeps updates, and
        take this process's lock (held until `close`, or until this process dies)."""
        now = time.time()

        async def prepare(conn: Any, attempt: int) -> None:
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock($1, $2)", *SCHEMA_LOCK)
                await conn.execute(SCHEMA)
            await conn.execute("DELETE FROM telegram_taken WHERE bot_id = $1 AND at < $2",
                               self.bot_id, now - UPDATE_ROWS_KEPT_S)
            if self.keyboard_days:
                await conn.execute(
                    "DELETE FROM telegram_keyboards WHERE bot_id = $1 AND at < $2",
                    self.bot_id, now - self.keyboard_days * 86400)

        await self.tables.run(prepare)
        await self._lock_life()

    async def _lock_life(self) -> None:
        conn = await self.tables.connect()
        try:
            await conn.execute("SELECT pg_advisory_lock($1::bigint)", self.owner)
        except BaseException:
            conn.terminate()
            raise
        conn.add_termination_listener(self._lost_life)
        self._life = conn

    def _lost_life(self, conn: Any) -> None:
        """The connection holding our lock went (the server restarted): take it again. In
        between, another process may take our rows for a dead process's and show those
        people their step; that is a step shown twice at most, never one lost."""
        if self._closed or conn is not self._life:
            return
        self._life = None
        log.warning("event=ledger_lock_lost")
        self._relocking = asyncio.get_running_loop().create_task(self._relock())

    async def _relock(self) -> None:
        delay = RELOCK_FIRST_S
        while not self._closed:
            try:
                await self._lock_life()
                if self._closed:
                    await self._drop_life()
                return
            except Exception as error:
                if not self.tables.lost(error):
                    log.error("event=ledger_lock_failed error=%s", type(error).__name__)
            await asyncio.sleep(delay)
            delay = min(delay * 2, RELOCK_LAST_S)

    async def _drop_life(self) -> None:
        conn, self._life = self._life, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), CLOSE_WAIT_S)
            if not conn.is_closed():
                conn.terminate()

    async def close(self) -> None:
        """Write what is left; let the lock go (the rows still unanswered are then a dead
        process's, for the others, or this one's next start, to take over)."""
        await self._writer.settle()
        try:
            await self.flush()
        finally:
            self._closed = True
            if self._relocking is not None:
                self._relocking.cancel()
                with contextlib.suppress(BaseException):
                    await self._relocking
            await self._drop_life()

    async def claim_polling(self) -> None:
        """Telegram allows one poller: held on this process's own connection, so it is let
        go when the process stops or dies."""
        if self._life is None or not await self._life.fetchval(
                "SELECT pg_try_advisory_lock($1, hashtext($2))", POLLER_SPACE, self.bot_id):
            raise PollerRunning()

    # -- rows of the dead ---------------------------------------------------------------------

    async def recovered(self) -> list[Taken]:
        """Committed updates that processes which died left without their reply, taken over
        now: those will not come again from Telegram, so their people get their step from
        this process. (An update not committed comes again, and is taken by whichever process
        it comes to.)"""
        async def take_over(conn: Any, attempt: int) -> list[Taken]:
            owners = await conn.fetch(
                "SELECT DISTINCT owner FROM telegram_taken WHERE bot_id = $1 AND committed "
                "AND owner <> $2", self.bot_id, self.owner)
            rows: list[Taken] = []
            for record in owners:
                rows += [_taken(row) for row in await self._if_dead(conn, record["owner"], (
                    f"UPDATE telegram_taken SET owner = $3 WHERE bot_id = $1 AND owner = $2 "
                    f"AND committed RETURNING {COLUMNS}"))]
            return rows

        rows = await self.tables.run(take_over)
        return sorted(rows, key=lambda row: row.update_id)

    async def _if_dead(self, conn: Any, owner: int, sql: str, *extra: Any) -> list[Any]:
        """Run `sql` (which takes the dead `owner`'s rows for this process) only if `owner`'s
        lock is free, holding it meanwhile so that two processes never both take them."""
        if not await conn.fetchval("SELECT pg_try_advisory_lock($1::bigint)", owner):
            return []  # alive: it answers its own
        try:
            return list(await conn.fetch(sql, self.bot_id, owner, self.owner, *extra))
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1::bigint)", owner)

    async def settle(self, update_id: int, timeout: float) -> Taken | bool:
        async def look(conn: Any, attempt: int) -> Taken | bool | None:
            owner = await conn.fetchval(
                "SELECT owner FROM telegram_taken WHERE bot_id = $1 AND update_id = $2",
                self.bot_id, update_id)
            if owner is None or owner == self.owner:
                return True
            rows = await self._if_dead(conn, owner, (
                f"UPDATE telegram_taken SET owner = $3 WHERE bot_id = $1 AND owner = $2 "
                f"AND update_id = $4 RETURNING {COLUMNS}"), update_id)
            return _taken(rows[0]) if rows else None  # None: alive, still answering

        loop = asyncio.get_running_loop()
        deadline, delay = loop.time() + timeout, SETTLE_POLL_FIRST_S
        while True:
            found = await self.tables.run(look)
            if found is not None:
                return found
            if loop.time() + delay > deadline:
                return False
            await asyncio.sleep(delay)
            delay = min(delay * 2, SETTLE_POLL_LAST_S)

    # -- notes --------------------------------------------------------------------------------

    async def taken(self, rows: Iterable[Taken]) -> list[Taken]:
        """Durable when this returns. An update that already has a row was taken before by
        another process: if that process has died, its row is this one's now, and returned
        (if the core then finds the update committed, the person gets their step again);
        if it is alive, it is answering it, and the row stays its own."""
        now = time.time()
        values = [(self.bot_id, row.update_id, row.chat_id, row.user_id, now, row.query_id,
                   self.owner) for row in rows]
        if not values:
            return []

        async def insert(conn: Any, attempt: int) -> list[Taken]:
            new: set[int] = set()
            for value in values:  # one statement per row: a webhook update is one row
                if await conn.fetchval(
                        "INSERT INTO telegram_taken (bot_id, update_id, chat_id, user_id, at, "
                        "query_id, owner) VALUES ($1, $2, $3, $4, $5, $6, $7) "
                        "ON CONFLICT (bot_id, update_id) DO NOTHING RETURNING update_id",
                        *value) is not None:
                    new.add(value[1])
            adopted: list[Taken] = []
            for value in values:
                if value[1] in new:
                    continue
                owner = await conn.fetchval(
                    "SELECT owner FROM telegram_taken WHERE bot_id = $1 AND update_id = $2",
                    self.bot_id, value[1])
                if owner is not None and owner != self.owner:
                    adopted += [_taken(row) for row in await self._if_dead(conn, owner, (
                        f"UPDATE telegram_taken SET owner = $3 WHERE bot_id = $1 AND "
                        f"owner = $2 AND update_id = $4 RETURNING {COLUMNS}"), value[1])]
            return adopted

        return await self.tables.run(insert)

    def committed(self, update_id: int) -> None:
        self._ops.append(("UPDATE telegram_taken SET committed = true WHERE bot_id = $1 "
                          "AND update_id = $2", (self.bot_id, update_id)))

    def sent(self, update_id: int) -> None:
        """Whoever's row it is: this process answered the update (a second delivery that
        is only a duplicate does not call this unless `settle` found the row its own)."""
        self._ops.append(("DELETE FROM telegram_taken WHERE bot_id = $1 AND update_id = $2",
                          (self.bot_id, update_id)))
        self._soon()

    async def keyboard(self, chat_id: int) -> int | None:
        await self.flush()

        async def read(conn: Any, attempt: int) -> Any:
            return await conn.fetchval("SELECT message_id FROM telegram_keyboards "
                                       "WHERE bot_id = $1 AND chat_id = $2", self.bot_id, chat_id)

        found = await self.tables.run(read)
        return None if found is None else int(found)

    def set_keyboard(self, chat_id: int, message_id: int | None) -> None:
        if message_id is None:
            self._ops.append(("DELETE FROM telegram_keyboards WHERE bot_id = $1 "
                              "AND chat_id = $2", (self.bot_id, chat_id)))
        else:
            self._ops.append((
                "INSERT INTO telegram_keyboards (bot_id, chat_id, message_id, at) "
                "VALUES ($1, $2, $3, $4) ON CONFLICT (bot_id, chat_id) DO UPDATE SET "
                "message_id = EXCLUDED.message_id, at = EXCLUDED.at",
                (self.bot_id, chat_id, message_id, time.time())))
        self._soon()

    async def flush(self) -> None:
        """Everything noted so far, in one transaction. A failed write is raised here and
        not tried again."""
        self._writer.cancel()
        async with self._writing:
            if not self._ops:
                return
            # Rows in one order (table, then id; a row's own notes keep theirs), so two
            # processes writing overlapping batches lock them alike and cannot deadlock.
            ops = sorted(self._ops, key=_row_order)
            self._ops = []

            async def write(conn: Any, attempt: int) -> None:
                async with conn.transaction():
                    for sql, params in ops:
                        await conn.execute(sql, *params)

            await self.tables.run(write)

    def _soon(self) -> None:
        """Write what was noted once the loop is free (many notes, one transaction)."""
        if not self._closed:
            self._writer.soon()


def _row_order(op: tuple[str, tuple]) -> tuple[str, int]:
    """A noted write's table and row id (its second parameter, after the bot's id)."""
    table = next(word for word in op[0].split() if word.startswith("telegram_"))
    return table, int(op[1][1])
