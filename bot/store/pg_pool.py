"""The PostgreSQL store's connections: a pool made on first use, statements tried again while
the server is away, and a person's lock held across processes.

A person's messages are handled one at a time across processes: `person_lock` takes a
session-level advisory lock on a pool connection and keeps that connection for the person's
load and save (so N people need N connections, never N + 1: no waiting on the pool while
holding a lock). The lock goes with the connection if it dies; returning the connection to
the pool resets it, which drops the lock too.

A lost connection, a server restart or a timeout is tried again with backoff (up to
RETRY_FOR_S), with one warning line for the operator; past that, StoreUnavailable.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from bot.store.base import StoreClosed, StoreUnavailable, VersionConflict
from bot.store.pg_schema import PERSON_SPACE

log = logging.getLogger("bot.store.postgres")  # one logger for the store, as operators grep it

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
    again on a fresh connection ("restart", "connection", "timeout"), "conflict" when the
    server rolled the transaction back to break a deadlock or a serialization clash between
    processes (worth trying again as it was, the connection is fine), or "busy" for a lock
    waited on too long (not tried again: it already waited)."""
    if isinstance(error, asyncpg.exceptions.LockNotAvailableError):
        return "busy"
    if isinstance(error, (asyncpg.exceptions.DeadlockDetectedError,
                          asyncpg.exceptions.SerializationError)):
        return "conflict"
    if isinstance(error, asyncpg.exceptions.OperatorInterventionError):
        return "restart"
    if isinstance(error, asyncpg.exceptions.TooManyConnectionsError):
        return "connection"
    if isinstance(error, TimeoutError):  # before OSError, which it is one of
        return "timeout"
    if isinstance(error, (asyncpg.PostgresConnectionError, asyncpg.InterfaceError, OSError,
                          asyncpg.exceptions.InternalClientError)):
        return "connection"  # InternalClientError: a connection left mid-exchange by a restart
    return None


def in_thread(work: Callable[[], Awaitable[None]]) -> None:
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


@dataclass
class _Held:
    """A person's lock: the connection holding it, and whose it is."""

    pool: PgPool
    user_key: str
    conn: Any = None


_holding: ContextVar[_Held | None] = ContextVar("coach_pg_holding", default=None)


class PgPool:
    """The pool of one store object (one per process, as two processes would have two)."""

    def __init__(self, url: str, *, size: int = POOL_SIZE,
                 retry_for: float = RETRY_FOR_S) -> None:
        self.url = url
        self._size = size
        self._retry_for = retry_for
        self._pool: asyncpg.Pool | None = None
        self._pool_lock: asyncio.Lock | None = None
        self.closed = False

    async def _get_pool(self) -> asyncpg.Pool:
        if self.closed:
            raise StoreClosed("store is closed")
        if self._pool is None:
            self._pool_lock = self._pool_lock or asyncio.Lock()
            async with self._pool_lock:
                if self._pool is None:
                    # min_size 0: no connections kept open for their own sake, whose
                    # reopening after a server restart asyncpg logs with a traceback.
                    self._pool = await asyncpg.create_pool(
                        self.url, min_size=0, max_size=self._size,
                        timeout=CONNECT_TIMEOUT_S, command_timeout=COMMAND_TIMEOUT_S,
                        server_settings=SETTINGS)
        return self._pool

    async def run(self, user_key: str | None,
                  operation: Callable[[Any, int], Awaitable[T]],
                  retry_for: float | None = None) -> T:
        """`operation(connection, attempt)` on the person's locked connection when this task
        holds their lock, else on one from the pool; tried again on a fresh connection while
        the server is away (for `retry_for` seconds, by default the store's)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self._retry_for if retry_for is None else retry_for)
        delay, attempt = FIRST_RETRY_S, 0
        while True:
            attempt += 1
            held = _holding.get()
            if held is not None and (held.pool is not self or held.user_key != user_key):
                held = None
            try:
                if held is not None:
                    if held.conn is None:
                        await self._relock(held)
                    return await operation(held.conn, attempt)
                return await self._on_pool(operation, attempt)
            except (StoreClosed, VersionConflict):
                raise
            except Exception as error:
                reason = lost_reason(error)
                if reason is None:
                    raise
                if held is not None and reason != "conflict":
                    await self._drop(held)
                if reason == "busy" or loop.time() + delay > deadline:
                    raise StoreUnavailable(reason) from error  # the caller logs it
                if attempt == 1:
                    log.warning("event=store_retry reason=%s error=%s", reason,
                                type(error).__name__)
            await asyncio.sleep(delay)
            delay = min(delay * 2, LAST_RETRY_S)

    async def _on_pool(self, operation: Callable[[Any, int], Awaitable[T]], attempt: int) -> T:
        """`operation` on a connection from the pool. One that failed with the server gone
        is closed, not given back: its reset would fail on the half-done exchange (asyncpg's
        "another operation is in progress") instead of the error that says what happened."""
        pool = await self._get_pool()
        conn = await pool.acquire()
        try:
            result = await operation(conn, attempt)
        except BaseException as error:
            if not isinstance(error, Exception) or lost_reason(error) not in (None, "conflict"):
                conn.terminate()
            await self._release(pool, conn)
            raise
        await self._release(pool, conn)
        return result

    async def connect(self) -> Any:
        """A connection of the caller's own, outside the pool."""
        return await asyncpg.connect(self.url, timeout=CONNECT_TIMEOUT_S,
                                     server_settings=SETTINGS)

    @asynccontextmanager
    async def person_lock(self, user_key: str) -> AsyncIterator[None]:
        held = _Held(self, user_key)
        token = _holding.set(held)
        try:
            await self.run(user_key, lambda conn, attempt: _noop())  # takes the lock
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
        """Give a connection back; one whose reset fails (the server went away meanwhile, so
        it dropped the connection's locks too) asyncpg closes instead: what it did stands."""
        with contextlib.suppress(Exception):  # closed by asyncpg: the pool makes anew
            await pool.release(conn)

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), CONNECT_TIMEOUT_S)
            except Exception as error:  # a server gone away: nothing left to finish
                if lost_reason(error) is None:
                    raise
                pool.terminate()


async def _noop() -> None:
    return None
