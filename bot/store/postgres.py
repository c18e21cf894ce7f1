"""The PostgreSQL store: sessions shared by several coach processes, on asyncpg with a pool.

The same promises as SQLite. Every statement commits on its own with synchronous_commit on,
so `save` returns only once the row is durable; a save is a compare-and-set on the version.
Each row's data is sealed with the store key (bot/crypto.py), the user key bound into it.

A person's messages are handled one at a time across processes: `person_lock` takes a
session-level advisory lock on a pool connection and keeps that connection for the person's
load and save (so N people need N connections, never N + 1: no waiting on the pool while
holding a lock). The lock goes with the connection if it dies; returning the connection to
the pool resets it, which drops the lock too.

A lost connection, a server restart or a timeout is tried again with backoff (up to
RETRY_FOR_S), with one warning line for the operator; past that, StoreUnavailable. A save
tried again first reads its row: if the first try did commit (same version, same sealed
bytes, which hold a random nonce) it is done; otherwise it is tried again. Nothing is kept
half-written: each step is one statement.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from bot.crypto import Cipher, InvalidToken
from bot.session import Session
from bot.store.base import (
    Store,
    StoreClosed,
    StoreOpenError,
    StoreUnavailable,
    VersionConflict,
    platform_range,
)
from bot.store.pg_schema import PERSON_SPACE, PURGE_LOCK, SchemaTooNew, migrate
from bot.store.sqlite import UnreadableStore

log = logging.getLogger(__name__)

T = TypeVar("T")
POOL_SIZE = 10
CONNECT_TIMEOUT_S = 10.0
COMMAND_TIMEOUT_S = 15.0
LOCK_TIMEOUT = "30s"  # waiting for a person's lock (or a row) longer than this: "busy"
RETRY_FOR_S = 20.0
FIRST_RETRY_S = 0.05
LAST_RETRY_S = 1.0
SETTINGS = {"synchronous_commit": "on", "lock_timeout": LOCK_TIMEOUT,
            "application_name": "conversation-coach"}


def safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def lost_reason(error: BaseException) -> str | None:
    """A short word when `error` means the server, not the statement, failed: worth trying
    again on a fresh connection ("restart", "connection", "timeout"), or "busy" for a lock
    waited on too long (not tried again: it already waited)."""
    if isinstance(error, asyncpg.exceptions.LockNotAvailableError):
        return "busy"
    if isinstance(error, asyncpg.exceptions.OperatorInterventionError):
        return "restart"
    if isinstance(error, asyncpg.exceptions.TooManyConnectionsError):
        return "connection"
    if isinstance(error, TimeoutError):  # before OSError, which it is one of
        return "timeout"
    if isinstance(error, (asyncpg.PostgresConnectionError, asyncpg.InterfaceError, OSError)):
        return "connection"
    return None


@dataclass
class _Held:
    """A person's lock: the connection holding it, and whose it is."""

    store: PostgresStore
    user_key: str
    conn: Any = None


_holding: ContextVar[_Held | None] = ContextVar("coach_pg_holding", default=None)


