"""The embedded default store: SQLite in WAL mode with durable, grouped commits
(bot/store/sqlite_commit.py) in files that are owner-only and scrubbed after an erasure
(bot/store/sqlite_files.py).

With a key, each person's session is sealed with their own data key, and the data keys are
kept wrapped by the store key in a second file beside the database (`coach.db.person-keys`),
so that /delete and the retention purge can destroy the key along with the row: a backup of
`coach.db` alone then holds only ciphertext that nothing can open any more.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.crypto import Cipher, DataKey, person_sealed
from bot.session import Session
from bot.store.base import (
    COPIED,
    NEWER,
    THERE,
    Store,
    StoreClosed,
    StoreUnavailable,
    UnreadableStore,
    VersionConflict,
    platform_range,
)
from bot.store.in_use import StoreInUse
from bot.store.person_keys import PersonKeys, readable
from bot.store.sqlite_commit import (
    FIRST_RETRY_S,
    LAST_RETRY_S,
    DatabaseFile,
    GroupCommit,
    Operation,
    unavailable_reason,
)
from bot.store.sqlite_files import connect_private

__all__ = ["SQLiteStore", "UnreadableStore", "connect_private", "person_keys_file",
           "unavailable_reason"]

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
# A file made before check-ins has no due_at: it is added (NULL: nothing due) on opening.
DUE_COLUMN = "ALTER TABLE sessions ADD COLUMN due_at REAL"
DUE_INDEX = ("CREATE INDEX IF NOT EXISTS sessions_due ON sessions(due_at) "
             "WHERE due_at IS NOT NULL")
KEYS_SCHEMA = """
CREATE TABLE IF NOT EXISTS person_keys (
    user_key   TEXT PRIMARY KEY,
    wrapped    BLOB NOT NULL,
    key_id     TEXT NOT NULL,
    created_at REAL NOT NULL
) WITHOUT ROWID;
"""
# A row sealed with a data key (the leftover of an erasure, when its key is gone).
PERSON_SEALED = "substr(data, 1, 1) = x'02'"

# How long a write (or read) waits for another process's lock before StoreUnavailable("busy").
BUSY_TIMEOUT_S = 10.0


def _ensure_due_column(conn: sqlite3.Connection) -> None:
    columns = {row[1] for row in conn.execute("PRAGMA table_info(sessions)")}
    if "due_at" not in columns:
        conn.execute(DUE_COLUMN)
    conn.execute(DUE_INDEX)


def person_keys_file(database: Path) -> Path:
    """Where a database's wrapped data keys are kept: beside it, never inside it."""
    return database.with_name(database.name + ".person-keys")


