"""The embedded default store: SQLite in WAL mode with durable, grouped commits.

Reads and writes run on the event loop's thread, where a primary-key lookup or an upsert in
the page cache takes microseconds. Only the COMMIT (the fsync, with synchronous=FULL) runs
in a worker thread. While one commit is in flight, the next saves from other users collect;
when it lands they are written and committed together. Every save still returns only once
it is durable, but one fsync serves everyone who arrived during the previous one: group
commit, as databases do it. (A thread that ran every statement would fight the event loop
for the GIL on each of them.)

Nothing on the loop's thread waits inside SQLite for a lock. Once the store is open its
connections' busy timeout is zero: when another process holds the write lock, the batch's
BEGIN IMMEDIATE is refused at once and tried again after a short sleep on the loop (growing
to 25 ms), so every other user's message goes on being handled meanwhile, and saves that
arrive while it waits join the batch. A save still waiting `busy_timeout` seconds after it
was made, or one the disk cannot take (full, I/O error, read-only), raises StoreUnavailable:
its transaction is rolled back and the cache is not touched, so nothing of it is kept.

While this process has a connection to the database, the file is opened by SQLite alone:
POSIX record locks belong to the process, and closing any other descriptor of the file
drops SQLite's locks without its knowing. Another process closing the database would then
take itself for the last user, checkpoint, and unlink the -wal this one still writes into:
acknowledged saves would be lost on a `kill -9`. See connect_private and raw_descriptor.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.crypto import Cipher, InvalidToken
from bot.session import Session
from bot.store.base import Store, StoreClosed, StoreUnavailable, VersionConflict, platform_range
from bot.store.in_use import StoreInUse
from bot.store.sqlite_files import connect_private, contains, ensure_due_column, raw_descriptor

log = logging.getLogger(__name__)


class UnreadableStore(RuntimeError):
    """The stored sessions cannot be decrypted with the configured key(s)."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    user_key   TEXT PRIMARY KEY,
    version    INTEGER NOT NULL,
    updated_at REAL NOT NULL,
    data       BLOB NOT NULL,
    due_at     REAL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS sessions_updated ON sessions(updated_at);