class PostgresStore(Store):
    """Opened (connected, migrated, key checked) when made, in one blocking call before any
    message is handled: StoreOpenError for an unreachable server or a schema too new,
    UnreadableStore when the key does not open the rows. The pool is made on first use, on
    the loop that uses it."""

    def __init__(self, url: str, cipher: Cipher, *, pool_size: int = POOL_SIZE,
                 retry_for: float = RETRY_FOR_S) -> None:
        self.url = url
        self.cipher = cipher
        self._pool_size = pool_size
        self._retry_for = retry_for
        self._pool: asyncpg.Pool | None = None
        self._pool_lock: asyncio.Lock | None = None
        self._closed = False
        self._in_thread(self._open)

    # -- opening ------------------------------------------------------------------------------

    @staticmethod
    def _in_thread(work: Callable[[], Awaitable[None]]) -> None:
        """Run `work` to the end on a loop of its own, in a thread (a caller may already be
        inside a running loop); its exception is raised here."""
        failure: list[BaseException] = []

        def run() -> None:
            try:
                asyncio.run(work())  # type: ignore[arg-type]
            except BaseException as error:  # handed to the caller's thread
                failure.append(error)

        thread = threading.Thread(target=run, name="coach-pg-open")
        thread.start()
        thread.join()
        if failure:
            raise failure[0]

    async def _open(self) -> None:
        async with _migrated(self.url) as (conn, _):
            row = await conn.fetchrow("SELECT user_key, data FROM sessions LIMIT 1")
            if row is not None:
                self._decode(row["data"], row["user_key"])

    async def _get_pool(self) -> asyncpg.Pool:
        if self._closed:
            raise StoreClosed("store is closed")
        if self._pool is None:
            self._pool_lock = self._pool_lock or asyncio.Lock()
            async with self._pool_lock:
                if self._pool is None:
                    self._pool = await asyncpg.create_pool(
                        self.url, min_size=1, max_size=self._pool_size,
                        timeout=CONNECT_TIMEOUT_S, command_timeout=COMMAND_TIMEOUT_S,
                        server_settings=SETTINGS)
        return self._pool

    # -- sealing ------------------------------------------------------------------------------

    def _decode(self, stored: bytes, owner: str) -> str:
        try:
            return self.cipher.decrypt(bytes(stored), owner)
        except InvalidToken as error:
            raise UnreadableStore(f"{safe_url(self.url)}: stored sessions cannot be decrypted "
                                  f"with the key(s) from {self.cipher.source}") from error

    # -- trying again -------------------------------------------------------------------------

    async def _run(self, user_key: str | None,
                   operation: Callable[[Any, int], Awaitable[T]]) -> T:
        """`operation(connection, attempt)` on the person's locked connection when this task
        holds their lock, else on one from the pool; tried again on a fresh connection while
        the server is away."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._retry_for
        delay, attempt = FIRST_RETRY_S, 0
        while True:
            attempt += 1
            held = _holding.get()
            if held is not None and (held.store is not self or held.user_key != user_key):
                held = None
            try:
                if held is not None:
                    if held.conn is None:
                        await self._relock(held)
                    return await operation(held.conn, attempt)
                pool = await self._get_pool()
                async with pool.acquire() as conn:
                    return await operation(conn, attempt)
            except (StoreClosed, VersionConflict):
                raise
            except Exception as error:
                reason = lost_reason(error)
                if reason is None:
                    raise
                if held is not None:
                    await self._drop(held)
                if reason == "busy" or loop.time() + delay > deadline:
                    raise StoreUnavailable(reason) from error  # the caller logs it
                if attempt == 1:
                    log.warning("event=store_retry reason=%s error=%s", reason,
                                type(error).__name__)
            await asyncio.sleep(delay)
            delay = min(delay * 2, LAST_RETRY_S)

    # -- a person's lock ----------------------------------------------------------------------

    @asynccontextmanager
    async def person_lock(self, user_key: str) -> AsyncIterator[None]:
        held = _Held(self, user_key)
        token = _holding.set(held)
        try:
            await self._run(user_key, lambda conn, attempt: _noop())  # takes the lock
            yield
        finally:
            _holding.reset(token)
            await self._drop(held)

    async def _relock(self, held: _Held) -> None:
        """Take the person's lock on a connection of its own (again, after one was lost)."""
        pool = await self._get_pool()
        conn = await pool.acquire()
        try:
            await conn.execute("SELECT pg_advisory_lock($1, hashtext($2))", PERSON_SPACE,
                               held.user_key)
        except BaseException:
            await self._release(pool, conn)
            raise
        held.conn = conn

    async def _drop(self, held: _Held) -> None:
        """Give the connection back: the pool resets it, which drops the lock."""
        conn, held.conn = held.conn, None
        if conn is not None and self._pool is not None:
            await self._release(self._pool, conn)

    @staticmethod
    async def _release(pool: asyncpg.Pool, conn: Any) -> None:
        try:
            await pool.release(conn)
        except Exception as error:  # a dead connection: the server dropped its locks
            if lost_reason(error) is None:
                raise
            conn.terminate()

    # -- the interface ------------------------------------------------------------------------

    async def load(self, user_key: str) -> Session | None:
        async def read(conn: Any, attempt: int) -> Any:
            return await conn.fetchval("SELECT data FROM sessions WHERE user_key = $1",
                                       user_key)

        data = await self._run(user_key, read)
        return None if data is None else Session.from_json(self._decode(data, user_key))

    async def save(self, session: Session) -> None:
        """Unless it is committed, `session` is left exactly as it was given."""
        expected, before = session.version, session.updated_at
        updated = time.time()
        session.version, session.updated_at = expected + 1, updated
        try:
            data = self.cipher.encrypt(session.to_json(), session.user_key)
        finally:
            session.version, session.updated_at = expected, before
        key, due = session.user_key, session.due

        async def write(conn: Any, attempt: int) -> bool:
            if attempt > 1:  # the first try may have committed before the connection went
                row = await conn.fetchrow(
                    "SELECT version, data FROM sessions WHERE user_key = $1", key)
                if row is not None and row["version"] == expected + 1 \
                        and bytes(row["data"]) == data:
                    return True
            if expected == 0:
                status = await conn.execute(
                    "INSERT INTO sessions (user_key, version, updated_at, data, due_at) "
                    "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_key) DO NOTHING",
                    key, expected + 1, updated, data, due)
            else:
                status = await conn.execute(
                    "UPDATE sessions SET version = $1, updated_at = $2, data = $3, "
                    "due_at = $6 WHERE user_key = $4 AND version = $5",
                    expected + 1, updated, data, key, expected, due)
            return _rows(status) == 1

        if not await self._run(key, write):
            raise VersionConflict(key)
        session.version, session.updated_at = expected + 1, updated

    async def delete(self, user_key: str) -> bool:
        async def erase(conn: Any, attempt: int) -> int:
            return _rows(await conn.execute("DELETE FROM sessions WHERE user_key = $1",
                                            user_key))

        return await self._run(user_key, erase) > 0

    async def purge(self, older_than: float) -> int:
        """One process at a time (an advisory lock): a second caller waits, then finds
        nothing left to erase."""
        async def erase(conn: Any, attempt: int) -> int:
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock($1, $2)", *PURGE_LOCK)
                return _rows(await conn.execute(
                    "DELETE FROM sessions WHERE updated_at < $1", older_than))

        return await self._run(None, erase)

    async def count(self) -> int:
        async def read(conn: Any, attempt: int) -> int:
            return int(await conn.fetchval("SELECT count(*) FROM sessions"))

        return await self._run(None, read)

    async def due(self, now: float, platform: str, limit: int) -> list[str]:
        prefix = platform_range(platform)[0]  # by prefix: a text range depends on collation

        async def read(conn: Any, attempt: int) -> list[str]:
            rows = await conn.fetch(
                "SELECT user_key FROM sessions WHERE due_at <= $1 "
                "AND starts_with(user_key, $2) ORDER BY due_at LIMIT $3", now, prefix, limit)
            return [row["user_key"] for row in rows]

        return await self._run(None, read)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), CONNECT_TIMEOUT_S)
            except Exception as error:  # a server gone away: nothing left to finish
                if lost_reason(error) is None:
                    raise
                pool.terminate()


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


async def _noop() -> None:
    return None


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
