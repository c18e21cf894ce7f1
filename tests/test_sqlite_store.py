"""The SQLite store (bot/store/sqlite.py): its URLs, its cache, a store that cannot be opened
or is closed, and reads tried again. Its files are tested in tests/test_sqlite_files.py, its
grouped commits in tests/test_sqlite_commit.py, its data keys in tests/test_person_keys.py."""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterable
from pathlib import Path

import pytest

from bot.session import Session
from bot.store.base import StoreUnavailable, VersionConflict
from bot.store.sqlite import SQLiteStore
from bot.store.url import StoreURLError, open_store


async def test_store_urls(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    for url, where in (("sqlite:///rel.db", tmp_path / "rel.db"),
                       (f"sqlite:///{tmp_path}/abs.db", tmp_path / "abs.db"),
                       (str(tmp_path / "bare.db"), tmp_path / "bare.db")):
        store = open_store(url)
        assert isinstance(store, SQLiteStore) and store.path.resolve() == where.resolve(), url
        await store.close()
    assert type(open_store("memory")).__name__ == "MemoryStore"
    for bad in ("redis://localhost", "sqlite://"):
        try:
            open_store(bad)
        except StoreURLError:
            continue
        raise AssertionError(bad)


async def test_cache_is_bounded_and_yields_to_another_writer(tmp_path: Path) -> None:
    """Two stores on one file act like two processes: the cache never hides a newer row."""
    one = SQLiteStore(tmp_path / "two.db", cache_size=3)
    two = SQLiteStore(tmp_path / "two.db", cache_size=3)
    try:
        for n in range(10):
            await one.save(Session(f"u{n}", "f", "s"))
        assert len(one._cache) == 3
        mine = await one.load("u9")
        theirs = await two.load("u9")
        assert mine is not None and theirs is not None
        theirs.slots["name"] = "newer"
        await two.save(theirs)
        mine.slots["name"] = "older"
        try:
            await one.save(mine)
            raise AssertionError("a stale cached session must not overwrite a newer row")
        except VersionConflict:
            pass
        fresh = await one.load("u9")
        assert fresh is not None and fresh.slots["name"] == "newer"
    finally:
        await one.close()
        await two.close()


def test_a_store_that_cannot_be_opened_is_one_clear_error(tmp_path: Path) -> None:
    import pytest

    from bot.store.base import StoreOpenError

    not_a_database = tmp_path / "notes.txt"
    not_a_database.write_text("my notes\n")
    for path, reason in ((tmp_path, "it is a directory"),
                         (not_a_database, "not an SQLite database"),
                         (not_a_database / "x.db", "part of the path is a file")):
        with pytest.raises(StoreOpenError, match=reason) as caught:
            open_store(str(path))
        assert str(caught.value).startswith(f"cannot open the store at {path}: ")
    assert not list(tmp_path.glob("*.key")), "no key file beside a path that cannot be used"
    assert not_a_database.read_text() == "my notes\n"


async def test_writes_after_close_say_the_store_is_closed(tmp_path: Path) -> None:
    import pytest

    from bot.store.base import StoreClosed

    store = SQLiteStore(tmp_path / "closed.db")
    await store.close()
    with pytest.raises(StoreClosed):
        await store.save(Session("k", "f", "s"))


def _sqlite_error(code: int, message: str) -> sqlite3.OperationalError:
    error = sqlite3.OperationalError(message)
    error.sqlite_errorcode = code  # type: ignore[attr-defined]
    return error


class _Refusing:
    """The store's reader connection, refusing its next reads with the given errors (a busy
    WAL read, as while another process recovers it, cannot be caused on purpose)."""

    def __init__(self, conn: sqlite3.Connection, errors: Iterable[sqlite3.Error]) -> None:
        self.conn, self.errors = conn, iter(errors)

    def execute(self, *args: object) -> sqlite3.Cursor:
        error = next(self.errors, None)
        if error is not None:
            raise error
        return self.conn.execute(*args)  # type: ignore[arg-type]

    def close(self) -> None:
        self.conn.close()


async def test_a_refused_read_is_tried_again_then_reported(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "read.db", cache_size=0, busy_timeout=0.2)
    real = store._reader
    try:
        await store.save(Session("k", "f", "s", slots={"why": "kept"}))
        busy = _sqlite_error(sqlite3.SQLITE_BUSY, "database is locked")
        store._reader = _Refusing(real, [busy, busy])  # type: ignore[assignment]
        loaded = await store.load("k")
        assert loaded is not None and loaded.slots["why"] == "kept"
        store._reader = _Refusing(real, itertools.repeat(busy))  # type: ignore[assignment]
        with pytest.raises(StoreUnavailable) as caught:
            await store.load("k")
        assert caught.value.reason == "busy"
        io = _sqlite_error(sqlite3.SQLITE_IOERR_READ, "disk I/O error")
        store._reader = _Refusing(real, [io])  # type: ignore[assignment]
        with pytest.raises(StoreUnavailable) as caught:
            await store.count()
        assert caught.value.reason == "io"
    finally:
        store._reader = real
        await store.close()
