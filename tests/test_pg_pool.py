"""The PostgreSQL store's connections (bot/store/pg_pool.py) on a real server: a person's lock
held across processes in arrival order, a server restart tried again and logged once, a
server away too long reported, and a URL's password never shown."""

from __future__ import annotations

import asyncio
import logging

import pytest

from bot.flowlang.catalog import Catalog
from bot.messages import Incoming, UserKey
from bot.pipeline import Coach
from bot.session import Session
from bot.store.base import StoreUnavailable
from bot.store.pg_pool import safe_url
from bot.store.postgres import PostgresStore
from tests.test_postgres import make_store, query


async def _until_waiting_for_a_lock(url: str, count: int = 1) -> None:
    """Returns once `count` sessions wait for an advisory lock: the event, asked of the
    server (the only one who knows), not a guessed time. (The bound only stops a broken
    build from hanging the suite.)"""
    async with asyncio.timeout(30):
        await _wait_for_lock_waiters(url, count)


async def _wait_for_lock_waiters(url: str, count: int) -> None:
    while await query(url, "SELECT count(*) FROM pg_locks "
                            "WHERE locktype = 'advisory' AND NOT granted") != count:
        await asyncio.sleep(0.01)



def test_the_password_never_shows() -> None:
    assert safe_url("postgresql://me:hunter2@db:5433/coach") == "postgresql://me:***@db:5433/coach"
    assert safe_url("postgres://me@db/coach") == "postgres://me@db/coach"



# -- two processes ------------------------------------------------------------------------------


async def test_a_persons_lock_holds_across_processes_in_arrival_order(two, pg_url: str) -> None:
    a, b = two
    order: list[str] = []
    other_person = asyncio.Event()

    async def later(store: PostgresStore, name: str) -> None:
        async with store.person_lock("alice"):
            order.append(name)

    async with a.person_lock("alice"):
        waiting = asyncio.create_task(later(b, "b"))
        await _until_waiting_for_a_lock(pg_url)
        async with b.person_lock("bob"):  # someone else is not held up
            other_person.set()
        third = asyncio.create_task(later(a, "a2"))
        await _until_waiting_for_a_lock(pg_url, 2)
        assert not waiting.done() and other_person.is_set()
        order.append("a")
    await asyncio.gather(waiting, third)
    assert order[0] == "a" and sorted(order[1:]) == ["a2", "b"]


async def test_the_coach_waits_for_another_process_handling_the_same_person(
        catalog: Catalog, two, pg_url: str) -> None:
    """Process A is in the middle of Alice's message; B's message for her waits for it and
    then runs on what A saved (no conflict, no lost step)."""
    a, b = two
    coach_a, coach_b = Coach(catalog, a), Coach(catalog, b)
    alice = UserKey("test", "alice")
    await coach_a.handle(Incoming(alice, text="/start quiz"))
    async with a.person_lock(alice.key):
        handled = asyncio.create_task(coach_b.handle(Incoming(alice, text="Sam")))
        await _until_waiting_for_a_lock(pg_url)
        assert not handled.done()
        session = await a.load(alice.key)
        assert session is not None and session.state == "name"
    reply = await handled
    assert reply.parts == ["Hello Sam. Favourite colour?"]
    reply = await coach_a.handle(Incoming(alice, text="Red"))
    assert reply.parts == ["Why red?"]


# -- a server that goes away --------------------------------------------------------------------


async def test_a_deadlock_between_processes_is_tried_again_not_lost(two, pg_url: str) -> None:
    """Two processes writing the same two rows in opposite orders: the server breaks the
    deadlock by rolling one back, and that one is written again, not raised."""
    first, second = two
    await query(pg_url, "CREATE TABLE crossing (id int PRIMARY KEY, n int NOT NULL)")
    try:
        await query(pg_url, "INSERT INTO crossing VALUES (1, 0), (2, 0)")
        took = {1: asyncio.Event(), 2: asyncio.Event()}

        def crossing(mine: int, theirs: int):
            async def write(conn, attempt: int) -> int:
                async with conn.transaction():
                    await conn.execute("UPDATE crossing SET n = n + 1 WHERE id = $1", mine)
                    if attempt == 1:
                        took[mine].set()
                        await took[theirs].wait()  # both hold one row: the cross is certain
                    await conn.execute("UPDATE crossing SET n = n + 1 WHERE id = $1", theirs)
                return attempt
            return write

        attempts = await asyncio.gather(first.run(crossing(1, 2)), second.run(crossing(2, 1)))
        assert sorted(attempts) == [1, 2]
        assert await query(pg_url, "SELECT sum(n) FROM crossing") == 4
    finally:
        await query(pg_url, "DROP TABLE crossing")


async def test_a_restart_mid_use_is_tried_again_and_logged_once(
        own_cluster, pg_url: str, caplog: pytest.LogCaptureFixture) -> None:
    store = make_store(pg_url)
    try:
        await store.save(Session("telegram:42", "quiz", "name"))
        async with store.person_lock("telegram:42"):
            session = await store.load("telegram:42")
            assert session is not None
            own_cluster.restart()  # the pool's connections, the held one too, are now dead
            session.slots["name"] = "Private words"
            with caplog.at_level(logging.WARNING):
                await store.save(session)
        stored = await store.load("telegram:42")
        assert stored is not None and stored.version == 2
        assert stored.slots["name"] == "Private words"
    finally:
        await store.close()
    lines = [r.getMessage() for r in caplog.records if r.name == "bot.store.postgres"]
    assert len(lines) == 1 and lines[0].startswith("event=store_retry reason=")
    assert not any("42" in line or "Private" in line for line in lines)


async def test_a_server_away_too_long_is_unavailable_and_nothing_half_written(
        own_cluster, pg_url: str) -> None:
    store = make_store(pg_url, retry_for=0.3)
    try:
        await store.save(Session("k", "quiz", "name"))
        session = await store.load("k")
        assert session is not None
        session.slots["name"] = "lost"
        own_cluster.stop()
        try:
            with pytest.raises(StoreUnavailable) as raised:
                await store.save(session)
            assert raised.value.reason == "connection"
            assert session.version == 1
        finally:
            own_cluster.start()
        stored = await store.load("k")  # the pool makes new connections
        assert stored is not None and stored.version == 1 and stored.slots == {}
        await store.save(session)  # the same step, sent again, goes through
    finally:
        await store.close()




async def test_a_first_save_across_a_restart_makes_one_key_and_one_row(
        own_cluster, pg_url: str) -> None:
    """The first save of a person is one transaction over the row and their new key: tried
    again on a fresh connection after a restart, it lands once, and opens."""
    store = make_store(pg_url)
    try:
        await store.save(Session("warm", "quiz", "name"))  # the pool has a connection now
        own_cluster.restart()
        await store.save(Session("telegram:43", "quiz", "name", slots={"name": "new"}))
        assert await query(pg_url, "SELECT count(*) FROM person_keys "
                                   "WHERE user_key = 'telegram:43'") == 1
    finally:
        await store.close()
    again = make_store(pg_url)
    try:
        stored = await again.load("telegram:43")
        assert stored is not None and stored.version == 1 and stored.slots == {"name": "new"}
    finally:
        await again.close()
