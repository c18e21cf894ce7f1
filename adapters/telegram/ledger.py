"""What the Telegram adapter has taken from Telegram until its reply is out (ids only).

Why: Telegram forgets an update once it is confirmed, which happens once the core has
committed it, but its reply may still wait in the outbox (Telegram's pacing) when the process
dies. The ledger notes each update from the moment it is taken until its whole reply has been
sent, so the next start knows whom to answer (adapters/telegram/recovery.py). It also keeps
the last message with buttons in each chat, so old buttons are taken away after a restart.

Where: a file in the store's folder (`Coach.data_folder()`), one per bot
(`telegram-<bot id>.ledger`); a store without files (memory, which forgets every session at a
restart anyway) gets a ledger that keeps nothing.

Writes happen on the event loop, without a thread: each is a small transaction in WAL mode
with synchronous=NORMAL, which survives the process being killed (the data is in the
operating system's hands once a transaction commits); only a power cut can lose the last
ones. Nothing waits inside SQLite for a lock: when another process holds the ledger's write
lock, BEGIN is refused at once and tried again after a short sleep on the loop, as the store
does (bot/store/sqlite.py), so every other chat goes on meanwhile; after `busy_timeout`
seconds the write fails with SQLite's own "database is locked". Rows: update id, chat id,
user id (pseudonymous ids, as in the logs), a button press's callback query id (an opaque id
Telegram made up), and per chat the id of the message with buttons; no text. An update's row
is deleted once its reply is out; a chat's keyboard row once its buttons are gone or after
the store's retention period.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import sqlite3
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from adapters.telegram.write_soon import WriteSoon
from bot.pipeline import Coach
from bot.store.sqlite import (
    BUSY_TIMEOUT_S,
    FIRST_RETRY_S,
    LAST_RETRY_S,
    connect_private,
    unavailable_reason,
)

UPDATE_ROWS_KEPT_S = 2 * 86400  # Telegram keeps an unconfirmed update for 24 hours
SCHEMA = """
    CREATE TABLE IF NOT EXISTS taken (
        update_id INTEGER PRIMARY KEY, chat_id INTEGER NOT NULL, user_id INTEGER NOT NULL,
        committed INTEGER NOT NULL DEFAULT 0, at REAL NOT NULL, query_id TEXT);
    CREATE TABLE IF NOT EXISTS keyboards (
        chat_id INTEGER PRIMARY KEY, message_id INTEGER NOT NULL, at REAL NOT NULL);
"""

Op = tuple[str, tuple[Any, ...]]
T = TypeVar("T")


@dataclass(frozen=True)
class Taken:
    """An update taken from Telegram whose reply has not been sent in full yet."""

    update_id: int
    chat_id: int
    user_id: int
    committed: bool = False  # the core has committed it (Telegram will not send it again)
    query_id: str | None = None  # a button press: answered after a crash while still valid
    at: float = 0.0  # Unix time it was taken (a press's age is at least the time since)


class PollerRunning(RuntimeError):
    """Another process already polls this bot: Telegram allows one getUpdates at a time."""

    def __init__(self) -> None:
        super().__init__("another coach process is already polling this bot, and Telegram "
                         "allows only one; to run several processes, give each --webhook-url")


class Ledger(Protocol):
    """What the adapter notes about the updates it takes: `UpdateLedger` (a file beside the
    store, one process) or `SharedLedger` (adapters/telegram/shared_ledger.py: the tables
    of a store several processes share). Ids only, never text."""

    @property
    def shared(self) -> bool: ...

    async def recovered(self) -> list[Taken]: ...

    async def taken(self, rows: Iterable[Taken]) -> list[Taken]:
        """Note updates before they are handled; durable when this returns. Returns the rows
        among them that a process which died had taken, now this one's to answer."""
        ...

    def committed(self, update_id: int) -> None: ...

    def sent(self, update_id: int) -> None: ...

    async def settle(self, update_id: int, timeout: float) -> Taken | bool:
        """A second delivery of an update the core had committed: wait (up to `timeout`)
        while another live process holds its row (it is answering it). True: no other
        process holds it (a row of this process's own is for the caller to clear); a Taken:
        the process holding it died, and its row is this one's now (show the step again);
        False: another process still holds it after `timeout` (leave its row)."""
        ...

    async def claim_polling(self) -> None:
        """Raise PollerRunning when another process polls this bot."""
        ...

    async def keyboard(self, chat_id: int) -> int | None: ...

    def set_keyboard(self, chat_id: int, message_id: int | None) -> None: ...

    async def flush(self) -> None: ...

    async def close(self) -> None: ...


