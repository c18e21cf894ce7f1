"""Copying every session between stores (bot/store/copy.py): SQLite to PostgreSQL and back,
re-sealed under the destination's keys, counted, and finished by a second run when the
first was stopped half-way."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bot.crypto import Cipher, new_key
from bot.session import Session
from bot.store.base import Store
from bot.store.copy import copy_sessions
from bot.store.sqlite import SQLiteStore, person_keys_file
from tests.test_postgres import make_store, query

SOURCE_KEY = new_key()
PEOPLE = [f"telegram:{n:03d}" for n in range(30)]


def sqlite_store(path: Path, key: bytes = SOURCE_KEY) -> SQLiteStore:
    return SQLiteStore(path, Cipher([key], "the source key"))


async def seed(store: Store) -> None:
    """Thirty people, some of whom went on for a few steps."""
    for n, person in enumerate(PEOPLE):
        session = Session(person, "quiz", "name", slots={"name": f"secret-{n}"})
        await store.save(session)
        for step in range(n % 3):
            session.slots["why"] = f"step {step}"
            await store.save(session)


async def same_sessions(source: Store, destination: Store) -> None:
    """Every session, field by field, with its version and time."""
    assert await destination.count() == await source.count() == len(PEOPLE)
    for person in PEOPLE:
        mine, theirs = await source.load(person), await destination.load(person)
        assert mine is not None and theirs is not None
        assert theirs.to_json() == mine.to_json()


async def test_sqlite_to_postgres_resealed_under_the_destinations_key(
        tmp_path: Path, pg_url: str) -> None:
    source, destination = sqlite_store(tmp_path / "coach.db"), make_store(pg_url)
    try:
        await seed(source)
        counts = await copy_sessions(source, destination)
        assert (counts.copied, counts.there, counts.newer) == (30, 0, 0)
        await same_sessions(source, destination)
        assert await query(pg_url, "SELECT count(*) FROM person_keys") == 30
        raw = await query(pg_url, "SELECT string_agg(encode(data, 'escape'), '') "
                                  "FROM sessions")
        assert "secret-" not in str(raw)
    finally:
        await source.close()
        await destination.close()


async def test_postgres_to_sqlite(tmp_path: Path, pg_url: str) -> None:
    source, destination = make_store(pg_url), sqlite_store(tmp_path / "new.db", new_key())
    try:
        await seed(source)
        counts = await copy_sessions(source, destination)
        assert counts.line() == "copied 30, already there 0, newer in the destination 0"
        await same_sessions(source, destination)
    finally:
        await source.close()
        await destination.close()
    with sqlite3.connect(person_keys_file(tmp_path / "new.db")) as conn:
        assert conn.execute("SELECT count(*) FROM person_keys").fetchone()[0] == 30


async def test_a_stopped_copy_is_finished_by_running_it_again(
        tmp_path: Path, pg_url: str) -> None:
    source, destination = sqlite_store(tmp_path / "coach.db"), make_store(pg_url)
    try:
        await seed(source)
        first = await copy_sessions(source, destination, stop_after=12)
        assert (first.copied, await destination.count()) == (12, 12)
        lines: list[str] = []
        second = await copy_sessions(source, destination, every=10,
                                     progress=lambda counts: lines.append(counts.line()))
        assert second.line() == "copied 18, already there 12, newer in the destination 0"
        assert lines == ["copied 0, already there 10, newer in the destination 0",
                         "copied 8, already there 12, newer in the destination 0",
                         "copied 18, already there 12, newer in the destination 0"]
        await same_sessions(source, destination)
    finally:
        await source.close()
        await destination.close()


async def test_a_rerun_refreshes_older_copies_and_never_goes_back(tmp_path: Path) -> None:
    source, destination = sqlite_store(tmp_path / "a.db"), sqlite_store(tmp_path / "b.db")
    try:
        await seed(source)
        await copy_sessions(source, destination)
        moved_on = await source.load(PEOPLE[0])  # the source went on after the copy
        ahead = await destination.load(PEOPLE[1])  # the destination is already in use
        assert moved_on is not None and ahead is not None
        await source.save(moved_on)
        await destination.save(ahead)
        again = await copy_sessions(source, destination)
        assert again.line() == "copied 1, already there 28, newer in the destination 1"
        stored = await destination.load(PEOPLE[1])
        assert stored is not None and stored.version == ahead.version
        assert (await destination.load(PEOPLE[0])).version == moved_on.version  # type: ignore[union-attr]
    finally:
        await source.close()
        await destination.close()


def test_a_wrong_source_key_is_one_clear_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    import asyncio

    from bot.cli import main

    async def seeded() -> None:
        store = sqlite_store(tmp_path / "coach.db")
        await seed(store)
        await store.close()

    asyncio.run(seeded())
    monkeypatch.setenv("COACH_SECRET_KEY", new_key().decode())
    assert main(["store", "copy", str(tmp_path / "coach.db"), str(tmp_path / "new.db")]) == 64
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith(f"coach: {tmp_path / 'coach.db'}: stored sessions cannot be "
                           "decrypted with the key(s) from $COACH_SECRET_KEY")
    assert not (tmp_path / "new.db").exists(), "nothing is made before the source opens"


async def test_a_copy_carries_when_check_ins_are_due(tmp_path: Path, pg_url: str) -> None:
    """`due_at` sits beside the sealed data: the destination's index finds the copied
    person's check-in as the source's did, both ways (SQLite to PostgreSQL and back)."""
    first, middle = sqlite_store(tmp_path / "a.db"), make_store(pg_url)
    last = sqlite_store(tmp_path / "b.db", new_key())
    try:
        await first.save(Session("telegram:due", "menu", "welcome", due=500.0,
                                 checkins={"items": {"talk": {"due": 500.0}}}))
        await first.save(Session("telegram:none", "menu", "welcome"))
        await copy_sessions(first, middle)
        await copy_sessions(middle, last)
        for store in (first, middle, last):
            assert await store.due(1000.0, "telegram", 10) == ["telegram:due"]
            assert await store.due(100.0, "telegram", 10) == []
    finally:
        for store in (first, middle, last):
            await store.close()
