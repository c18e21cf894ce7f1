"""`coach keys rotate` on PostgreSQL (bot/store/pg_rotate.py): every data key re-wrapped and
every store-key-sealed row moved to a data key, in batches, while bots go on saving; after
it, nothing needs the old store key, so an old backup of the keys table is no use without
it."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from bot.cli.keys import run_keys
from bot.crypto import Cipher, InvalidToken, new_key, person_sealed
from bot.session import Session
from bot.store.base import VersionConflict
from bot.store.person_keys import PersonKeys
from bot.store.pg_rotate import rewrap_batch
from bot.store.postgres import PostgresStore
from tests.test_postgres import query

OLD, NEW = new_key(), new_key()


def store(url: str, *keys: bytes) -> PostgresStore:
    return PostgresStore(url, Cipher(list(keys), "test keys"))


async def _seed(url: str, people: int = 7, older_rows: int = 3) -> None:
    """People with data keys (under OLD), and rows an older coach sealed with OLD itself."""
    before = store(url, OLD)
    try:
        for n in range(people):
            await before.save(Session(f"p{n}", "f", "s", slots={"n": str(n)}))
    finally:
        await before.close()
    for n in range(older_rows):
        session = Session(f"old{n}", "f", "s", slots={"n": f"old {n}"}, version=1)
        await query(url, "INSERT INTO sessions VALUES ($1, 1, 1, $2)", session.user_key,
                    Cipher([OLD], "old").encrypt(session.to_json(), session.user_key))


async def _all_open_with(url: str, *keys: bytes) -> list[str]:
    after = store(url, *keys)
    try:
        found = []
        for key in await after.user_keys(None, 100):
            session = await after.load(key)
            assert session is not None
            found.append(session.slots["n"])
        return found
    finally:
        await after.close()


async def test_rotation_rewraps_every_key_and_reseals_older_rows(pg_url: str) -> None:
    await _seed(pg_url)
    backup = await query(pg_url, "SELECT wrapped FROM person_keys WHERE user_key = 'p0'")
    both = store(pg_url, NEW, OLD)
    try:
        progress: list[tuple[int, int]] = []
        assert await both.rotate_keys(batch=2, progress=lambda *done: progress.append(done)) \
            == (7, 3)
        assert progress[-1] == (7, 3) and len(progress) == 6  # 4 batches of keys, 2 of rows
        assert await both.rotate_keys(batch=2) == (0, 0), "nothing left: a rerun is free"
    finally:
        await both.close()
    new_id = Cipher([NEW], "new").key_id
    assert await query(pg_url, "SELECT count(*) FROM person_keys WHERE key_id <> $1",
                       new_id) == 0
    assert await query(pg_url, "SELECT count(*) FROM sessions WHERE get_byte(data, 0) = 1") == 0
    assert sorted(await _all_open_with(pg_url, NEW)) == sorted(
        [*map(str, range(7)), "old 0", "old 1", "old 2"])
    with pytest.raises(InvalidToken):  # the old store key destroyed: the backup is no use
        Cipher([NEW], "new").unwrap(backup, "p0")  # type: ignore[arg-type]


async def test_a_stopped_rotation_is_finished_by_running_it_again(pg_url: str) -> None:
    await _seed(pg_url, older_rows=0)
    both = store(pg_url, NEW, OLD)
    try:
        keys = PersonKeys(both.cipher)
        conn = await asyncpg.connect(pg_url)
        try:
            assert await rewrap_batch(conn, keys, "", 3) == (3, "p2")  # then it stopped
        finally:
            await conn.close()
        assert await both.rotate_keys(batch=3) == (4, 0)
    finally:
        await both.close()
    assert len(await _all_open_with(pg_url, NEW)) == 7


async def test_bots_go_on_saving_while_it_rotates(pg_url: str) -> None:
    """A bot restarted with NEW,OLD saves the whole time; a save that raced a re-wrap is a
    conflict that the core retries (here: the loop), and nothing is lost."""
    await _seed(pg_url, people=40, older_rows=0)
    bot, rotating = store(pg_url, NEW, OLD), store(pg_url, NEW, OLD)
    stop = asyncio.Event()
    saves = 0

    async def chatting() -> None:
        nonlocal saves
        while not stop.is_set() or saves < 40:
            key = f"p{saves % 40}"
            for _ in range(5):
                session = await bot.load(key)
                assert session is not None
                session.slots["turn"] = str(saves)
                try:
                    await bot.save(session)
                    break
                except VersionConflict:
                    continue
            saves += 1

    try:
        talking = asyncio.create_task(chatting())
        rewrapped, _ = await rotating.rotate_keys(batch=3)
        stop.set()
        await talking
        assert rewrapped == 40
    finally:
        await bot.close()
        await rotating.close()
    assert len(await _all_open_with(pg_url, NEW)) == 40


def test_the_command_rotates_postgres_from_the_environment(
        pg_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    asyncio.run(_seed(pg_url))
    monkeypatch.setenv("COACH_SECRET_KEY", OLD.decode())
    assert run_keys("rotate", pg_url) != 0
    assert "only one key" in capsys.readouterr().out
    monkeypatch.setenv("COACH_SECRET_KEY", f"{NEW.decode()},{OLD.decode()}")
    assert run_keys("rotate", pg_url) == 0
    out = capsys.readouterr().out
    assert "re-wrapped 7 person key(s) and re-sealed 3 older session(s)" in out
    assert OLD.decode() not in out and NEW.decode() not in out
    assert len(asyncio.run(_all_open_with(pg_url, NEW))) == 10
    assert person_sealed(asyncio.run(query(pg_url, "SELECT data FROM sessions LIMIT 1")))  # type: ignore[arg-type]
