"""The PostgreSQL store on a real server (tests/pg_server.py): what two processes sharing it
rely on. Two PostgresStore objects have two pools, as two processes would. (The contract the
other stores keep too runs over all three in tests/test_sessions.py.)"""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from bot.app import load_flows
from bot.crypto import Cipher, new_key
from bot.flowlang.catalog import Catalog
from bot.pipeline import Coach
from bot.session import Session
from bot.store.base import StoreOpenError, StoreUnavailable, VersionConflict
from bot.store.postgres import PostgresStore, lost_reason
from bot.store.sqlite import UnreadableStore
from bot.store.url import StoreURLError, open_store
from tests.checkin_steps import Clock, london, talk_checkin
from tests.conftest import Chat

KEY = new_key()


def make_store(url: str, key: bytes = KEY, **options: float) -> PostgresStore:
    return PostgresStore(url, Cipher([key], "the test key"), **options)  # type: ignore[arg-type]


async def query(url: str, sql: str, *args: object) -> object:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


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


def test_a_protocol_out_of_step_counts_as_a_lost_connection() -> None:
    """asyncpg says so when the server shuts down just as a statement starts (seen in
    test_ping_gives_up_quickly...): only a fresh connection helps, so it is tried again."""
    assert lost_reason(asyncpg.InternalClientError("cannot switch to state 12")) == "connection"
    assert lost_reason(ValueError("a bug")) is None


async def test_ping_gives_up_quickly_while_the_server_is_away(own_cluster, pg_url: str) -> None:
    """A health check tries a fresh connection briefly, not for the store's retry window
    (an hour here: the ping would hang that long if it used it)."""
    store = make_store(pg_url, retry_for=3600)
    try:
        await store.ping()
        own_cluster.stop()
        try:
            with pytest.raises(StoreUnavailable) as raised:
                await asyncio.wait_for(store.ping(), 60)  # a safety net, not a measure
            assert raised.value.reason in ("connection", "timeout")
        finally:
            own_cluster.start()
        await store.ping()  # a fresh connection, once the server is back
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
