"""The PostgreSQL schema on a real server: created, upgraded from older, a newer one refused."""

from __future__ import annotations

import pytest

from bot.session import Session
from bot.store.base import StoreOpenError
from bot.store.pg_schema import CURRENT
from bot.store.postgres import migrate_database
from tests.test_postgres import make_store, query


async def test_migrate_a_fresh_database_then_nothing_to_do(pg_url: str) -> None:
    assert await migrate_database(pg_url) == (0, CURRENT)
    assert await migrate_database(pg_url) == (CURRENT, CURRENT)
    assert await query(pg_url, "SELECT version FROM schema_version") == CURRENT


async def test_an_older_schema_is_upgraded_at_start(pg_url: str) -> None:
    await query(pg_url, "CREATE TABLE schema_version (version INTEGER NOT NULL)")
    await query(pg_url, "INSERT INTO schema_version VALUES (0)")
    store = make_store(pg_url)
    await store.save(Session("k", "quiz", "name"))
    await store.close()
    assert await query(pg_url, "SELECT version FROM schema_version") == CURRENT


async def test_a_newer_schema_is_refused_and_left_alone(pg_url: str) -> None:
    await migrate_database(pg_url)
    await query(pg_url, "UPDATE schema_version SET version = $1", CURRENT + 1)
    with pytest.raises(StoreOpenError, match="newer than this coach"):
        make_store(pg_url)
    assert await query(pg_url, "SELECT version FROM schema_version") == CURRENT + 1


async def test_a_database_at_version_2_gets_the_due_index_and_keeps_its_rows(
        pg_url: str) -> None:
    """Migration 3 (check-ins) on a database main's coach left at 2 (person keys): the rows
    stay, with nothing due, and a check-in saved afterwards is found by the index."""
    import asyncpg

    from bot.store.pg_schema import MIGRATIONS

    conn = await asyncpg.connect(pg_url)
    try:
        await conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        for step in MIGRATIONS[:2]:
            await conn.execute(step)
        await conn.execute("INSERT INTO schema_version VALUES (2)")
        await conn.execute("INSERT INTO sessions VALUES ('telegram:old', 1, 0, '\\x00')")
    finally:
        await conn.close()
    assert await migrate_database(pg_url) == (2, CURRENT) and CURRENT == 3
    assert await query(pg_url, "SELECT due_at FROM sessions WHERE user_key = 'telegram:old'") \
        is None
    assert await query(pg_url, "SELECT count(*) FROM pg_indexes WHERE indexname = "
                               "'sessions_due'") == 1
    await query(pg_url, "DELETE FROM sessions")  # not sealed: the store would refuse it
    store = make_store(pg_url)
    try:
        await store.save(Session("telegram:new", "menu", "welcome", due=10.0))
        assert await store.due(20.0, "telegram", 5) == ["telegram:new"]
    finally:
        await store.close()
