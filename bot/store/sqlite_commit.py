"""Durable, grouped commits for the SQLite store, on the event loop's thread.

Reads and writes run on the event loop's thread, where a primary-key lookup or an upsert in
the page cache takes microseconds. Only the COMMIT (the fsync, with synchronous=FULL) runs
in a worker thread. While one commit is in flight, the next writes collect; when it lands
they are applied and committed together. Every write still returns only once it is durable,
but one fsync serves everyone who arrived during the previous one: group commit, as
databases do it. (A thread that ran every statement would fight the event loop for the GIL
on each of them.)

Nothing on the loop's thread waits inside SQLite for a lock. The connections' busy timeout
is zero: when another process holds the write lock, the batch's BEGIN IMMEDIATE is refused
at once and tried again after a short sleep on the loop (growing to 25 ms), so every other
user's message goes on being handled meanwhile, and writes that arrive while it waits join
the batch. A write still waiting `busy_timeout` seconds after it was made, or one the disk
cannot take (full, I/O error, read-only), raises StoreUnavailable: its transaction is rolled
back, so nothing of it is kept.

A batch may span several database files (the sessions and, apart from them, the person
keys): each has its own writer connection, locked in the order given and committed in that
order. SQLite cannot commit two WAL files as one, so the order is the store's to choose.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.store.base import StoreClosed, StoreUnavailable
from bot.store.sqlite_files import scrub

log = logging.getLogger(__name__)

Operation = Callable[[sqlite3.Connection], Any]

# The sleeps between tries for a lock: short at first (a commit takes a few milliseconds),
# never so long that the lock stays free unnoticed for long.
FIRST_RETRY_S = 0.001
LAST_RETRY_S = 0.025

# SQLite's primary result codes that mean the store, not one operation, failed; the word
# StoreUnavailable carries for each.
_UNAVAILABLE = {
    sqlite3.SQLITE_BUSY: "busy",
    sqlite3.SQLITE_LOCKED: "busy",
    sqlite3.SQLITE_PROTOCOL: "busy",  # WAL locks still contended after SQLite's own retries
    sqlite3.SQLITE_FULL: "full",
    sqlite3.SQLITE_IOERR: "io",
    sqlite3.SQLITE_READONLY: "io",
    sqlite3.SQLITE_CANTOPEN: "io",
}


def unavailable_reason(error: BaseException) -> str | None:
    """"busy", "full" or "io" when SQLite says the store cannot take (or give) data now."""
    code = getattr(error, "sqlite_errorcode", None) if isinstance(error, sqlite3.Error) else None
    return None if code is None else _UNAVAILABLE.get(code & 0xFF)


def _unavailable(error: BaseException) -> BaseException:
    """The exception a caller gets: StoreUnavailable for the store's own failures."""
    reason = unavailable_reason(error)
    if reason is None:
        return error
    unavailable = StoreUnavailable(reason)
    unavailable.__cause__ = error
    return unavailable


@dataclass
class _Write:
    operation: Operation
    future: asyncio.Future
    deadline: float  # on the loop's clock: given up on ("busy") if the lock is still held then
    checkpoint: bool = False
    # Rows this write erases (user keys): after the checkpoint, none may be left on disk.
    erased: tuple[str, ...] = ()
    vacuum: bool = False


@dataclass
class DatabaseFile:
    """One file a batch writes: its writer connection and where it is (for the scrub)."""

    conn: sqlite3.Connection
    file: Path


