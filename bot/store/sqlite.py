"""The embedded default store: SQLite in WAL mode with durable, grouped commits.

Reads and writes run on the event loop's thread, where a primary-key lookup or an upsert in
the page cache takes microseconds. Only the COMMIT (the fsync, with synchronous=FULL) runs
in a worker thread. While one commit is in flight, the next saves from other users collect;
when it lands they are written and committed together. Every save still returns only once
it is durable, but one fsync serves everyone who arrived during the previous one: group
commit, as databases do it. (A thread that ran every statement would fight the event loop
for the GIL on each of them.)
"""

from __future__ import annotations

import asyncio
import logging
import mmap
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
from bot.store.base import Store, StoreClosed, VersionConflict

log = logging.getLogger(__name__)


class UnreadableStore(RuntimeError):
    """The stored sessions cannot be decrypted with the configured key(s)."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    user_key   TEXT PRIMARY KEY,
    version    INTEGER NOT NULL,
    updated_at REAL NOT NULL,
    data       BLOB NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS sessions_updated ON sessions(updated_at);
"""

Operation = Callable[[sqlite3.Connection], Any]


@dataclass
class _Write:
    operation: Operation
    future: asyncio.Future
    checkpoint: bool = False
    # Rows this write erases (user keys): after the checkpoint, none may be left on disk.
    erased: tuple[str, ...] = ()
    vacuum: bool = False


OWNER_ONLY = 0o600
# The database and the files SQLite keeps beside it. The WAL holds recent rows (user keys,
# sealed answers) until a checkpoint, and the -shm its index: all are as private as the .db.
COMPANIONS = ("-wal", "-shm", "-journal")


def _owner_only(path: Path) -> None:
    """Take the database and every file SQLite keeps beside it down to owner-only (an
    older build left them 0644)."""
    for file in (path, *(Path(f"{path}{suffix}") for suffix in COMPANIONS)):
        try:
            if file.stat().st_mode & 0o777 != OWNER_ONLY:
                os.chmod(file, OWNER_ONLY)
        except FileNotFoundError:
            pass


def connect_private(path: Path, synchronous: str = "FULL") -> sqlite3.Connection:
    """A WAL-mode connection whose files are all owner-only from the moment they exist.

    SQLite gives a new -wal or -shm file the mode of the database file, so the .db is
    created (or made) owner-only before the first connection, under a umask that keeps
    anything else made here owner-only too. (The umask is process-wide; it is changed only
    for these few synchronous calls, made when a store is opened.)"""
    if synchronous not in ("FULL", "NORMAL"):
        raise ValueError(f"synchronous must be FULL or NORMAL, not {synchronous!r}")
    previous = os.umask(0o077)
    try:
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, OWNER_ONLY))
        _owner_only(path)
        conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA busy_timeout=10000")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={synchronous}")
            conn.execute("PRAGMA secure_delete=ON")
            conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()  # opens -wal, -shm
        except BaseException:
            conn.close()
            raise
    finally:
        os.umask(previous)
    _owner_only(path)
    return conn


