"""Per-person data keys (bot/store/person_keys.py) and what they are for: after /delete or the
purge, a copy of the row taken before (a backup, a dead tuple, a replica) cannot be opened
even with the store key, in SQLite and in PostgreSQL."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bot.crypto import Cipher, InvalidToken, new_key, person_sealed
from bot.session import Session
from bot.store.base import Store, VersionConflict
from bot.store.person_keys import PersonKeys
from bot.store.sqlite import SQLiteStore, person_keys_file
from tests.test_postgres import KEY, make_store, query

CANARY = "CANARY-51c0-what-I-told-the-coach"



def cipher(*keys: bytes) -> Cipher:
    return Cipher(list(keys or (KEY,)), "the test key")


# -- the cache ------------------------------------------------------------------------------------


def test_a_cached_key_is_used_only_while_the_stored_one_is_the_same() -> None:
    keys = PersonKeys(cipher())
    key = keys.fresh("u")
    assert keys.cached("u") is None, "not cached before it is stored"
    keys.stored("u", key)
    assert keys.cached("u") is key and not key.new
    assert keys.known("u", key.wrapped) is key, "the same wrapped key: no unwrap"
    rotated = Cipher([new_key(), KEY], "both")
    rewrapped = rotated.rewrap(key.wrapped, "u")
    assert rewrapped is not None and rotated.rewrap(rewrapped, "u") is None
    keys.cipher = rotated
    again = keys.known("u", rewrapped)
    assert again is not key and again.wrapped == rewrapped
    assert again.open(key.seal(CANARY, "u"), "u") == CANARY, "the same data key"
    keys.forget("u")
    assert keys.cached("u") is None


def test_opening_rows_of_either_format() -> None:
    keys = PersonKeys(cipher())
    key = keys.fresh("u")
    sealed = key.seal(CANARY, "u")
    assert person_sealed(sealed) and CANARY.encode() not in sealed
    assert keys.open(sealed, "u", key.wrapped) == CANARY
    assert keys.open(sealed, "u", None) is None, "its key is gone: nothing to read"
    assert keys.open(cipher().encrypt(CANARY, "u"), "u", None) == CANARY, "format 1"
    with pytest.raises(InvalidToken):
        keys.open(sealed, "someone else", key.wrapped)
    with pytest.raises(InvalidToken):  # a wrapped key moved onto another person
        cipher().unwrap(key.wrapped, "someone else")


# -- SQLite: the keys live in a file of their own ------------------------------------------------


def _row(path: Path, user: str) -> bytes:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT data FROM sessions WHERE user_key = ?", (user,)).fetchone()[0]


def _wrapped_keys(path: Path) -> list[tuple[str, bytes]]:
    with sqlite3.connect(person_keys_file(path)) as conn:
        return list(conn.execute("SELECT user_key, wrapped FROM person_keys"))


def _opens(row: bytes, user: str, store_cipher: Cipher, wrapped: list[bytes]) -> bool:
    """Whether any of these wrapped keys, unwrapped with the store key, opens the row."""
    for candidate in wrapped:
        try:
            store_cipher.unwrap(candidate, user).open(row, user)
        except InvalidToken:
            continue
        return True
    return False


async def test_sqlite_keys_are_apart_and_a_deleted_rows_backup_cannot_be_opened(
        tmp_path: Path) -> None:
    path = tmp_path / "coach.db"
    store = SQLiteStore(path, cipher())
    try:
        await store.save(Session("telegram:7", "f", "s", slots={"why": CANARY}))
        await store.save(Session("telegram:8", "f", "s", slots={"why": "stays"}))
        assert person_keys_file(path).stat().st_mode & 0o777 == 0o600
        with sqlite3.connect(path) as live, sqlite3.connect(tmp_path / "backup.db") as backup:
            live.backup(backup)  # a backup of coach.db alone, as an operator's job takes it
        row = _row(path, "telegram:7")
        wrapped = [w for u, w in _wrapped_keys(path) if u == "telegram:7"]
        assert _opens(row, "telegram:7", cipher(), wrapped), "before: the key opens it"
        assert await store.delete("telegram:7") is True
        # After: no wrapped key of theirs, in the file or its WAL, on disk at all.
        assert [u for u, _ in _wrapped_keys(path)] == ["telegram:8"]
        keys_file = person_keys_file(path)
        raw = keys_file.read_bytes() + Path(f"{keys_file}-wal").read_bytes()
        assert wrapped[0] not in raw and b"telegram:7" not in raw
        assert not _opens(row, "telegram:7", cipher(), [w for _, w in _wrapped_keys(path)])
        with pytest.raises(InvalidToken):
            cipher().decrypt(row, "telegram:7")  # nor with the store key itself
        assert await store.load("telegram:7") is None
    finally:
        await store.close()
    restored = SQLiteStore(tmp_path / "backup.db", cipher())  # the backup, with the store key
    try:
        assert await restored.load("telegram:7") is None
        assert CANARY.encode() not in (tmp_path / "backup.db").read_bytes()
    finally:
        await restored.close()


async def test_sqlite_purge_destroys_the_keys_of_the_rows_it_erases(tmp_path: Path) -> None:
    path = tmp_path / "coach.db"
    store = SQLiteStore(path, cipher())
    try:
        await store.save(Session("old", "f", "s", slots={"why": CANARY}))
        row = _row(path, "old")
        await store._write(lambda c: c.execute("UPDATE sessions SET updated_at = 0"))
        await store.save(Session("new", "f", "s"))
        assert await store.purge(older_than=1) == 1
        assert [u for u, _ in _wrapped_keys(path)] == ["new"]
        assert not _opens(row, "old", cipher(), [w for _, w in _wrapped_keys(path)])
    finally:
        await store.close()


async def test_sqlite_a_row_whose_key_was_erased_reads_as_no_session(tmp_path: Path) -> None:
    """A crash between the key file's commit and the database's leaves such a row (the key
    file commits first): it reads as gone, and the person's next first save replaces it."""
    path = tmp_path / "coach.db"
    store = SQLiteStore(path, cipher())
    try:
        await store.save(Session("k", "f", "s", slots={"why": CANARY}))
        await store._write(lambda c: store._keys_writer.execute("DELETE FROM person_keys"))
        store._cache.clear()
        store._keys.forget_all()
        assert await store.load("k") is None
        fresh = Session("k", "f", "s", slots={"why": "again"})
        await store.save(fresh)
        store._cache.clear()
        loaded = await store.load("k")
        assert loaded is not None and loaded.slots == {"why": "again"} and loaded.version == 1
    finally:
        await store.close()


