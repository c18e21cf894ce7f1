"""Sessions under pressure: ordering, isolation, compare-and-set, flows that changed."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from bot.app import load_catalog
from bot.crypto import Cipher, new_key
from bot.flowlang.catalog import Catalog
from bot.messages import Incoming, UserKey
from bot.pipeline import Coach
from bot.session import Position, Session
from bot.store.base import COPIED, NEWER, THERE, Store, StoreClosed, VersionConflict
from bot.store.memory import MemoryStore
from bot.store.sqlite import SQLiteStore
from tests.conftest import CORE_FLOWS, Chat


@pytest.fixture(params=["memory", "sqlite", "sqlite-keyed", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path):
    """The store contract: every test with this fixture runs on all three stores (SQLite
    plain, as most tests use it, and with keys, as the coach does)."""
    if request.param == "memory":
        yield MemoryStore()
        return
    if request.param == "sqlite-keyed":
        keyed = SQLiteStore(tmp_path / "k.db", Cipher([new_key()], "the test key"))
        yield keyed
        await keyed.close()
        return
    if request.param == "postgres":
        from tests.test_postgres import make_store

        postgres = make_store(request.getfixturevalue("pg_url"))
        yield postgres
        await postgres.close()
        return
    sqlite = SQLiteStore(tmp_path / "s.db")
    yield sqlite
    await sqlite.close()


async def test_messages_from_one_user_keep_their_order(catalog: Catalog, store: Store) -> None:
    """Ten messages delivered at once are handled one by one, in arrival order."""
    coach = Coach(catalog, store)
    chat = Chat(coach)
    await chat.send("/start quiz")
    user = UserKey("test", "alice")
    texts = ["Sam", "Red", "first", "Finish", "Again", "Kim", "Blue", "second", "Finish", "/export"]
    replies = await asyncio.gather(*(coach.handle(Incoming(user, text=t)) for t in texts))
    assert replies[0].parts == ["Hello Sam. Favourite colour?"]
    assert replies[3].parts == ["Done: Sam likes red because first."]
    assert replies[8].parts == ["Done: Kim likes blue because second."]
    session = await store.load(user.key)
    assert session is not None and session.slots["why"] == "second"
    assert len(coach.locks) == 0, "per-user locks are dropped when free"


async def test_parallel_users_never_see_each_others_slots(catalog: Catalog, store: Store) -> None:
    coach = Coach(catalog, store)

    async def walk(n: int) -> str:
        chat = Chat(coach, f"user{n}")
        await chat.send("/start quiz")
        await chat.send(f"name{n}")
        await chat.press("Red")
        await chat.send(f"reason{n}")
        reply = await chat.press("Finish")
        return reply.parts[0]

    results = await asyncio.gather(*(walk(n) for n in range(100)))
    for n, text in enumerate(results):
        assert text == f"Done: name{n} likes red because reason{n}."
    assert await store.count() == 100


async def test_compare_and_set_refuses_a_stale_save(store: Store) -> None:
    session = Session("k", "quiz", "name")
    await store.save(session)
    first = await store.load("k")
    second = await store.load("k")
    assert first is not None and second is not None
    first.slots["name"] = "one"
    await store.save(first)
    second.slots["name"] = "two"
    with pytest.raises(VersionConflict):
        await store.save(second)
    fresh = Session("k", "quiz", "name")
    with pytest.raises(VersionConflict):
        await store.save(fresh)
    stored = await store.load("k")
    assert stored is not None and stored.slots == {"name": "one"} and stored.version == 2


async def test_a_conflict_reloads_and_handles_the_message_again(catalog: Catalog) -> None:
    """Another process moved the session on: the message is re-run on the newer state."""
    store = MemoryStore()
    coach = Coach(catalog, store)
    chat = Chat(coach)
    await chat.send("/start quiz")
    real_load = store.load
    calls = 0

    async def racing_load(key: str) -> Session | None:
        nonlocal calls
        calls += 1
        session = await real_load(key)
        if calls == 1 and session is not None:
            other = await real_load(key)
            assert other is not None
            other.slots["name"] = "Other"
            other.state = "colour"
            await store.save(other)
        return session

    store.load = racing_load  # type: ignore[method-assign]
    reply = await chat.send("Red")
    assert reply.parts == ["Why red?"]
    assert calls == 2


async def test_purge_and_delete(store: Store) -> None:
    await store.save(Session("old", "quiz", "name"))
    await store.save(Session("new", "quiz", "name"))
    assert await store.purge(older_than=0) == 0
    assert await store.delete("old") is True
    assert await store.delete("old") is False
    assert await store.count() == 1


async def test_user_keys_come_in_pages_in_order(store: Store) -> None:
    names = [f"u{n:02d}" for n in range(25)]
    for name in reversed(names):
        await store.save(Session(name, "quiz", "name"))
    pages, after = [], None
    while page := await store.user_keys(after, 10):
        pages.append(page)
        after = page[-1]
    assert [len(p) for p in pages] == [10, 10, 5]
    assert [name for page in pages for name in page] == names


async def test_an_imported_session_keeps_its_version_and_never_goes_back(store: Store) -> None:
    copied = Session("k", "quiz", "name", slots={"name": "copied"}, version=3, updated_at=5.0)
    assert await store.import_session(copied) == COPIED
    stored = await store.load("k")
    assert stored is not None and (stored.version, stored.updated_at) == (3, 5.0)
    assert stored.slots == {"name": "copied"}
    assert await store.import_session(copied) == THERE
    older = Session("k", "quiz", "name", slots={"name": "older"}, version=2)
    assert await store.import_session(older) == NEWER
    stored.slots["name"] = "went on"
    await store.save(stored)  # the copy carries on from the imported version
    newer = Session("k", "quiz", "name", slots={"name": "newer"}, version=9)
    assert await store.import_session(newer) == COPIED
    again = await store.load("k")
    assert again is not None and again.version == 9 and again.slots == {"name": "newer"}


async def test_session_json_round_trip() -> None:
    session = Session("k", "f", "s", slots={"a": "é😀"}, back=[Position("f", "x")],
                      calls=[Position("g", "y")], last=Position("f", "s"), seen=["1"])
    assert Session.from_json(session.to_json()) == session


async def test_flow_edited_under_a_stored_session(tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    shutil.copytree(CORE_FLOWS, flows)
    store = SQLiteStore(tmp_path / "edit.db")
    try:
        chat = Chat(Coach(load_catalog([flows]), store))
        await chat.send("/start quiz")
        await chat.send("Sam")
        await chat.press("Red")
        session = await store.load(chat.user.key)
        assert session is not None and session.state == "detail"
        quiz = flows / "quiz.yaml"
        text = quiz.read_text().replace("  detail:", "  reason:").replace("to: detail",
                                                                          "to: reason")
        quiz.write_text(text.replace("{slot: colour", "{slot: colour"))
        edited = Chat(Coach(load_catalog([flows]), store))
        reply = await edited.send("because")
        assert 'pick up "Quiz" from its start' in reply.parts[0]
        assert reply.parts[1] == "What is your name?"
        session = await store.load(chat.user.key)
        assert session is not None
        assert session.slots == {"name": "Sam", "colour": "red"}, "valid slots are kept"
        (flows / "side.yaml").unlink()
        quiz.write_text(quiz.read_text().replace("call: side, then: done", "to: done"))
        await edited.send("/start side")
        session = await store.load(chat.user.key)
        assert session is not None
        session.flow, session.state = "side", "one"
        await store.save(session)
        gone = Chat(Coach(load_catalog([flows]), store))
        reply = await gone.send("Go back")
        assert "the part you were in is no longer here" in reply.parts[0]
        assert "Test menu" not in reply.parts[0], "the menu is not the part that changed"
        assert reply.parts[1:] == ["Welcome to the test menu.", "Pick a topic."]
    finally:
        await store.close()


async def test_due_finds_the_people_whose_checkin_is_due(store: Store) -> None:
    """Check-ins: `Session.due` is kept beside the sealed data and found by platform,
    earliest first; a save moves it, a delete takes it away."""
    for key, due in (("telegram:1", 50.0), ("telegram:2", 10.0), ("discord:1", 10.0),
                     ("telegram:3", 500.0), ("telegram:4", None), ("telegramx:5", 10.0)):
        await store.save(Session(key, "menu", "welcome", due=due))
    assert await store.due(100.0, "telegram", 10) == ["telegram:2", "telegram:1"]
    assert await store.due(100.0, "telegram", 1) == ["telegram:2"]
    assert await store.due(100.0, "discord", 10) == ["discord:1"]
    moved = await store.load("telegram:2")
    assert moved is not None and moved.due == 10.0
    moved.due = 1000.0
    await store.save(moved)
    await store.delete("telegram:1")
    assert await store.due(100.0, "telegram", 10) == []
    assert await store.due(1000.0, "telegram", 10) == ["telegram:3", "telegram:2"]


async def test_ping_answers_while_the_store_is_open(store: Store) -> None:
    """/healthz asks this: cheap, and an error (never a hang) once the store is gone."""
    await store.ping()
    await store.save(Session("k", "quiz", "name"))
    await store.ping()
    if isinstance(store, MemoryStore):
        return  # nothing to close or lose
    await store.close()
    with pytest.raises(StoreClosed):
        await store.ping()


async def test_a_shared_record_is_kept_as_a_session_under_its_own_key(store: Store) -> None:
    """Couple mode's records (bot/pairing/shared.py) are sessions with their data in
    `record`: every store keeps them, compare-and-set included, and deletes them."""
    record = Session("pair:abc", "", "", record={"people": ["a:1", "b:2"],
                                                 "topics": {"boundaries": {"a:1": {"x": 1}}}})
    await store.save(record)
    loaded = await store.load("pair:abc")
    assert loaded is not None and loaded.record == record.record and loaded.pair is None
    stale = loaded.copy()
    loaded.record["agreements"] = {"boundary_online": "friendly"}  # type: ignore[index]
    await store.save(loaded)
    with pytest.raises(VersionConflict):
        await store.save(stale)
    again = await store.load("pair:abc")
    assert again is not None and again.record["agreements"] == {"boundary_online": "friendly"}  # type: ignore[index]
    person = Session("test:alice", "menu", "start", pair="abc", invite="f00", joining=None)
    await store.save(person)
    assert (await store.load("test:alice")).pair == "abc"  # type: ignore[union-attr]
    assert await store.delete("pair:abc")
    assert await store.load("pair:abc") is None