class SQLiteStore(Store):
    """Each session row's data is encrypted with `cipher` (see bot/crypto.py); only the user
    key, version and time stay readable, for lookups and retention.

    Recently active sessions are also kept, decrypted, in a small write-through cache
    (`cache_size` entries, least recently used dropped first), so a conversation in progress
    is not read back and decrypted on every message. The cache never decides anything on its
    own: every save is still a compare-and-set on the stored version, and a conflict (another
    process wrote the row) drops the cached copy so the retry reads the database.
    """

    def __init__(self, path: str | Path, cipher: Cipher | None = None,
                 cache_size: int = 2048) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = connect_private(self.path)
        self._writer.executescript(SCHEMA)
        self._reader = connect_private(self.path)
        self._pending: list[_Write] = []
        self._flusher: asyncio.Task | None = None
        self._closed = False
        self.cipher = cipher
        self._cache: OrderedDict[str, Session] = OrderedDict()
        self._cache_size = cache_size
        try:
            self._check_key()
        except BaseException:
            self._reader.close()
            self._writer.close()
            raise

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

    # -- group commit -------------------------------------------------------------------------

    async def _write(self, operation: Operation, *, checkpoint: bool = False,
                     erased: tuple[str, ...] = (), vacuum: bool = False) -> Any:
        if self._closed:
            raise StoreClosed("store is closed")
        future = asyncio.get_running_loop().create_future()
        self._pending.append(_Write(operation, future, checkpoint, erased, vacuum))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                results = self._apply(batch)
                await asyncio.to_thread(self._commit, any(w.checkpoint for w in batch),
                                        tuple(k for w in batch for k in w.erased),
                                        any(w.vacuum for w in batch))
            except Exception as exc:
                if self._writer.in_transaction:
                    self._writer.execute("ROLLBACK")
                results = [(False, exc)] * len(batch)
            for write, (ok, value) in zip(batch, results, strict=True):
                if write.future.done():
                    continue
                if ok:
                    write.future.set_result(value)
                else:
                    write.future.set_exception(value)

    def _apply(self, batch: list[_Write]) -> list[tuple[bool, Any]]:
        conn = self._writer
        conn.execute("BEGIN IMMEDIATE")
        try:
            return [(True, write.operation(conn)) for write in batch]
        except Exception:
            conn.execute("ROLLBACK")
        # One operation failed: run each alone, so the others are not spoiled by it.
        results: list[tuple[bool, Any]] = []
        for write in batch:
            conn.execute("SAVEPOINT op")
            try:
                results.append((True, write.operation(conn)))
                conn.execute("RELEASE op")
            except Exception as exc:
                conn.execute("ROLLBACK TO op")
                conn.execute("RELEASE op")
                results.append((False, exc))
        return results

    def _commit(self, checkpoint: bool, erased: tuple[str, ...] = (),
                vacuum: bool = False) -> None:
        if self._writer.in_transaction:
            self._writer.execute("COMMIT")
        if checkpoint or vacuum:
            self._checkpoint()
        if vacuum or (erased and self._left_on_disk(erased)):
            # A page split or merge can leave an old copy of a row in the unused part of a
            # page, where secure_delete does not reach; rebuilding the file drops them all.
            # Rare after a /delete (a fraction of a percent), so the cost is paid only then.
            # The batch is committed already: a failure here is logged, not reported as a
            # failed save, and the next /delete or `coach keys rotate` tries again.
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
        (every copy of a row holds its key). Read through a memory map: no copy of
        the file, one fast search per key."""
        needles = [key.encode("utf-8") for key in user_keys]
        for file in (self.path, Path(f"{self.path}-wal")):
            try:
                with file.open("rb") as handle:
                    if os.fstat(handle.fileno()).st_size == 0:
                        continue
                    with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
                        if any(data.find(needle) >= 0 for needle in needles):
                            return True
            except FileNotFoundError:
                continue
            except (OSError, ValueError):  # cannot be read: rebuild rather than guess
                return True
        return False

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
        row = self._reader.execute("SELECT data FROM sessions WHERE user_key = ?",
                                   (user_key,)).fetchone()
        return Session.from_json(self._decode(row[0], user_key)) if row else None

    async def save(self, session: Session) -> None:
        expected = session.version
        updated = time.time()
        session.version, session.updated_at = expected + 1, updated
        data = self._encode(session.to_json(), session.user_key)
        session.version, session.updated_at = expected, updated

        def write(conn: sqlite3.Connection) -> bool:
            if expected == 0:
                cursor = conn.execute(
                    "INSERT OR IGNORE INTO sessions (user_key, version, updated_at, data) "
                    "VALUES (?, ?, ?, ?)", (session.user_key, expected + 1, updated, data))
            else:
                cursor = conn.execute(
                    "UPDATE sessions SET version = ?, updated_at = ?, data = ? "
                    "WHERE user_key = ? AND version = ?",
                    (expected + 1, updated, data, session.user_key, expected))
            return cursor.rowcount == 1

        if not await self._write(write):
            self._cache.pop(session.user_key, None)
            raise VersionConflict(session.user_key)
        session.version = expected + 1
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
        return int(self._reader.execute("SELECT COUNT(*) FROM sessions").fetchone()[0])

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._flusher is not None and not self._flusher.done():
            await self._flusher
        self._reader.close()
        self._writer.close()