def _older_store(path: Path, *users: str) -> None:
    """A database as an older coach left it: rows sealed with the store key itself."""
    with sqlite3.connect(path) as conn:
        conn.executescript("CREATE TABLE sessions (user_key TEXT PRIMARY KEY, version INTEGER "
                           "NOT NULL, updated_at REAL NOT NULL, data BLOB NOT NULL) WITHOUT ROWID")
        for user in users:
            old = Session(user, "f", "s", slots={"why": CANARY}, version=3)
            conn.execute("INSERT INTO sessions VALUES (?, 3, 1.0, ?)",
                         (user, cipher().encrypt(old.to_json(), user)))


async def test_sqlite_rows_sealed_with_the_store_key_load_and_move_at_their_next_save(
        tmp_path: Path) -> None:
    path = tmp_path / "coach.db"
    _older_store(path, "k")
    store = SQLiteStore(path, cipher())
    try:
        loaded = await store.load("k")
        assert loaded is not None and loaded.slots == {"why": CANARY}
        await store.save(loaded)
        assert person_sealed(_row(path, "k")) and [u for u, _ in _wrapped_keys(path)] == ["k"]
    finally:
        await store.close()
    again = SQLiteStore(path, cipher())
    try:
        assert (await again.load("k")).version == 4  # type: ignore[union-attr]
    finally:
        await again.close()


async def test_sqlite_rotation_moves_older_rows_to_data_keys(tmp_path: Path) -> None:
    path = tmp_path / "coach.db"
    _older_store(path, "a", "b")
    newer = new_key()
    store = SQLiteStore(path, cipher(newer, KEY))
    try:
        await store.save(Session("c", "f", "s"))  # a data key under the newer store key
        assert await store.rotate_keys() == (0, 2)
        assert all(person_sealed(_row(path, user)) for user in "abc")
    finally:
        await store.close()
    alone = SQLiteStore(path, cipher(newer))  # the old store key destroyed: all still open
    try:
        assert [(await alone.load(u)).slots.get("why") for u in "ab"] == [CANARY, CANARY]  # type: ignore[union-attr]
    finally:
        await alone.close()


async def test_sqlite_a_key_made_by_another_process_first_is_a_conflict(tmp_path: Path) -> None:
    path = tmp_path / "coach.db"
    one, two = SQLiteStore(path, cipher()), SQLiteStore(path, cipher())
    try:
        await one.save(Session("k", "f", "s", slots={"why": "one"}))
        with pytest.raises(VersionConflict):
            await two.save(Session("k", "f", "s", slots={"why": "two"}))
        assert await two.delete("k") is True
        with pytest.raises(VersionConflict):  # one's cached key is gone with the person
            await one.save(Session("k", "f", "s", version=1))
        await one.save(Session("k", "f", "s", slots={"why": "anew"}))  # a new key
        loaded = await two.load("k")
        assert loaded is not None and loaded.slots == {"why": "anew"}
    finally:
        await one.close()
        await two.close()


