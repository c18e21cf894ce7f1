"""`coach keys rotate` with keys in COACH_SECRET_KEY: it re-encrypts only when there is a new
key to rotate to, and says exactly what to do next."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from pathlib import Path

import pytest

from bot.cli.keys import run_keys
from bot.crypto import Cipher, key_file_for, new_key
from bot.session import Session
from bot.store.sqlite import SQLiteStore, UnreadableStore, person_keys_file
from bot.store.url import open_store

CANARY = "CANARY-2f9a-rotate-me"


def _seed(db: Path) -> None:
    async def seed() -> None:
        store = open_store(str(db))
        await store.save(Session("test:alice", "f", "s", slots={"why": CANARY}))
        await store.close()

    asyncio.run(seed())


def _rows(db: Path) -> list[bytes]:
    with sqlite3.connect(db) as conn:
        return [row[0] for row in conn.execute("SELECT data FROM sessions")]


def _wrapped(db: Path) -> list[tuple[bytes, str]]:
    with sqlite3.connect(person_keys_file(db)) as conn:
        return list(conn.execute("SELECT wrapped, key_id FROM person_keys"))


def _read(db: Path) -> str:
    async def read() -> str:
        store = open_store(str(db))
        try:
            session = await store.load("test:alice")
            assert session is not None
            return session.slots["why"]
        finally:
            await store.close()

    return asyncio.run(read())


def test_one_key_in_the_environment_is_not_rotated_onto_itself(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    db, current = tmp_path / "one.db", new_key().decode()
    monkeypatch.setenv("COACH_SECRET_KEY", current)
    _seed(db)
    before = _rows(db)

    assert run_keys("rotate", str(db)) != 0
    out = capsys.readouterr().out
    assert "re-encrypted" not in out and "under the first key" not in out
    assert "only one key" in out
    assert _rows(db) == before, "nothing is rewritten"
    # A fresh key to rotate to, and how to set it: new first, the current one after it.
    suggested = re.search(r"COACH_SECRET_KEY=(\S+),<your current key>", out)
    assert suggested is not None, out
    assert Cipher([suggested.group(1).encode()], "printed").keys
    assert suggested.group(1) != current
    assert current not in out, "the key in use is never printed"
    assert "coach keys rotate" in out
    assert not key_file_for(db).exists()


def test_the_same_key_twice_is_still_one_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture) -> None:
    db, current = tmp_path / "twice.db", new_key().decode()
    monkeypatch.setenv("COACH_SECRET_KEY", f"{current}, {current}")
    _seed(db)
    assert run_keys("rotate", str(db)) != 0
    assert "only one key" in capsys.readouterr().out


def test_a_new_key_first_rotates_every_row_and_says_what_to_keep(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    db, old, new = tmp_path / "two.db", new_key().decode(), new_key().decode()
    monkeypatch.setenv("COACH_SECRET_KEY", old)
    _seed(db)
    before, wrapped_before = _rows(db), _wrapped(db)
    monkeypatch.setenv("COACH_SECRET_KEY", f"{new},{old}")

    assert run_keys("rotate", str(db)) == 0
    out = capsys.readouterr().out
    assert "re-wrapped 1 person key(s) and re-sealed 0 older session(s) under the new " \
           "(first) key" in out
    assert "COACH_SECRET_KEY=<the new key>" in out and "destroy the older key" in out
    assert old not in out and new not in out
    assert _rows(db) == before, "the session stays sealed with the person's own key"
    [(wrapped, key_id)] = _wrapped(db)
    assert wrapped != wrapped_before[0][0] and key_id != wrapped_before[0][1]
    assert wrapped[1:5].hex() == key_id, "wrapped with the new key, as its id says"
    assert CANARY.encode() not in b"".join(p.read_bytes() for p in tmp_path.iterdir())

    monkeypatch.setenv("COACH_SECRET_KEY", new)  # the old key can go now
    assert _read(db) == CANARY
    monkeypatch.setenv("COACH_SECRET_KEY", old)
    with pytest.raises(UnreadableStore):
        SQLiteStore(db, Cipher([old.encode()], "old"))


def test_keys_in_a_file_rotate_the_same_way_and_say_to_edit_the_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """COACH_SECRET_KEY_FILE (a Docker secret): the operator's keys as COACH_SECRET_KEY
    is, so the steps are the same, said for a file."""
    db, old, new = tmp_path / "file.db", new_key().decode(), new_key().decode()
    secret = tmp_path / "coach_secret_key"
    monkeypatch.delenv("COACH_SECRET_KEY", raising=False)
    monkeypatch.setenv("COACH_SECRET_KEY_FILE", str(secret))
    secret.write_text(old + "\n", encoding="ascii")
    _seed(db)
    assert run_keys("rotate", str(db)) != 0
    out = capsys.readouterr().out
    assert "only one key" in out and "first line of the file" in out and old not in out

    secret.write_text(f"{new}\n{old}\n", encoding="ascii")
    assert run_keys("rotate", str(db)) == 0
    out = capsys.readouterr().out
    assert "re-wrapped 1 person key(s)" in out and "leave the new key alone in the file" in out
    secret.write_text(new + "\n", encoding="ascii")
    assert _read(db) == CANARY
    assert not key_file_for(db).exists()


def test_rotate_on_a_path_with_no_store_makes_nothing_and_says_so(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from bot.cli import main

    typo = tmp_path / "typo" / "coach.db"
    assert main(["keys", "rotate", "--store", str(typo)]) == 74
    assert "there is no store there" in capsys.readouterr().err
    assert not typo.parent.exists()


def test_rotating_a_key_file_while_a_coach_has_the_store_open_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from bot.cli import main

    db = tmp_path / "coach.db"
    _seed(db)
    running = open_store(str(db))  # as a running bot holds it
    try:
        assert main(["keys", "rotate", "--store", str(db)]) == 74
        assert "open in a running coach: stop it first" in capsys.readouterr().err
        assert _read(db) == CANARY  # nothing was re-encrypted
    finally:
        asyncio.run(running.close())
    assert main(["keys", "rotate", "--store", str(db)]) == 0
    assert _read(db) == CANARY
