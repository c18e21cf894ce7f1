"""The PostgreSQL store: sessions shared by several coach processes, on asyncpg with a pool
(bot/store/pg_pool.py: retries while the server is away, a person's lock across processes).

The same promises as SQLite. Every save commits with synchronous_commit on, so `save`
returns only once the row is durable; a save is a compare-and-set on the version.

Each person's session is sealed with their own data key, kept wrapped by the store key in
`person_keys` (bot/crypto.py). A save names the wrapped key it sealed with, and commits only
while that is still the person's key; a first save inserts the key and the row in one
transaction, /delete and the purge erase both in one transaction. A save tried again after
a lost connection first reads its row: if the first try did commit (same version, same
sealed bytes, which hold a random nonce) it is done; otherwise it is tried again. Every
transaction that writes both tables takes the session row first, then the key: no deadlock.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Any, TypeVar

import asyncpg

from bot.crypto import Cipher, DataKey, InvalidToken
from bot.session import Session
from bot.store.base import (
    COPIED,
    NEWER,
    THERE,
    Store,
    StoreOpenError,
    StoreUnavailable,
    VersionConflict,
    platform_range,
)
from bot.store.person_keys import PersonKeys, readable
from bot.store.pg_pool import (
    CONNECT_TIMEOUT_S,
    POOL_SIZE,
    RETRY_FOR_S,
    SETTINGS,
    PgPool,
    in_thread,
    lost_reason,
    safe_url,
)
from bot.store.pg_rotate import INSERT_KEY, Batch, key_id_of, reseal_batch, rewrap_batch
from bot.store.pg_schema import PURGE_LOCK, SchemaTooNew, migrate

__all__ = ["PostgresStore", "lost_reason", "migrate_database", "safe_url"]

PING_RETRY_S = 1.0  # a health check tries a fresh connection or two, not for RETRY_FOR_S
PING_TIMEOUT_S = 3.0  # ... and answers within this, connecting included

T = TypeVar("T")

ROTATE_BATCH = 500
KEY_MATCHES = "EXISTS (SELECT 1 FROM person_keys k WHERE k.user_key = $1 AND k.wrapped = $5)"
LOAD = ("SELECT s.data, k.wrapped FROM sessions s "
        "LEFT JOIN person_keys k ON k.user_key = s.user_key WHERE s.user_key = $1")


class PostgresStore(Store):
    """Opened (connected, migrated, key checked) when made, in one blocking call before any
    message is handled: StoreOpenError for an unreachable server or a schema too new,
    UnreadableStore when the key does not open the keys or rows. The pool is made on first
    use, on the loop that uses it."""

    kind = "postgres"

    def __init__(self, url: str, cipher: Cipher, *, pool_size: int = POOL_SIZE,
                 retry_for: float = RETRY_FOR_S) -> None:
        self.url = url
        self.cipher = cipher
        self._keys = PersonKeys(cipher)
        self._pool = PgPool(url, size=pool_size, retry_for=retry_for)
        in_thread(self._open)

    async def _open(self) -> None:
        async with _migrated(self.url) as (conn, _):
            key = await conn.fetchrow("SELECT user_key, wrapped FROM person_keys LIMIT 1")
            if key is not None:
                self._unreadable_unless(self.cipher.unwrap, key["wrapped"], key["user_key"])
            row = await conn.fetchrow(
                "SELECT s.user_key, s.data, k.wrapped FROM sessions s "
                "LEFT JOIN person_keys k ON k.user_key = s.user_key LIMIT 1")
            if row is not None:
                self._decode(row["data"], row["user_key"], row["wrapped"])

    # -- sealing ------------------------------------------------------------------------------

    def _unreadable_unless(self, opening: Callable[..., Any], *args: Any) -> Any:
        return readable(safe_url(self.url), self.cipher, opening, *args)

    def _decode(self, stored: bytes, owner: str, wrapped: bytes | None) -> str | None:
        return self._unreadable_unless(self._keys.open, bytes(stored), owner, wrapped)

    async def _key_on(self, conn: Any, user_key: str, lock: str = "") -> DataKey:
        """The person's stored key (`lock`: FOR UPDATE, in a transaction), or a new one."""
        wrapped = await conn.fetchval(
            f"SELECT wrapped FROM person_keys WHERE user_key = $1 {lock}", user_key)
        if wrapped is None:
            return self._keys.fresh(user_key)
        return self._unreadable_unless(self._keys.known, user_key, wrapped)

    # -- the interface ------------------------------------------------------------------------

    # -- the database for adapters' own tables (SharedTables) ----------------------------------

    def shared_tables(self) -> PostgresStore:
        return self

    async def run(self, operation: Callable[[Any, int], Awaitable[T]]) -> T:
        """`operation(connection, attempt)` on a pool connection, tried again like the
        store's own statements while the server is away."""
        return await self._pool.run(None, operation)

    async def connect(self) -> Any:
        return await self._pool.connect()

    def lost(self, error: BaseException) -> bool:
        return lost_reason(error) is not None

    @asynccontextmanager
    async def person_lock(self, user_key: str) -> AsyncIterator[None]:
        async with self._pool.person_lock(user_key):
            yield

    async def load(self, user_key: str) -> Session | None:
        async def read(conn: Any, attempt: int) -> Any:
            return await conn.fetchrow(LOAD, user_key)

        row = await self._pool.run(user_key, read)
        if row is None:
            self._keys.forget(user_key)
            return None
        plain = self._decode(row["data"], user_key, row["wrapped"])
        return None if plain is None else Session.from_json(plain)

    async def save(self, session: Session) -> None:
        """Unless it is committed, `session` is left exactly as it was given."""
        expected, updated = session.version, time.time()
        plain = session.json_as_saved(expected + 1, updated)
        user = session.user_key
        key, due = self._keys.cached(user), session.due
        sealed: bytes | None = None

        async def write(conn: Any, attempt: int) -> bool:
            nonlocal key, sealed
            if attempt > 1 and sealed is not None:  # the first try may have committed
                row = await conn.fetchrow(
                    "SELECT version, data FROM sessions WHERE user_key = $1", user)
                if row is not None and row["version"] == expected + 1 \
                        and bytes(row["data"]) == sealed:
                    return True
            if key is None:
                key = await self._key_on(conn, user)
            if sealed is None:
                sealed = key.seal(plain, user)
            values = (user, expected + 1, updated, sealed)
            if not key.new:  # the usual case: one statement, while the key is still theirs
                if expected == 0:
                    status = await conn.execute(
                        "INSERT INTO sessions (user_key, version, updated_at, data, due_at) "
                        "SELECT $1::text, $2::bigint, $3::float8, $4::bytea, $6::float8 "
                        f"WHERE {KEY_MATCHES} ON CONFLICT (user_key) DO NOTHING",
                        *values, key.wrapped, due)
                else:
                    status = await conn.execute(
                        "UPDATE sessions SET version = $2, updated_at = $3, data = $4, "
                        f"due_at = $7 WHERE user_key = $1 AND version = $6 AND {KEY_MATCHES}",
                        *values, key.wrapped, expected, due)
                return _rows(status) == 1
            async with conn.transaction():  # a new key: the row, then the key, or neither
                if expected == 0:  # over a row left sealed with an erased key, if any
                    status = await conn.execute(
                        "INSERT INTO sessions (user_key, version, updated_at, data, due_at) "
                        "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_key) DO UPDATE SET "
                        "version = $2, updated_at = $3, data = $4, due_at = $5 "
                        "WHERE get_byte(sessions.data, 0) = 2 AND NOT EXISTS "
                        "(SELECT 1 FROM person_keys k WHERE k.user_key = $1)", *values, due)
                else:
                    status = await conn.execute(
                        "UPDATE sessions SET version = $2, updated_at = $3, data = $4, "
                        "due_at = $6 WHERE user_key = $1 AND version = $5",
                        *values, expected, due)
                if _rows(status) != 1 or _rows(await conn.execute(
                        INSERT_KEY, user, key.wrapped, key_id_of(key))) != 1:
                    raise VersionConflict(user)  # rolls back the row too
            return True

        try:
            if not await self._pool.run(user, write):
                raise VersionConflict(user)
        except VersionConflict:
            self._keys.forget(user)
            raise
        session.version, session.updated_at = expected + 1, updated
        self._keys.stored(user, key)  # type: ignore[arg-type]

    async def delete(self, user_key: str) -> bool:
        """The row and the person's data key, in one transaction."""
        async def erase(conn: Any, attempt: int) -> int:
            async with conn.transaction():
                rows = _rows(await conn.execute("DELETE FROM sessions WHERE user_key = $1",
                                                user_key))
                return rows + _rows(await conn.execute(
                    "DELETE FROM person_keys WHERE user_key = $1", user_key))

        self._keys.forget(user_key)
        try:
            return await self._pool.run(user_key, erase) > 0
        finally:
            self._keys.forget(user_key)

    async def purge(self, older_than: float) -> int:
        """One process at a time (an advisory lock): a second caller waits, then finds
        nothing left to erase. The rows' keys go in the same transaction."""
        async def erase(conn: Any, attempt: int) -> int:
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock($1, $2)", *PURGE_LOCK)
                gone = [row[0] for row in await conn.fetch(
                    "DELETE FROM sessions WHERE updated_at < $1 RETURNING user_key",
                    older_than)]
                if gone:
                    await conn.execute("DELETE FROM person_keys WHERE user_key = ANY($1)", gone)
                return len(gone)

        try:
            return await self._pool.run(None, erase)
        finally:
            self._keys.forget_all()

    async def count(self) -> int:
        async def read(conn: Any, attempt: int) -> int:
            return int(await conn.fetchval("SELECT count(*) FROM sessions"))

        return await self._pool.run(None, read)

    async def user_keys(self, after: str | None, limit: int) -> list[str]:
        async def read(conn: Any, attempt: int) -> list[str]:
            return [row[0] for row in await conn.fetch(
                "SELECT user_key FROM sessions WHERE $1::text IS NULL OR user_key > $1 "
                "ORDER BY user_key LIMIT $2", after, limit)]

        return await self._pool.run(None, read)

    async def due(self, now: float, platform: str, limit: int) -> list[str]:
        prefix = platform_range(platform)[0]  # by prefix: a text range depends on collation

        async def read(conn: Any, attempt: int) -> list[str]:
            rows = await conn.fetch(
                "SELECT user_key FROM sessions WHERE due_at <= $1 "
                "AND starts_with(user_key, $2) ORDER BY due_at LIMIT $3", now, prefix, limit)
            return [row["user_key"] for row in rows]

        return await self._pool.run(None, read)

    async def import_session(self, session: Session) -> str:
        """Sealed with the person's key here (a new one if they have none yet)."""
        user = session.user_key
        plain = session.to_json()

        async def put(conn: Any, attempt: int) -> str:
            async with conn.transaction():
                version = await conn.fetchval(
                    "SELECT version FROM sessions WHERE user_key = $1 FOR UPDATE", user)
                if version is not None and version >= session.version:
                    return THERE if version == session.version else NEWER
                key = await self._key_on(conn, user, "FOR UPDATE")
                await conn.execute(
                    "INSERT INTO sessions (user_key, version, updated_at, data, due_at) "
                    "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_key) DO UPDATE SET "
                    "version = $2, updated_at = $3, data = $4, due_at = $5",
                    user, session.version, session.updated_at, key.seal(plain, user),
                    session.due)
                if key.new and _rows(await conn.execute(
                        INSERT_KEY, user, key.wrapped, key_id_of(key))) != 1:
                    raise VersionConflict(user)
            return COPIED

        self._keys.forget(user)
        try:
            return await self._pool.run(user, put)
        finally:
            self._keys.forget(user)

    async def rotate_keys(self, batch: int = ROTATE_BATCH,
                          progress: Callable[[int, int], None] | None = None) -> tuple[int, int]:
        """Re-wrap every data key not yet under the newest store key, then move every row
        still sealed with a store key (format 1) to a data key; (keys re-wrapped, rows
        re-sealed). In batches, each its own transaction, so it can run while bots do (they
        read with every configured key) and a rerun goes on where a stopped one ended."""
        done = [0, 0]
        try:
            for index, step in enumerate((rewrap_batch, reseal_batch)):
                after = ""
                while True:
                    count, after = await self._pool.run(
                        None, partial(_batch, step, self._keys, after, batch))
                    done[index] += count
                    if progress is not None and count:
                        progress(done[0], done[1])
                    if not after:
                        break
        except InvalidToken as error:
            self._unreadable_unless(_raise, error)
        finally:
            self._keys.forget_all()
        return done[0], done[1]

    async def ping(self) -> None:
        """SELECT 1 on a pool connection, tried again briefly (a connection the server
        dropped is replaced), all within PING_TIMEOUT_S."""
        async def select(conn: Any, attempt: int) -> None:
            await conn.fetchval("SELECT 1")

        try:
            await asyncio.wait_for(self._pool.run(None, select, retry_for=PING_RETRY_S),
                                   PING_TIMEOUT_S)
        except TimeoutError as error:
            raise StoreUnavailable("timeout") from error

    async def close(self) -> None:
        await self._pool.close()