class SQLiteStore(Store):
    """Each session row's data is encrypted (see bot/crypto.py); only the user key, version
    and time stay readable, for lookups and retention. Without a cipher (tests) rows are
    plain JSON and there is no key file.

    Recently active sessions are also kept, decrypted, in a small write-through cache
    (`cache_size` entries, least recently used dropped first), so a conversation in progress
    is not read back and decrypted on every message. The cache never decides anything on its
    own: every save is still a compare-and-set on the stored version, and a conflict (another
    process wrote the row) drops the cached copy so the retry reads the database.

    The key file is locked and committed before the sessions: a crash between the two
    commits leaves either a key with no row (a first save: harmless, used at the next save)
    or a row with no key (an erasure: the row can never be opened again, reads as no
    session, and is replaced or erased later). The other order could leave an erased
    person's key, or a saved row nobody can open.

    `busy_timeout` (seconds) is how long a save, /delete or read waits for a lock another
    process holds before it raises StoreUnavailable("busy"); opening the store may block for
    as long (it happens once, before any message is handled).
    """

    kind = "sqlite"

    def __init__(self, path: str | Path, cipher: Cipher | None = None,
                 cache_size: int = 2048, busy_timeout: float = BUSY_TIMEOUT_S) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.absolute()  # as SQLite keeps it, whatever the cwd is later
        self._busy_timeout = busy_timeout
        wait_ms = max(0, round(busy_timeout * 1000))
        self.in_use = StoreInUse(self._file)
        opened: list[sqlite3.Connection] = []
        try:
            files = [self._file] if cipher is None else [person_keys_file(self._file), self._file]
            databases = []
            for file, schema in zip(files, (KEYS_SCHEMA, SCHEMA)[-len(files):], strict=True):
                writer = connect_private(file, busy_timeout_ms=wait_ms)
                opened.append(writer)
                writer.executescript(schema)
                if schema is SCHEMA:
                    _ensure_due_column(writer)
                databases.append(DatabaseFile(writer, file))
                opened.append(connect_private(file, busy_timeout_ms=wait_ms))
            self._reader = opened[-1]
            self._keys_writer = opened[0] if cipher else None
            self._keys_reader = opened[1] if cipher else None
            self._commits = GroupCommit(databases, busy_timeout)
            self._cipher = cipher
            self._keys = PersonKeys(cipher) if cipher else None
            self._cache: OrderedDict[str, Session] = OrderedDict()
            self._cache_size = cache_size
            self._check_key()
            # From here on nothing waits inside SQLite on the loop's thread: see _read and
            # GroupCommit._begin.
            for conn in opened:
                conn.execute("PRAGMA busy_timeout=0")
        except BaseException:
            for conn in reversed(opened):
                conn.close()
            self.in_use.release()
            raise

    @property
    def folder(self) -> Path:
        return self.path.parent

    @property
    def cipher(self) -> Cipher | None:
        return self._cipher

    @cipher.setter
    def cipher(self, cipher: Cipher) -> None:
        """Another set of store keys (a rotation adds one): unwrapped keys are dropped."""
        self._cipher = cipher
        if self._keys is not None:
            self._keys.cipher = cipher
            self._keys.forget_all()

    @property
    def _writer(self) -> sqlite3.Connection:
        return self._commits.writer

    def _check_key(self) -> None:
        """Fail at start-up, not on someone's message, when the key does not fit: a wrapped
        key, and a row, must open."""
        if self._keys_reader is not None:
            key = self._keys_reader.execute(
                "SELECT user_key, wrapped FROM person_keys LIMIT 1").fetchone()
            if key is not None:
                self._unreadable_unless(self._cipher.unwrap, key[1], key[0])
        row = self._reader.execute("SELECT data, user_key FROM sessions LIMIT 1").fetchone()
        if row is not None:
            wrapped = None
            if self._keys_reader is not None and person_sealed(row[0]):
                found = self._keys_reader.execute(
                    "SELECT wrapped FROM person_keys WHERE user_key = ?", (row[1],)).fetchone()
                wrapped = found and found[0]
            self._decode(row[0], row[1], wrapped)

    def _unreadable_unless(self, opening: Callable[..., Any], *args: Any) -> Any:
        return readable(str(self.path), self._cipher, opening, *args)

    def _decode(self, stored: str | bytes, owner: str, wrapped: bytes | None) -> str | None:
        """The session text; None for a row whose data key was erased."""
        if self._keys is None:
            if isinstance(stored, bytes):
                raise UnreadableStore(f"{self.path}: sessions are encrypted but no key is set")
            return stored
        return self._unreadable_unless(self._keys.open, stored, owner, wrapped)

    async def _read(self, sql: str, parameters: tuple[Any, ...] = (),
                    conn: sqlite3.Connection | None = None, every: bool = False) -> Any:
        """The first row of a query on a reader. With WAL a read is rarely refused (another
        process recovering the WAL after a crash); when it is, it is tried again after a
        sleep on the loop, as GroupCommit._begin does, not inside SQLite. `every`: all rows."""
        deadline, delay = 0.0, FIRST_RETRY_S
        while True:
            try:
                cursor = (conn or self._reader).execute(sql, parameters)
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

    async def _write(self, operation: Operation, *, checkpoint: bool = False,
                     erased: tuple[str, ...] = (), vacuum: bool = False) -> Any:
        return await self._commits.write(operation, checkpoint=checkpoint, erased=erased,
                                         vacuum=vacuum)

    # -- data keys ----------------------------------------------------------------------------

    async def _wrapped(self, user_key: str) -> bytes | None:
        if self._keys_reader is None:
            return None
        row = await self._read("SELECT wrapped FROM person_keys WHERE user_key = ?",
                               (user_key,), self._keys_reader)
        return None if row is None else row[0]

    async def _key_for(self, user_key: str) -> DataKey | None:
        """The key to seal this person's next row with: theirs, or a new one."""
        if self._keys is None:
            return None
        key = self._keys.cached(user_key)
        if key is None:
            wrapped = await self._wrapped(user_key)
            key = (self._keys.fresh(user_key) if wrapped is None else
                   self._unreadable_unless(self._keys.known, user_key, wrapped))
        return key

    def _hold_key(self, user_key: str, key: DataKey | None) -> None:
        """In a batch: make sure `key` is the person's stored key (storing a new one, and
        dropping a row left sealed with an erased key); VersionConflict, undoing the
        operation, when another writer got there first."""
        if key is None or self._keys_writer is None:
            return
        if key.new:
            cursor = self._keys_writer.execute(
                "INSERT OR IGNORE INTO person_keys (user_key, wrapped, key_id, created_at) "
                "VALUES (?, ?, ?, ?)", (user_key, key.wrapped, Cipher.wrapped_key_id(
                    key.wrapped), time.time()))
            if cursor.rowcount != 1:
                raise VersionConflict(user_key)
            self._writer.execute(f"DELETE FROM sessions WHERE user_key = ? AND {PERSON_SEALED}",
                                 (user_key,))
            return
        row = self._keys_writer.execute("SELECT wrapped FROM person_keys WHERE user_key = ?",
                                        (user_key,)).fetchone()
        if row is None or row[0] != key.wrapped:
            raise VersionConflict(user_key)

    def _stored(self, user_key: str, key: DataKey | None) -> None:
        if key is not None and self._keys is not None:
            self._keys.stored(user_key, key)

    def _forget(self, user_key: str) -> None:
        self._cache.pop(user_key, None)
        if self._keys is not None:
            self._keys.forget(user_key)

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
        if row is None:
            self._forget(user_key)
            return None
        wrapped = await self._wrapped(user_key) if person_sealed(row[0]) else None
        plain = self._decode(row[0], user_key, wrapped)
        return None if plain is None else Session.from_json(plain)

    async def save(self, session: Session) -> None:
        """Unless it is committed, `session` is left exactly as it was given: same version,
        same time (a caller may take the same step again)."""
        expected, updated = session.version, time.time()
        plain = session.json_as_saved(expected + 1, updated)
        key = await self._key_for(session.user_key)
        data = plain if key is None else key.seal(plain, session.user_key)
        due = session.due

        def write(conn: sqlite3.Connection) -> None:
            self._hold_key(session.user_key, key)
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
            if cursor.rowcount != 1:
                raise VersionConflict(session.user_key)

        try:
            await self._write(write)
        except VersionConflict:
            self._forget(session.user_key)
            raise
        session.version, session.updated_at = expected + 1, updated
        self._stored(session.user_key, key)
        self._remember(session)

    async def delete(self, user_key: str) -> bool:
        """The data key goes in the same batch as the row (the key file commits first)."""
        self._forget(user_key)

        def erase(conn: sqlite3.Connection) -> bool:
            keys = 0
            if self._keys_writer is not None:
                keys = self._keys_writer.execute("DELETE FROM person_keys WHERE user_key = ?",
                                                 (user_key,)).rowcount
            return conn.execute("DELETE FROM sessions WHERE user_key = ?",
                                (user_key,)).rowcount + keys > 0

        try:
            return bool(await self._write(erase, checkpoint=True, erased=(user_key,)))
        finally:
            self._forget(user_key)  # a load made meanwhile may have cached it again

    async def purge(self, older_than: float) -> int:
        self._cache.clear()

        def erase(conn: sqlite3.Connection) -> int:
            if self._keys_writer is not None:
                gone = conn.execute("SELECT user_key FROM sessions WHERE updated_at < ?",
                                    (older_than,)).fetchall()
                self._keys_writer.executemany("DELETE FROM person_keys WHERE user_key = ?", gone)
            return conn.execute("DELETE FROM sessions WHERE updated_at < ?",
                                (older_than,)).rowcount

        try:
            return int(await self._write(erase, checkpoint=True))
        finally:
            if self._keys is not None:
                self._keys.forget_all()

    async def rotate_keys(self) -> tuple[int, int]:
        """Re-wrap every data key under the newest store key, and move every row still
        sealed with a store key (format 1) to a data key; (keys re-wrapped, rows re-sealed).
        Both files are rebuilt afterwards, so no copy wrapped with an older key is left in
        unused space."""
        cipher, keys = self._cipher, self._keys
        if cipher is None or keys is None or self._keys_writer is None:
            return 0, 0
        keys_writer = self._keys_writer

        def rotate(conn: sqlite3.Connection) -> tuple[int, int]:
            rewrapped = []
            for user_key, wrapped in keys_writer.execute(
                    "SELECT user_key, wrapped FROM person_keys").fetchall():
                fresh = self._unreadable_unless(cipher.rewrap, wrapped, user_key)
                if fresh is not None:
                    rewrapped.append((fresh, cipher.key_id, user_key))
            keys_writer.executemany("UPDATE person_keys SET wrapped = ?, key_id = ? "
                                    "WHERE user_key = ?", rewrapped)
            old = conn.execute("SELECT user_key, data FROM sessions "
                               f"WHERE NOT {PERSON_SEALED}").fetchall()
            for user_key, data in old:
                plain = self._unreadable_unless(cipher.decrypt, data, user_key)
                key = self._key_in_batch(user_key)
                conn.execute("UPDATE sessions SET data = ? WHERE user_key = ?",
                             (key.seal(plain, user_key), user_key))
            return len(rewrapped), len(old)

        keys.forget_all()
        return await self._write(rotate, checkpoint=True, vacuum=True)

    def _key_in_batch(self, user_key: str) -> DataKey:
        """In a batch: the person's stored key, or a new one stored now."""
        assert self._keys_writer is not None and self._keys is not None
        row = self._keys_writer.execute("SELECT wrapped FROM person_keys WHERE user_key = ?",
                                        (user_key,)).fetchone()
        if row is not None:
            return self._unreadable_unless(self._keys.known, user_key, row[0])
        key = self._keys.fresh(user_key)
        self._hold_key(user_key, key)
        return key

    async def count(self) -> int:
        return int((await self._read("SELECT COUNT(*) FROM sessions"))[0])

    async def due(self, now: float, platform: str, limit: int) -> list[str]:
        low, high = platform_range(platform)
        rows = await self._read(
            "SELECT user_key FROM sessions WHERE due_at <= ? AND user_key >= ? "
            "AND user_key < ? ORDER BY due_at LIMIT ?", (now, low, high, limit), every=True)
        return [row[0] for row in rows]

    async def user_keys(self, after: str | None, limit: int) -> list[str]:
        rows = await self._read(
            "SELECT user_key FROM sessions WHERE user_key > ? ORDER BY user_key LIMIT ?",
            (after or "", limit), every=True)
        return [row[0] for row in rows]

    async def import_session(self, session: Session) -> str:
        """Sealed with the person's key here (a new one if they have none yet)."""
        user_key = session.user_key
        self._forget(user_key)
        plain = session.to_json()

        def put(conn: sqlite3.Connection) -> str:
            row = conn.execute("SELECT version FROM sessions WHERE user_key = ?",
                               (user_key,)).fetchone()
            if row is not None and row[0] >= session.version:
                return THERE if row[0] == session.version else NEWER
            data = plain if self._keys is None else self._key_in_batch(user_key).seal(
                plain, user_key)
            conn.execute("INSERT OR REPLACE INTO sessions (user_key, version, updated_at, data, "
                         "due_at) VALUES (?, ?, ?, ?, ?)",
                         (user_key, session.version, session.updated_at, data, session.due))
            return COPIED

        try:
            return str(await self._write(put))
        finally:
            self._forget(user_key)

    async def ping(self) -> None:
        """One page of the sessions table: the file is there and readable (a bare SELECT 1
        would not touch it)."""
        if self._commits.closed:
            raise StoreClosed("store is closed")
        await self._read("SELECT 1 FROM sessions LIMIT 1")

    async def close(self) -> None:
        if self._commits.closed:
            return
        await self._commits.close()
        for conn in (self._reader, self._keys_reader, self._writer, self._keys_writer):
            if conn is not None:
                conn.close()
        self.in_use.release()
