"""`coach bench --store postgresql://...`: the bench's sessions go into a database that holds
no coach tables, and the tables it made are dropped afterwards, so it never writes into (or
erases) a store in use."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

from bot.store.base import StoreOpenError

TABLES = ("sessions", "person_keys", "schema_version")


async def _execute(url: str, sql: str) -> object:
    import asyncpg

    from bot.store.pg_pool import CONNECT_TIMEOUT_S, safe_url

    try:
        conn = await asyncpg.connect(url, timeout=CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError, asyncpg.PostgresError) as error:
        raise StoreOpenError(f"cannot open the store at {safe_url(url)}: "
                             f"{type(error).__name__}") from None
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


@contextmanager
def empty_database(url: str) -> Iterator[None]:
    """Refuse a database that holds coach tables; drop the ones the bench made."""
    from bot.store.pg_pool import safe_url

    found = asyncio.run(_execute(url, "SELECT count(*) FROM unnest(ARRAY['"
                                 + "','".join(TABLES) + "']) AS t WHERE to_regclass(t) "
                                 "IS NOT NULL"))
    if found:
        raise StoreOpenError(f"cannot use the store at {safe_url(url)} for the bench: it "
                             "holds the coach's tables; name an empty database (the bench "
                             "fills it with sessions, then drops its tables)")
    try:
        yield
    finally:
        asyncio.run(_execute(url, "DROP TABLE IF EXISTS " + ", ".join(TABLES)))