@asynccontextmanager
async def _migrated(url: str) -> AsyncIterator[tuple[Any, tuple[int, int]]]:
    """A connection to a database whose schema is now current, and (before, after); the
    failures of opening as StoreOpenError, in one line without the password."""
    where = f"cannot open the store at {safe_url(url)}"
    try:
        conn = await asyncpg.connect(url, timeout=CONNECT_TIMEOUT_S, server_settings=SETTINGS)
    except (OSError, TimeoutError, ValueError, asyncpg.PostgresError,
            asyncpg.InterfaceError) as error:
        raise StoreOpenError(f"{where}: {_describe(error)}") from None
    try:
        try:
            versions = await migrate(conn)
        except SchemaTooNew as error:
            raise StoreOpenError(f"{where}: {error}") from None
        except asyncpg.PostgresError as error:
            raise StoreOpenError(f"{where}: {_describe(error)}") from None
        yield conn, versions
    finally:
        await conn.close()


async def migrate_database(url: str) -> tuple[int, int]:
    """`coach store migrate`: create or upgrade the schema; (before, after)."""
    async with _migrated(url) as (_, versions):
        return versions


async def _batch(step: Batch, keys: PersonKeys, after: str, size: int, conn: Any,
                 attempt: int) -> tuple[int, str]:
    return await step(conn, keys, after, size)


def _raise(error: Exception) -> None:
    raise error


def _rows(status: str) -> int:
    """The row count at the end of a command tag ("UPDATE 1", "INSERT 0 1")."""
    return int(status.rsplit(" ", 1)[-1])


def _describe(error: BaseException) -> str:
    """A short, user-text-free description of a connection failure."""
    if isinstance(error, TimeoutError):
        return f"no answer within {CONNECT_TIMEOUT_S:g} s"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror.lower()
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
