"""Grouped commits (bot/store/sqlite_commit.py): many saves share one commit, one failing
operation does not spoil its batch, and a store that cannot write now (a lock held elsewhere,
a full disk) fails one save cleanly without ever stopping the event loop."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from pathlib import Path

import pytest

from bot.session import Session
from bot.store.base import StoreUnavailable
from bot.store.sqlite import SQLiteStore


async def test_many_saves_share_commits(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "g.db")
    try:
        sessions = [Session(f"u{n}", "f", "s") for n in range(300)]
        await asyncio.gather(*(store.save(s) for s in sessions))
        assert await store.count() == 300
        assert all(s.version == 1 for s in sessions)
    finally:
        await store.close()
    with sqlite3.connect(tmp_path / "g.db") as conn:
        assert conn.execute("SELECT COUNT(*) FROM sessions").fetchone()[0] == 300


async def test_one_failing_operation_does_not_spoil_the_batch(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "f.db")
    try:
        def broken(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT INTO nowhere VALUES (1)")

        results = await asyncio.gather(store._write(broken), store.save(Session("k", "f", "s")),
                                       return_exceptions=True)
        assert isinstance(results[0], sqlite3.OperationalError)
        assert results[1] is None
        assert await store.load("k") is not None
    finally:
        await store.close()


# -- a store that cannot take the write now: another process's lock, a full disk -------------


def _stored(path: Path, user_key: str) -> tuple[int, dict]:
    """The row as another process sees it: its version and its (unencrypted) slots."""
    conn = sqlite3.connect(path)
    try:
        version, data = conn.execute("SELECT version, data FROM sessions WHERE user_key = ?",
                                     (user_key,)).fetchone()
    finally:
        conn.close()
    return version, json.loads(data)["slots"]


def _tried_to_lock(store: SQLiteStore) -> asyncio.Event:
    """Set once the store has asked SQLite for the write lock (from whichever thread)."""
    loop, tried = asyncio.get_running_loop(), asyncio.Event()

    def trace(sql: str) -> None:
        if sql.startswith("BEGIN"):
            loop.call_soon_threadsafe(tried.set)

    store._writer.set_trace_callback(trace)
    return tried


async def test_a_held_write_lock_leaves_the_loop_running(tmp_path: Path) -> None:
    """Another process holds the write lock: the save waits, but not on the loop's thread.
    The lock is let go by a coroutine on this same loop, which could not run if the save
    blocked the loop; meanwhile reads are answered and another save joins the wait."""
    path = tmp_path / "held.db"
    store = SQLiteStore(path, busy_timeout=600)  # never reached: the lock is let go first
    other = sqlite3.connect(path, isolation_level=None)
    try:
        first, second = Session("first", "f", "s"), Session("second", "f", "s")
        await store.save(first)
        other.execute("BEGIN IMMEDIATE")  # as another process's transaction would
        tried = _tried_to_lock(store)
        first.slots["why"] = "answer"
        saving = asyncio.create_task(store.save(first))
        await tried.wait()
        loaded = await store.load("first")  # the loop answers while the save waits
        assert loaded is not None and loaded.version == 1 and "why" not in loaded.slots
        joining = asyncio.create_task(store.save(second))
        released = asyncio.Event()

        async def let_go() -> None:  # another user's coroutine, on the same loop
            other.execute("ROLLBACK")
            released.set()

        asyncio.get_running_loop().create_task(let_go())
        await released.wait()
        assert not saving.done() and not joining.done()
        await asyncio.gather(saving, joining)
        assert first.version == 2 and second.version == 1
        assert _stored(path, "first")[0] == 2 and _stored(path, "second")[0] == 1
    finally:
        other.close()
        await store.close()


async def test_a_lock_held_past_the_deadline_is_busy_and_nothing_is_kept(
        tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    store = SQLiteStore(path, busy_timeout=0.2)
    other = sqlite3.connect(path, isolation_level=None)
    try:
        session = Session("k", "f", "s", slots={"why": "first"})
        await store.save(session)
        other.execute("BEGIN IMMEDIATE")
        session.slots["why"] = "second"
        before = (session.version, session.updated_at)
        for attempt in (store.save(session), store.delete("k"), store.purge(time.time() + 1)):
            with pytest.raises(StoreUnavailable) as caught:
                await attempt
            assert caught.value.reason == "busy"
        assert (session.version, session.updated_at) == before
        cached = await store.load("k")
        assert cached is not None and cached.version == 1 and cached.slots["why"] == "first"
        assert _stored(path, "k")[0] == 1
        other.execute("ROLLBACK")
        await store.save(session)  # the same step again, once the lock is free
        assert session.version == 2
    finally:
        other.close()
        await store.close()
    reopened = SQLiteStore(path)
    try:
        stored = await reopened.load("k")
        assert stored is not None and stored.version == 2 and stored.slots["why"] == "second"
    finally:
        await reopened.close()


async def test_a_full_disk_keeps_the_stored_data_and_later_saves_work(tmp_path: Path) -> None:
    """SQLite says "database or disk is full" (simulated with max_page_count on the store's
    own connection): the batch is rolled back whole, the sessions stay as they were, and the
    same saves go through once there is room again."""
    path = tmp_path / "full.db"
    store = SQLiteStore(path)
    try:
        big, small = Session("big", "f", "s"), Session("small", "f", "s", slots={"a": "1"})
        await asyncio.gather(store.save(big), store.save(small))
        writer = store._writer
        writer.execute("VACUUM")  # no free page left to reuse
        writer.execute(f"PRAGMA max_page_count={writer.execute('PRAGMA page_count').fetchone()[0]}")
        big.slots["why"] = "x" * 50_000  # needs new pages
        small.slots["a"] = "2"  # fits where it is, but shares the batch
        before = [(s.version, s.updated_at, dict(s.slots)) for s in (big, small)]
        results = await asyncio.gather(store.save(big), store.save(small),
                                       return_exceptions=True)
        assert [type(r) for r in results] == [StoreUnavailable, StoreUnavailable]
        assert [r.reason for r in results] == ["full", "full"]  # type: ignore[union-attr]
        assert [(s.version, s.updated_at) for s in (big, small)] == [b[:2] for b in before]
        assert not writer.in_transaction
        assert _stored(path, "big") == (1, {}) and _stored(path, "small") == (1, {"a": "1"})
        writer.execute("PRAGMA max_page_count=1073741823")  # room again
        await asyncio.gather(store.save(big), store.save(small))
        assert big.version == 2 and small.version == 2
        assert _stored(path, "big") == (2, big.slots) and _stored(path, "small") == (2, {"a": "2"})
    finally:
        await store.close()


async def test_a_store_that_cannot_be_written_is_unavailable(tmp_path: Path) -> None:
    """Read-only (SQLITE_READONLY, as when the file or its folder lost write permission):
    reported as "io", and nothing is kept."""
    path = tmp_path / "ro.db"
    store = SQLiteStore(path)
    try:
        session = Session("k", "f", "s")
        await store.save(session)
        store._writer.execute("PRAGMA query_only=1")
        with pytest.raises(StoreUnavailable) as caught:
            await store.save(session)
        assert caught.value.reason == "io" and session.version == 1
        store._writer.execute("PRAGMA query_only=0")
        await store.save(session)
        assert session.version == 2 and _stored(path, "k")[0] == 2
    finally:
        await store.close()


