"""The ledger of updates taken until their reply is out (adapters/telegram/ledger.py): ids
only, owner-only files in the store's folder, older files still read, and another process
holding its lock never freezes the event loop."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import stat
import time
from pathlib import Path

import pytest

from adapters.telegram.ledger import Taken, UpdateLedger, ledger_file
from bot.pipeline import Coach
from bot.store.memory import MemoryStore
from bot.store.sqlite import SQLiteStore
from tests.telegram_harness import FLOWS, WAIT


async def test_a_ledger_from_before_presses_were_kept_still_opens(tmp_path: Path) -> None:
    """A ledger file written by the previous version (no callback query column) gets the
    column, and its rows are recovered as before."""
    path, taken_at = tmp_path / "telegram-1.ledger", time.time()
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.execute("""
            CREATE TABLE taken (
                update_id INTEGER PRIMARY KEY, chat_id INTEGER NOT NULL,
                user_id INTEGER NOT NULL, committed INTEGER NOT NULL DEFAULT 0,
                at REAL NOT NULL)""")
        db.execute("INSERT INTO taken VALUES (7, 42, 42, 1, ?)", (taken_at,))
    ledger = UpdateLedger()
    ledger.open(path)
    try:
        [row] = await ledger.recovered()
        assert (row.update_id, row.committed, row.query_id, row.at) == (7, True, None, taken_at)
    finally:
        await ledger.close()


async def test_the_ledger_is_owner_only_like_the_store(tmp_path: Path) -> None:
    """The ledger holds chat and user ids: its -wal and -shm too are 0600."""
    previous = os.umask(0o022)
    ledger = UpdateLedger()
    try:
        ledger.open(tmp_path / "telegram-1.ledger")
        await ledger.taken([Taken(1, 42, 42)])
        files = [p for p in tmp_path.iterdir() if p.name.startswith("telegram-1.ledger")]
        assert {p.name for p in files} >= {"telegram-1.ledger", "telegram-1.ledger-wal"}
        for path in files:
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name
    finally:
        os.umask(previous)
        await ledger.close()


async def test_the_ledger_lives_in_the_stores_folder_one_per_bot(tmp_path: Path) -> None:
    """Asked of the core (`Coach.data_folder`), never of the store: a store without files
    has no ledger file either."""
    coach = Coach(FLOWS, SQLiteStore(tmp_path / "data" / "coach.db"))
    try:
        assert ledger_file(coach, "123") == tmp_path / "data" / "telegram-123.ledger"
    finally:
        await coach.close()
    assert ledger_file(Coach(FLOWS, MemoryStore()), "123") is None


async def test_notes_are_written_in_order_and_rows_leave_once_answered(tmp_path: Path) -> None:
    ledger = UpdateLedger()
    ledger.open(tmp_path / "telegram-1.ledger")
    try:
        await ledger.taken([Taken(1, 10, 10), Taken(2, 20, 20, query_id="q2")])
        ledger.committed(1)
        ledger.sent(2)
        ledger.set_keyboard(10, 99)
        await ledger.flush()
        assert [(r.update_id, r.committed) for r in await ledger.recovered()] == [(1, True)]
        assert await ledger.keyboard(10) == 99 and await ledger.keyboard(20) is None
        ledger.set_keyboard(10, None)
        assert await ledger.keyboard(10) is None
    finally:
        await ledger.close()
    await ledger.taken([Taken(3, 30, 30)])  # closed: kept nowhere, and no error
    assert await ledger.recovered() == [] and not ledger.is_open


async def test_a_held_lock_never_freezes_the_loop(tmp_path: Path) -> None:
    """Another process holds the ledger's write lock: the write waits on the loop (other
    tasks run meanwhile) and goes through once the lock is let go. The old ledger waited
    inside SQLite, on the loop's thread, for up to 10 seconds."""
    path = tmp_path / "telegram-1.ledger"
    ledger = UpdateLedger()
    ledger.open(path)
    other = sqlite3.connect(path, isolation_level=None, timeout=WAIT)
    try:
        other.execute("BEGIN IMMEDIATE")
        writing = asyncio.create_task(ledger.taken([Taken(1, 10, 10)]))
        ticked = asyncio.Event()
        asyncio.get_running_loop().call_soon(ticked.set)
        await asyncio.wait_for(ticked.wait(), WAIT)  # the loop went on
        assert not writing.done()
        other.execute("ROLLBACK")
        await asyncio.wait_for(writing, WAIT)
        assert [r.update_id for r in await ledger.recovered()] == [1]
    finally:
        other.close()
        await ledger.close()


async def test_a_lock_held_past_the_deadline_fails_the_write(tmp_path: Path) -> None:
    """Held past `busy_timeout`, the write fails as SQLite would ("database is locked"), so
    the poll keeps its offset and Telegram sends the batch again; nothing of it is kept."""
    path = tmp_path / "telegram-1.ledger"
    ledger = UpdateLedger(busy_timeout=0.05)
    ledger.open(path)
    other = sqlite3.connect(path, isolation_level=None, timeout=WAIT)
    try:
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            await ledger.taken([Taken(1, 10, 10)])
        other.execute("ROLLBACK")
        await ledger.taken([Taken(2, 20, 20)])
        assert [r.update_id for r in await ledger.recovered()] == [2]
    finally:
        other.close()
        await ledger.close()
