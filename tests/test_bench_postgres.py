"""`coach bench --store postgresql://...` (bot/bench_postgres.py): it measures on a database
without the coach's tables, drops the ones it made, and never writes into a store in use."""

from __future__ import annotations

import asyncio

import pytest

from bot.bench import run_bench
from bot.session import Session
from bot.store.base import StoreOpenError
from tests.test_postgres import make_store, query

TABLES = ("SELECT count(*) FROM pg_tables WHERE tablename IN "
          "('sessions', 'person_keys', 'schema_version')")


def test_the_bench_runs_on_an_empty_database_and_leaves_it_empty(pg_url: str) -> None:
    result = run_bench(store=pg_url, users=5, messages=60, rate=500)
    assert result.store == "postgresql" and result.messages == 60
    assert result.stored_sessions == 10  # five people in each of the two runs
    assert asyncio.run(query(pg_url, TABLES)) == 0


def test_the_bench_never_writes_into_a_store_in_use(pg_url: str) -> None:
    async def in_use() -> None:
        store = make_store(pg_url)
        await store.save(Session("someone", "quiz", "name"))
        await store.close()

    asyncio.run(in_use())
    with pytest.raises(StoreOpenError, match="holds the coach's tables; name an empty database"):
        run_bench(store=pg_url, users=1, messages=1)
    assert asyncio.run(query(pg_url, "SELECT count(*) FROM sessions")) == 1
