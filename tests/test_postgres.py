"""The PostgreSQL store on a real server (tests/pg_server.py): what two processes sharing it
rely on. Two PostgresStore objects have two pools, as two processes would. (The contract the
other stores keep too runs over all three in tests/test_sessions.py.)"""

from __future__ import annotations

import asyncio
import logging

import asyncpg
import pytest

from bot.app import load_flows
from bot.crypto import Cipher, new_key
from bot.flowlang.catalog import Catalog
from bot.messages import Incoming, UserKey
from bot.pipeline import Coach
from bot.session import Session
from bot.store.base import StoreOpenError, StoreUnavailable, VersionConflict
from bot.store.postgres import PostgresStore, safe_url
from bot.store.sqlite import UnreadableStore
from bot.store.url import StoreURLError, open_store
from tests.checkin_steps import Clock, london, talk_checkin
from tests.conftest import Chat

KEY = new_key()


def make_store(url: str, key: bytes = KEY, **options: float) -> PostgresStore:
    return PostgresStore(url, Cipher([key], "the test key"), **options)  # type: ignore[arg-type]


@pytest.fixture
async def two(pg_url: str):
    """Two stores on one database: two processes."""
    first, second = make_store(pg_url), make_store(pg_url)
    yield first, second
    await first.close()
    await second.close()


async def query(url: str, sql: str, *args: object) -> object:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


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


# -- sealing and opening ------------------------------------------------------------------------


async def test_rows_are_sealed_and_another_key_is_refused_at_start(pg_url: str) -> None:
    store = make_store(pg_url)
    session = Session("telegram:7", "quiz", "name", slots={"name": "Sam-the-secret"})
    await store.save(session)
    await store.close()
    raw = await query(pg_url, "SELECT data FROM sessions")
    assert isinstance(raw, bytes) and b"Sam-the-secret" not in raw
    with pytest.raises(UnreadableStore):
        make_store(pg_url, new_key())


def test_an_unreachable_server_is_one_clear_error_at_start() -> None:
    with pytest.raises(StoreOpenError, match="cannot open the store at postgresql://u:\\*\\*\\*@"):
        make_store("postgresql://u:hunter2@127.0.0.1:1/coach")


@pytest.mark.parametrize("url", ["postgresql://u@host:port/db", "postgres:///db"])
def test_a_url_that_names_no_server_is_refused(url: str) -> None:
    with pytest.raises(StoreURLError):
        open_store(url)


def test_the_password_never_shows() -> None:
    assert safe_url("postgresql://me:hunter2@db:5433/coach") == "postgresql://me:***@db:5433/coach"
    assert safe_url("postgres://me@db/coach") == "postgres://me@db/coach"


async def test_both_url_forms_open_the_store(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COACH_SECRET_KEY", KEY.decode())
    for url in (pg_url, pg_url.replace("postgresql://", "postgres://")):
        store = open_store(url)
        assert isinstance(store, PostgresStore)
        await store.close()


# -- two processes ------------------------------------------------------------------------------


async def test_compare_and_set_across_two_processes(two) -> None:
    a, b = two
    await a.save(Session("k", "quiz", "name"))
    mine, theirs = await a.load("k"), await b.load("k")
    assert mine is not None and theirs is not None
    theirs.slots["name"] = "theirs"
    await b.save(theirs)
    mine.slots["name"] = "mine"
    with pytest.raises(VersionConflict):
        await a.save(mine)
    assert mine.version == 1, "a refused save leaves the session as it was"
    stored = await a.load("k")
    assert stored is not None and stored.slots == {"name": "theirs"} and stored.version == 2
    with pytest.raises(VersionConflict):
        await b.save(Session("k", "quiz", "name"))  # a second "first save" loses too


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


async def test_purge_runs_in_one_process_at_a_time(two) -> None:
    a, b = two
    for n in range(20):
        await a.save(Session(f"old{n}", "quiz", "name"))
    results = await asyncio.gather(a.purge(older_than=1e12), b.purge(older_than=1e12))
    assert sorted(results) == [0, 20]
    assert await b.count() == 0


async def test_delete_erases_the_row(two, pg_url: str) -> None:
    a, b = two
    await a.save(Session("gone", "quiz", "name"))
    assert await b.delete("gone") is True
    assert await query(pg_url, "SELECT count(*) FROM sessions WHERE user_key = 'gone'") == 0
    assert await a.load("gone") is None and await a.delete("gone") is False


# -- a server that goes away --------------------------------------------------------------------


@pytest.fixture
def own_cluster(pg_cluster):
    if not pg_cluster.ours:
        pytest.skip("the server in $COACH_TEST_POSTGRES_URL is not ours to restart")
    return pg_cluster


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


# -- the whole coach ----------------------------------------------------------------------------


async def test_a_short_conversation_over_postgres(catalog: Catalog, pg_url: str) -> None:
    store = make_store(pg_url)
    chat = Chat(Coach(catalog, store))
    try:
        await chat.send("/start quiz")
        await chat.send("Sam")
        await chat.press("Red")
        await chat.send("it is warm")
        reply = await chat.press("Finish")
        assert reply.parts == ["Done: Sam likes red because it is warm."]
    finally:
        await store.close()
    again = make_store(pg_url)  # another process, later: the same session
    try:
        stored = await again.load(chat.user.key)
        assert stored is not None and stored.slots["name"] == "Sam"
    finally:
        await again.close()


async def test_two_processes_send_a_due_checkin_exactly_once(two) -> None:
    """Two coaches (two pools: two processes) ask for due check-ins at the same moment: the
    person's lock and the compare-and-set save make exactly one of them the sender."""
    shipped = load_flows()
    clock = Clock()
    first, second = Coach(shipped, two[0], clock=clock), Coach(shipped, two[1], clock=clock)
    await talk_checkin(Chat(first))
    clock.now = london(11, 18)
    results = await asyncio.gather(first.due_checkins("test"), second.due_checkins("test"))
    assert sorted(len(found) for found in results) == [0, 1]
    [[(_, reply)]] = [found for found in results if found]
    assert "How did it go?" in reply.text
    assert await first.due_checkins("test") == [] and await second.due_checkins("test") == []