# -- PostgreSQL: one transaction over both tables -----------------------------------------------


async def test_postgres_a_deleted_rows_old_copy_cannot_be_opened(pg_url: str) -> None:
    store = make_store(pg_url)
    try:
        await store.save(Session("telegram:7", "f", "s", slots={"why": CANARY}))
        await store.save(Session("telegram:8", "f", "s", slots={"why": "stays"}))
        row = await query(pg_url, "SELECT data FROM sessions WHERE user_key = 'telegram:7'")
        wrapped = await query(pg_url, "SELECT wrapped FROM person_keys "
                                      "WHERE user_key = 'telegram:7'")
        assert isinstance(row, bytes) and CANARY.encode() not in row
        assert _opens(row, "telegram:7", cipher(), [wrapped])  # type: ignore[list-item]
        assert await store.delete("telegram:7") is True
        assert await query(pg_url, "SELECT count(*) FROM person_keys "
                                   "WHERE user_key = 'telegram:7'") == 0
        left = await query(pg_url, "SELECT array_agg(wrapped) FROM person_keys")
        assert not _opens(row, "telegram:7", cipher(), list(left))  # type: ignore[arg-type]
        with pytest.raises(InvalidToken):
            cipher().decrypt(row, "telegram:7")
        # The old copy put back (as a restored backup of the sessions table would): no
        # session comes of it, and the person starts again with a new key.
        await query(pg_url, "INSERT INTO sessions VALUES ('telegram:7', 1, 0, $1)", row)
        assert await store.load("telegram:7") is None
        await store.save(Session("telegram:7", "f", "s", slots={"why": "anew"}))
        loaded = await store.load("telegram:7")
        assert loaded is not None and loaded.slots == {"why": "anew"}
    finally:
        await store.close()


async def test_postgres_purge_erases_rows_and_their_keys_together(pg_url: str) -> None:
    store = make_store(pg_url)
    try:
        await store.save(Session("old", "f", "s"))
        await query(pg_url, "UPDATE sessions SET updated_at = 0")
        await store.save(Session("new", "f", "s"))
        assert await store.purge(older_than=1) == 1
        assert await query(pg_url, "SELECT string_agg(user_key, ',') FROM person_keys") == "new"
    finally:
        await store.close()


async def test_postgres_first_saves_racing_make_one_key_and_one_row(pg_url: str) -> None:
    """Two processes save a new person at once: one wins, with its key; the other is a
    conflict and, retried, reads the winner's row with the winner's key."""
    import asyncio

    one, two = make_store(pg_url), make_store(pg_url)
    try:
        results = await asyncio.gather(
            one.save(Session("k", "f", "s", slots={"why": "one"})),
            two.save(Session("k", "f", "s", slots={"why": "two"})), return_exceptions=True)
        assert sorted(type(r).__name__ for r in results) == ["NoneType", "VersionConflict"]
        assert await query(pg_url, "SELECT count(*) FROM person_keys") == 1
        for store in (one, two):
            loaded = await store.load("k")
            assert loaded is not None and loaded.version == 1
        loaded.slots["why"] = "later"  # type: ignore[union-attr]
        await two.save(loaded)  # type: ignore[arg-type]
    finally:
        await one.close()
        await two.close()


async def test_postgres_a_key_erased_by_another_process_is_never_sealed_with(
        pg_url: str) -> None:
    one, two = make_store(pg_url), make_store(pg_url)
    try:
        await one.save(Session("k", "f", "s"))  # one keeps the key, unwrapped
        assert await two.delete("k") is True
        with pytest.raises(VersionConflict):  # the core reads again, and tries again
            await one.save(Session("k", "f", "s", slots={"why": "anew"}))
        await one.save(Session("k", "f", "s", slots={"why": "anew"}))
        loaded = await two.load("k")
        assert loaded is not None and loaded.slots == {"why": "anew"}
        assert await query(pg_url, "SELECT count(*) FROM person_keys") == 1
    finally:
        await one.close()
        await two.close()


async def test_postgres_rows_sealed_with_the_store_key_still_load(pg_url: str) -> None:
    store: Store = make_store(pg_url)
    try:
        old = Session("k", "f", "s", slots={"why": CANARY}, version=2)
        await query(pg_url, "INSERT INTO sessions VALUES ('k', 2, 1, $1)",
                    cipher().encrypt(old.to_json(), "k"))
        loaded = await store.load("k")
        assert loaded is not None and loaded.slots == {"why": CANARY}
        await store.save(loaded)
        row = await query(pg_url, "SELECT data FROM sessions")
        assert person_sealed(row) and await query(  # type: ignore[arg-type]
            pg_url, "SELECT count(*) FROM person_keys") == 1
    finally:
        await store.close()
