"""The SQLite store's promises: durable settings, group commit, no trace after delete, and a
store that cannot write now (a lock held elsewhere, a full disk) fails one save cleanly
without ever stopping the event loop."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from bot.session import Session
from bot.store.base import StoreUnavailable, VersionConflict
from bot.store.sqlite import SQLiteStore
from bot.store.url import StoreURLError, open_store


async def test_pragmas_and_file_mode(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "p.db")
    try:
        await store.save(Session("k", "f", "s"))
        pragmas = await store._write(lambda c: (
            c.execute("PRAGMA journal_mode").fetchone()[0],
            c.execute("PRAGMA synchronous").fetchone()[0],
            c.execute("PRAGMA secure_delete").fetchone()[0],
        ))
        assert pragmas == ("wal", 2, 1)
        assert (tmp_path / "p.db").stat().st_mode & 0o777 == 0o600
    finally:
        await store.close()


@pytest.fixture
def usual_umask() -> Iterator[None]:
    """The umask most systems start with (0022: new files readable by everyone), so the
    store itself must make its files owner-only."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def _modes(path: Path) -> dict[str, int]:
    return {suffix: Path(f"{path}{suffix}").stat().st_mode & 0o777
            for suffix in ("", "-wal", "-shm")}


async def test_database_wal_and_shm_are_owner_only_while_open(tmp_path: Path,
                                                               usual_umask: None) -> None:
    """The -wal and -shm files hold recent rows (user keys, sealed answers) too."""
    path = tmp_path / "modes.db"
    store = SQLiteStore(path)
    try:
        assert _modes(path) == {"": 0o600, "-wal": 0o600, "-shm": 0o600}
        await store.save(Session("telegram:42", "f", "s", slots={"why": "answer"}))
        assert _modes(path) == {"": 0o600, "-wal": 0o600, "-shm": 0o600}
    finally:
        await store.close()


async def test_files_left_readable_by_an_older_version_are_made_owner_only(
        tmp_path: Path, usual_umask: None) -> None:
    path = tmp_path / "old.db"
    # As an older build left them: 0644, and the WAL kept by another open connection.
    keeper = sqlite3.connect(path, isolation_level=None)
    keeper.execute("PRAGMA journal_mode=WAL")
    keeper.execute("CREATE TABLE t (x)")
    try:
        assert _modes(path) == {"": 0o644, "-wal": 0o644, "-shm": 0o644}
        store = SQLiteStore(path)
        try:
            assert _modes(path) == {"": 0o600, "-wal": 0o600, "-shm": 0o600}
        finally:
            await store.close()
    finally:
        keeper.close()


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


async def test_delete_leaves_no_trace_in_the_files(tmp_path: Path) -> None:
    path = tmp_path / "d.db"
    store = SQLiteStore(path)
    canary = "CANARY-8d1f-secret-answer"
    try:
        await store.save(Session("k", "f", "s", slots={"why": canary}))
        await store.save(Session("other", "f", "s", slots={"why": "keep me"}))
        assert await store.delete("k")
    finally:
        await store.close()
    for file in tmp_path.iterdir():
        assert canary.encode() not in file.read_bytes(), file.name
    assert b"keep me" in path.read_bytes()


def _on_disk(path: Path) -> bytes:
    """The database and its WAL as they are on disk now, read behind the store's back.
    (Closing these descriptors drops this process's locks on the file: harmless in a test
    with no other process; the store itself never does it, see bot/store/sqlite.py.)"""
    wal = Path(f"{path}-wal")
    return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


async def test_delete_erases_at_once_while_the_store_stays_open(tmp_path: Path) -> None:
    """No close() (which checkpoints anyway): right after /delete, neither the .db nor the
    -wal holds the answer or the person's key."""
    path = tmp_path / "open.db"
    store = SQLiteStore(path)  # no cipher: the canary is plain text on disk until erased
    canary, user = "CANARY-51b0-what-i-told-no-one", "telegram:USER-7731"
    try:
        await store.save(Session("telegram:OTHER-1", "f", "s", slots={"why": "keep me"}))
        session = Session(user, "f", "s", slots={"why": canary})
        await store.save(session)
        session.slots["why"] = canary + " (changed)"
        await store.save(session)
        assert canary.encode() in _on_disk(path) and user.encode() in _on_disk(path)
        assert await store.delete(user)
        raw = _on_disk(path)
        assert raw.count(canary.encode()) == 0
        assert raw.count(user.encode()) == 0
        assert b"keep me" in raw
        assert await store.load(user) is None
    finally:
        await store.close()


async def test_delete_leaves_no_copy_that_page_moves_left_behind(tmp_path: Path) -> None:
    """With many small rows, SQLite's page splits and merges leave stale copies of a row in
    the unused part of a page, which secure_delete does not reach. /delete finds them and
    rebuilds the file, so every erased person is gone from the disk at once."""
    left = []
    for size in (220, 240, 260, 280, 300):  # row sizes where this happens with 200 rows
        path = tmp_path / f"many{size}.db"
        store = SQLiteStore(path)
        users = [f"user:{size}:{n:04d}" for n in range(200)]
        try:
            await asyncio.gather(*(store.save(Session(u, "f", "s", slots={"a": "x" * size}))
                                   for u in users))
            for user in users:
                await store.delete(user)
                if user.encode() in _on_disk(path):
                    left.append(user)
        finally:
            await store.close()
    assert left == []


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
