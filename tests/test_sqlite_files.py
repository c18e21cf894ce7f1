"""The SQLite store's files (bot/store/sqlite_files.py): durable settings, owner-only from the
moment they exist, and no trace of an erased row left on disk."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.session import Session
from bot.store.sqlite import SQLiteStore


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