class GroupCommit:
    """Writes to `files` in batches; an operation gets the last file's connection (the
    sessions), and reaches the others through its own closure. An operation that raises is
    undone alone (a savepoint on every file), so the rest of its batch is kept."""

    def __init__(self, files: list[DatabaseFile], busy_timeout: float) -> None:
        self.files = files
        self.busy_timeout = busy_timeout
        self._busy_timeout_ms = max(0, round(busy_timeout * 1000))
        self._pending: list[_Write] = []
        self._flusher: asyncio.Task | None = None
        self.closed = False

    @property
    def writer(self) -> sqlite3.Connection:
        return self.files[-1].conn

    async def write(self, operation: Operation, *, checkpoint: bool = False,
                    erased: tuple[str, ...] = (), vacuum: bool = False) -> Any:
        if self.closed:
            raise StoreClosed("store is closed")
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._pending.append(_Write(operation, future, loop.time() + self.busy_timeout,
                                    checkpoint, erased, vacuum))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        return await future

    async def close(self) -> None:
        """Refuse new writes; return once the ones made are settled."""
        self.closed = True
        if self._flusher is not None and not self._flusher.done():
            await self._flusher

    async def _flush(self) -> None:
        while self._pending:
            try:
                if not await self._begin():
                    continue  # every write that was waiting has been told "busy"
            except Exception as exc:  # the store cannot write at all (read-only, I/O error)
                batch, self._pending = self._pending, []
                self._settle(batch, [(False, exc)] * len(batch))
                continue
            # The write lock is held: everyone who arrived while it was awaited comes along.
            batch = [write for write in self._pending if not write.future.done()]
            self._pending = []
            try:
                results = self._apply(batch)
                await asyncio.to_thread(self._commit, any(w.checkpoint for w in batch),
                                        tuple(k for w in batch for k in w.erased),
                                        any(w.vacuum for w in batch))
            except Exception as exc:
                self._rollback()
                results = [(False, exc)] * len(batch)
            self._settle(batch, results)

    async def _begin(self) -> bool:
        """Take the write lock of every file for the next batch (BEGIN IMMEDIATE, in order)
        without blocking the loop: while another connection holds one, let go of those
        taken, sleep on the loop and try again. Writes whose deadline passes meanwhile fail
        with StoreUnavailable("busy"); False when none is left waiting."""
        loop = asyncio.get_running_loop()
        delay = FIRST_RETRY_S
        while True:
            try:
                for database in self.files:
                    database.conn.execute("BEGIN IMMEDIATE")
                return True
            except sqlite3.OperationalError as error:
                self._rollback()
                if unavailable_reason(error) != "busy":
                    raise
            now = loop.time()
            waiting = []
            for write in self._pending:
                if write.future.done():
                    continue
                if write.deadline <= now:
                    write.future.set_exception(StoreUnavailable("busy"))
                else:
                    waiting.append(write)
            self._pending = waiting  # writes made while this sleeps are added to this list
            if not waiting:
                return False
            await asyncio.sleep(min(delay, min(w.deadline for w in waiting) - now))
            delay = min(delay * 2, LAST_RETRY_S)

    def _each(self, sql: str) -> None:
        for database in self.files:
            database.conn.execute(sql)

    def _apply(self, batch: list[_Write]) -> list[tuple[bool, Any]]:
        """Run the batch's operations in the open transaction. One that fails on its own is
        undone alone, so the others are not spoiled by it; a failure of the store itself
        (full, I/O error) is raised, and the whole batch is rolled back."""
        self._each("SAVEPOINT batch")
        try:
            results = [(True, write.operation(self.writer)) for write in batch]
        except Exception as exc:
            if unavailable_reason(exc):
                raise
            self._each("ROLLBACK TO batch")  # the write locks stay held
            results = [self._apply_alone(write) for write in batch]
        self._each("RELEASE batch")
        return results

    def _apply_alone(self, write: _Write) -> tuple[bool, Any]:
        self._each("SAVEPOINT op")
        try:
            result: tuple[bool, Any] = (True, write.operation(self.writer))
        except Exception as exc:
            if unavailable_reason(exc):
                raise
            self._each("ROLLBACK TO op")
            result = (False, exc)
        self._each("RELEASE op")
        return result

    def _rollback(self) -> None:
        """Undo a failed batch on every file still in a transaction (SQLite may already have
        rolled one back, after a full disk or an I/O error)."""
        for database in self.files:
            if database.conn.in_transaction:
                try:
                    database.conn.execute("ROLLBACK")
                except sqlite3.Error as error:
                    log.warning("event=store_rollback_failed error=%s", type(error).__name__)

    @staticmethod
    def _settle(batch: list[_Write], results: list[tuple[bool, Any]]) -> None:
        for write, (ok, value) in zip(batch, results, strict=True):
            if write.future.done():
                continue
            if ok:
                write.future.set_result(value)
            else:
                write.future.set_exception(_unavailable(value))

    def _commit(self, checkpoint: bool, erased: tuple[str, ...] = (),
                vacuum: bool = False) -> None:
        """In the worker thread: COMMIT each file in order (a failure fails the batch; the
        files before it stay committed, which the store's order makes safe), then the
        clean-up after an erasure, which may wait for other processes' locks here, off the
        loop."""
        self._each("COMMIT")
        if not (checkpoint or vacuum or erased):
            return
        # The batch is committed: a failure from here on is logged, not reported as a
        # failed save, and the next /delete, purge or `coach keys rotate` tries again.
        for database in self.files:
            try:
                database.conn.execute(f"PRAGMA busy_timeout={self._busy_timeout_ms}")
                try:
                    scrub(database.conn, database.file, checkpoint=checkpoint, erased=erased,
                          vacuum=vacuum)
                finally:
                    database.conn.execute("PRAGMA busy_timeout=0")
            except sqlite3.Error as error:
                log.warning("event=store_checkpoint_failed error=%s", type(error).__name__)