"""
Operation = Callable[[sqlite3.Connection], Any]

# How long a write (or read) waits for another process's lock before StoreUnavailable("busy").
BUSY_TIMEOUT_S = 10.0
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


class SQLiteStore(Store):
    """Each session row's data is encrypted with `cipher` (see bot/crypto.py); only the user
    key, version and time stay readable, for lookups and retention.

    Recently active sessions are also kept, decrypted, in a small write-through cache
    (`cache_size` entries, least recently used dropped first), so a conversation in progress
    is not read back and decrypted on every message. The cache never decides anything on its
    own: every save is still a compare-and-set on the stored version, and a conflict (another
    process wrote the row) drops the cached copy so the retry reads the database.

    `busy_timeout` (seconds) is how long a save, /delete or read waits for a lock another
    process holds before it raises StoreUnavailable("busy"); opening the store may block for
    as long (it happens once, before any message is handled).
    """

    def __init__(self, path: str | Path, cipher: Cipher | None = None,
                 cache_size: int = 2048, busy_timeout: float = BUSY_TIMEOUT_S) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.absolute()  # as SQLite keeps it, whatever the cwd is later
        self._busy_timeout = busy_timeout
        self._busy_timeout_ms = max(0, round(busy_timeout * 1000))
        self.in_use = StoreInUse(self._file)
        try:
            self._writer = connect_private(self.path, busy_timeout_ms=self._busy_timeout_ms)
        except BaseException:
            self.in_use.release()
            raise
        try:
            self._writer.executescript(SCHEMA)
            ensure_due_column(self._writer)
            self._reader = connect_private(self.path, busy_timeout_ms=self._busy_timeout_ms)
        except BaseException:
            self._writer.close()
            self.in_use.release()
            raise
        self._pending: list[_Write] = []
        self._flusher: asyncio.Task | None = None
        self._closed = False
        self.cipher = cipher
        self._cache: OrderedDict[str, Session] = OrderedDict()
        self._cache_size = cache_size
        try:
            self._check_key()
            # From here on nothing waits inside SQLite on the loop's thread: see _begin, _read.
            self._writer.execute("PRAGMA busy_timeout=0")
            self._reader.execute("PRAGMA busy_timeout=0")
        except BaseException:
            self._reader.close()
            self._writer.close()
            self.in_use.release()
            raise

    @property
    def folder(self) -> Path:
        return self.path.parent

    def _check_key(self) -> None:
        """Fail at start-up, not on someone's message, when the key does not fit."""
        row = self._reader.execute("SELECT data, user_key FROM sessions LIMIT 1").fetchone()
        if row is not None:
            self._decode(row[0], row[1])

    def _encode(self, plain: str, owner: str) -> str | bytes:
        return self.cipher.encrypt(plain, owner) if self.cipher else plain

    def _decode(self, stored: str | bytes, owner: str) -> str:
        if self.cipher is None:
            if isinstance(stored, bytes):
                raise UnreadableStore(f"{self.path}: sessions are encrypted but no key is set")
            return stored
        try:
            return self.cipher.decrypt(stored, owner)
        except InvalidToken as exc:
            raise UnreadableStore(f"{self.path}: stored sessions cannot be decrypted with the "
                                  f"key(s) from {self.cipher.source}") from exc

    async def _read_all(self, sql: str, parameters: tuple[Any, ...] = ()) -> list[Any]:
        """Every row of a query on the reader (retried like `_read`)."""
        return await self._read(sql, parameters, every=True)

    async def _read(self, sql: str, parameters: tuple[Any, ...] = (), *,
                    every: bool = False) -> Any:
        """The first row of a query on the reader (every row with `every`). With WAL a read
        is rarely refused (another process recovering the WAL after a crash); when it is, it
        is tried again after a sleep on the loop, as _begin does, not inside SQLite."""
        deadline, delay = 0.0, FIRST_RETRY_S
        while True:
            try:
                cursor = self._reader.execute(sql, parameters)
                return cursor.fetchall() if every else cursor.fetchone()
            except sqlite3.Error as error:
                reason = unavailable_reason(error)
                if reason is None:
                    raise
                now = asyncio.get_running_loop().time()
                deadline = deadline or now + self._busy_timeout
                if reason != "busy" or now >= deadline:
                    raise StoreUnavailable(reason) from error
            await asyncio.sleep(min(delay, deadline - now))
            delay = min(delay * 2, LAST_RETRY_S)

    # -- group commit -------------------------------------------------------------------------

    async def _write(self, operation: Operation, *, checkpoint: bool = False,
                     erased: tuple[str, ...] = (), vacuum: bool = False) -> Any:
        if self._closed:
            raise StoreClosed("store is closed")
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._pending.append(_Write(operation, future, loop.time() + self._busy_timeout,
                                    checkpoint, erased, vacuum))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        return await future

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
        """Take the write lock for the next batch (BEGIN IMMEDIATE) without blocking the
        loop: while another connection holds it, sleep on the loop and try again. Writes
        whose deadline passes meanwhile fail with StoreUnavailable("busy"); False when none
        is left waiting."""
        loop = asyncio.get_running_loop()
        delay = FIRST_RETRY_S
        while True:
            try:
                self._writer.execute("BEGIN IMMEDIATE")
                return True
            except sqlite3.OperationalError as error:
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

    def _apply(self, batch: list[_Write]) -> list[tuple[bool, Any]]:
        """Run the batch's operations in the open transaction. One that fails on its own is
        undone alone, so the others are not spoiled by it; a failure of the store itself
        (full, I/O error) is raised, and the whole batch is rolled back."""
        conn = self._writer
        conn.execute("SAVEPOINT batch")
        try:
            results = [(True, write.operation(conn)) for write in batch]
        except Exception as exc:
            if unavailable_reason(exc):
                raise
            conn.execute("ROLLBACK TO batch")  # the write lock stays held
            results = [self._apply_alone(write) for write in batch]
        conn.execute("RELEASE batch")
        return results

    def _apply_alone(self, write: _Write) -> tuple[bool, Any]:
        conn = self._writer
        conn.execute("SAVEPOINT op")
        try:
            result: tuple[bool, Any] = (True, write.operation(conn))
        except Exception as exc:
            if unavailable_reason(exc):
                raise
            conn.execute("ROLLBACK TO op")
            result = (False, exc)
        conn.execute("RELEASE op")
        return result

    def _rollback(self) -> None:
        """Undo a failed batch, unless SQLite already has (it may, after a full disk or an
        I/O error)."""
        if self._writer.in_transaction:
            try:
                self._writer.execute("ROLLBACK")
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
        """In the worker thread: COMMIT (a failure fails the batch), then the clean-up after
        an erasure, which may wait for other processes' locks here, off the loop."""
        self._writer.execute("COMMIT")
        if not (checkpoint or vacuum or erased):
            return
        # The batch is committed: a failure from here on is logged, not reported as a
        # failed save, and the next /delete, purge or `coach keys rotate` tries again.
        try:
            self._writer.execute(f"PRAGMA busy_timeout={self._busy_timeout_ms}")
            try:
                self._erase_copies(checkpoint, erased, vacuum)
            finally:
                self._writer.execute("PRAGMA busy_timeout=0")
        except sqlite3.Error as error:
            log.warning("event=store_checkpoint_failed error=%s", type(error).__name__)

    def _erase_copies(self, checkpoint: bool, erased: tuple[str, ...], vacuum: bool) -> None:
        if checkpoint or vacuum:
            self._checkpoint()
        if vacuum or (erased and self._left_on_disk(erased)):
            # A page split or merge can leave an old copy of a row in the unused part of a
            # page, where secure_delete does not reach; rebuilding the file drops them all.
            # Rare after a /delete (a fraction of a percent), so the cost is paid only then.
            reason = "requested" if vacuum else "erased_row_copy"
            try:
                self._writer.execute("VACUUM")
                self._checkpoint()
            except sqlite3.Error as error:
                log.warning("event=store_vacuum_failed reason=%s error=%s", reason,
                            type(error).__name__)
            else:
                log.info("event=store_vacuum reason=%s", reason)

    def _checkpoint(self) -> None:
        """Fold the WAL into the database and truncate it: erased rows leave no copy there."""
        busy = self._writer.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        if busy:  # another connection is still reading an older snapshot
            log.warning("event=wal_checkpoint_busy")

    def _left_on_disk(self, user_keys: tuple[str, ...]) -> bool:
        """Whether the bytes of any of these user keys are still in the database or its WAL
        (every copy of a row holds its key); when a file cannot be read, True (rebuild
        rather than guess).

        The database file is read through a descriptor that is never closed (see
        raw_descriptor). The -wal may be opened and closed like any file: SQLite locks
        only the database file and the -shm. After a full checkpoint it is empty and is not
        opened at all."""
        needles = [key.encode("utf-8") for key in user_keys]
        try:
            if contains(raw_descriptor(self._file), needles):
                return True
        except OSError:
            return True
        wal = Path(f"{self._file}-wal")
        try:
            if wal.stat().st_size == 0:
                return False
            descriptor = os.open(wal, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return False
        except OSError:
            return True
        try:
            return contains(descriptor, needles)
        except OSError:
            return True
        finally:
            os.close(descriptor)

    # -- the interface ------------------------------------------------------------------------

    def _remember(self, session: Session) -> None:
        if self._cache_size <= 0:
            return
        self._cache[session.user_key] = session.copy()
        self._cache.move_to_end(session.user_key)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    async def load(self, user_key: str) -> Session | None:
        cached = self._cache.get(user_key)
        if cached is not None:
            self._cache.move_to_end(user_key)
            return cached.copy()
        row = await self._read("SELECT data FROM sessions WHERE user_key = ?", (user_key,))
        return Session.from_json(self._decode(row[0], user_key)) if row else None

    async def save(self, session: Session) -> None:
        """Unless it is committed, `session` is left exactly as it was given: same version,
        same time (a caller may take the same step again)."""
        expected, before = session.version, session.updated_at
        updated = time.time()
        session.version, session.updated_at = expected + 1, updated
        try:
            data = self._encode(session.to_json(), session.user_key)
        finally:
            session.version, session.updated_at = expected, before
        due = session.due

        def write(conn: sqlite3.Connection) -> bool:
            if expected == 0:
                cursor = conn.execute(
                    "INSERT OR IGNORE INTO sessions (user_key, version, updated_at, data, "
                    "due_at) VALUES (?, ?, ?, ?, ?)",
                    (session.user_key, expected + 1, updated, data, due))
            else:
                cursor = conn.execute(
                    "UPDATE sessions SET version = ?, updated_at = ?, data = ?, due_at = ? "
                    "WHERE user_key = ? AND version = ?",
                    (expected + 1, updated, data, due, session.user_key, expected))
            return cursor.rowcount == 1

        if not await self._write(write):
            self._cache.pop(session.user_key, None)
            raise VersionConflict(session.user_key)
        session.version, session.updated_at = expected + 1, updated
        self._remember(session)

    async def delete(self, user_key: str) -> bool:
        self._cache.pop(user_key, None)

        def erase(conn: sqlite3.Connection) -> bool:
            return conn.execute("DELETE FROM sessions WHERE user_key = ?",
                                (user_key,)).rowcount > 0

        return bool(await self._write(erase, checkpoint=True, erased=(user_key,)))

    async def purge(self, older_than: float) -> int:
        self._cache.clear()

        def erase(conn: sqlite3.Connection) -> int:
            return conn.execute("DELETE FROM sessions WHERE updated_at < ?",
                                (older_than,)).rowcount

        return int(await self._write(erase, checkpoint=True))

    async def rotate_keys(self) -> int:
        """Re-encrypt every row under the newest key; how many rows."""
        cipher = self.cipher
        if cipher is None:
            return 0

        def rotate(conn: sqlite3.Connection) -> int:
            rows = conn.execute("SELECT user_key, data FROM sessions").fetchall()
            conn.executemany("UPDATE sessions SET data = ? WHERE user_key = ?",
                             [(cipher.rotate(data, key), key) for key, data in rows])
            return len(rows)

        # Rebuilt afterwards, so no copy sealed with an older key is left in unused space.
        return int(await self._write(rotate, checkpoint=True, vacuum=True))

    async def count(self) -> int:
        return int((await self._read("SELECT COUNT(*) FROM sessions"))[0])

    async def due(self, now: float, platform: str, limit: int) -> list[str]:
        low, high = platform_range(platform)
        rows = await self._read_all(
            "SELECT user_key FROM sessions WHERE due_at <= ? AND user_key >= ? "
            "AND user_key < ? ORDER BY due_at LIMIT ?", (now, low, high, limit))
        return [row[0] for row in rows]

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._flusher is not None and not self._flusher.done():
            await self._flusher
        self._reader.close()
        self._writer.close()
        self.in_use.release()