def ledger_file(coach: Coach, bot_id: str) -> Path | None:
    """Where this bot's ledger lives: in the store's folder; None when the store has none."""
    folder = coach.data_folder()
    return None if folder is None else folder / f"telegram-{bot_id}.ledger"


class UpdateLedger:
    """Which updates are between being taken and their reply being sent in full, and the last
    message with buttons in each chat. Ids only, never text.

    Until `open` (and again after `close`) it keeps nothing: every note is dropped and nothing
    is recovered. The same object serves the bot's whole life, so its parts can hold it.
    """

    def __init__(self, busy_timeout: float = BUSY_TIMEOUT_S) -> None:
        self.path: Path | None = None
        self.busy_timeout = busy_timeout
        self._db: sqlite3.Connection | None = None
        self._ops: list[Op] = []
        self._writing = asyncio.Lock()  # one transaction at a time, in the order noted
        self._writer = WriteSoon(self.flush)
        self._poller_lock: int | None = None  # the descriptor holding the polling lock

    @property
    def is_open(self) -> bool:
        return self._db is not None

    @property
    def shared(self) -> bool:
        """One process uses this file's store: what it took, it answers itself."""
        return False

    async def settle(self, update_id: int, timeout: float) -> Taken | bool:
        return True  # one process: no other answers it (`recovered` gave the last run's)

    async def claim_polling(self) -> None:
        """A lock on a file beside the ledger, held while this process lives (another
        process on the same SQLite store would otherwise poll too, each taking the other's
        updates with Telegram's 409 in between)."""
        if self.path is None or self._poller_lock is not None:
            return
        descriptor = os.open(self.path.with_name(self.path.name + ".poller"),
                             os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            raise PollerRunning() from None
        self._poller_lock = descriptor

    def open(self, path: Path, keyboard_days: int = 0) -> None:
        """Open (or create) the file; forgets rows older than Telegram keeps updates, and
        keyboards older than `keyboard_days` (0: kept). Like opening the store, this may wait
        for another process's lock (once, before any update is taken)."""
        db = connect_private(path, synchronous="NORMAL",  # owner-only, -wal too
                             busy_timeout_ms=round(self.busy_timeout * 1000))
        try:
            db.executescript(SCHEMA)
            columns = {row[1] for row in db.execute("PRAGMA table_info(taken)")}
            if "query_id" not in columns:  # a ledger written before presses were kept
                db.execute("ALTER TABLE taken ADD COLUMN query_id TEXT")
            now = time.time()
            db.execute("DELETE FROM taken WHERE at < ?", (now - UPDATE_ROWS_KEPT_S,))
            if keyboard_days:
                db.execute("DELETE FROM keyboards WHERE at < ?", (now - keyboard_days * 86400,))
            # From here on nothing waits inside SQLite on the loop's thread: see _begin.
            db.execute("PRAGMA busy_timeout=0")
        except BaseException:
            db.close()
            raise
        self.path, self._db, self._ops = path, db, []

    async def recovered(self) -> list[Taken]:
        """What the previous run left: updates taken and not answered in full."""
        rows = await self._read("SELECT update_id, chat_id, user_id, committed, query_id, at "
                                "FROM taken ORDER BY update_id")
        return [Taken(u, c, p, bool(done), query, at) for u, c, p, done, query, at in rows]

    async def taken(self, rows: Iterable[Taken]) -> list[Taken]:
        """Note updates before they are handled; durable when this returns. No other
        process leaves rows here (`recovered` gave the last run's): nothing to take over."""
        now = time.time()
        self._note([("INSERT OR IGNORE INTO taken (update_id, chat_id, user_id, committed, at,"
                     " query_id) VALUES (?, ?, ?, 0, ?, ?)",
                     (row.update_id, row.chat_id, row.user_id, now, row.query_id))
                    for row in rows])
        await self.flush()
        return []

    def committed(self, update_id: int) -> None:
        """The core committed this update; durable after the next `flush`."""
        self._note([("UPDATE taken SET committed = 1 WHERE update_id = ?", (update_id,))])

    def sent(self, update_id: int) -> None:
        """Its reply is out (or given up); written soon."""
        self._note([("DELETE FROM taken WHERE update_id = ?", (update_id,))])
        self._soon()

    async def keyboard(self, chat_id: int) -> int | None:
        """The message in this chat that still shows buttons, if known from an earlier run."""
        await self.flush()
        rows = await self._read("SELECT message_id FROM keyboards WHERE chat_id = ?", (chat_id,))
        return int(rows[0][0]) if rows else None

    def set_keyboard(self, chat_id: int, message_id: int | None) -> None:
        """The message with buttons in this chat now (None: no buttons left)."""
        if message_id is None:
            self._note([("DELETE FROM keyboards WHERE chat_id = ?", (chat_id,))])
        else:
            self._note([("INSERT OR REPLACE INTO keyboards VALUES (?, ?, ?)",
                         (chat_id, message_id, time.time()))])
        self._soon()

    async def flush(self) -> None:
        """Make everything noted so far durable. A failed write is raised here, and what it
        held is not tried again (as when a transaction fails: nothing of it is kept)."""
        self._writer.cancel()
        async with self._writing:
            if not self._ops or self._db is None:
                return
            ops, self._ops = self._ops, []
            db = self._db
            await self._begin(db)
            try:
                for sql, params in ops:
                    db.execute(sql, params)
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise

    async def close(self) -> None:
        """Write what is left and close; from then on the ledger keeps nothing."""
        await self._writer.settle()
        try:
            await self.flush()
        finally:
            async with self._writing:
                if self._db is not None:
                    self._db.close()
                self._db, self._ops = None, []
            if self._poller_lock is not None:
                os.close(self._poller_lock)  # drops the lock
                self._poller_lock = None

    # -- on the loop, never waiting inside SQLite

    def _note(self, ops: Iterable[Op]) -> None:
        if self._db is not None:
            self._ops.extend(ops)


    async def _begin(self, db: sqlite3.Connection) -> None:
        """BEGIN IMMEDIATE without blocking the loop: while another connection holds the
        write lock, sleep on the loop and try again, up to `busy_timeout` seconds."""
        await self._retrying(lambda: db.execute("BEGIN IMMEDIATE"))

    async def _read(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        db = self._db
        if db is None:
            return []
        return await self._retrying(lambda: db.execute(sql, params).fetchall())

    async def _retrying(self, attempt: Callable[[], T]) -> T:
        """`attempt()`, tried again while SQLite answers "busy", until the deadline."""
        loop = asyncio.get_running_loop()
        deadline, delay = loop.time() + self.busy_timeout, FIRST_RETRY_S
        while True:
            try:
                return attempt()
            except sqlite3.OperationalError as error:
                now = loop.time()
                if unavailable_reason(error) != "busy" or now >= deadline:
                    raise
            await asyncio.sleep(min(delay, deadline - now))
            delay = min(delay * 2, LAST_RETRY_S)

    def _soon(self) -> None:
        """Write what was noted once the loop is free (many notes, one transaction)."""
        if self._db is not None:
            self._writer.soon()
