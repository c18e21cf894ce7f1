"""Answers are encrypted at rest: no plain text in the database files, keys handled safely."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.crypto import CipherKeyError, key_file_for, load_cipher, new_key
from bot.pipeline import Coach
from bot.store.sqlite import SQLiteStore, UnreadableStore, person_keys_file
from bot.store.url import open_store
from tests.conftest import CORE_FLOWS, REPO, Chat

CANARY = "CANARY-7c2e-my-partner-texts-someone"


@pytest.fixture(autouse=True)
def _no_env_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COACH_SECRET_KEY", raising=False)
    monkeypatch.delenv("COACH_SECRET_KEY_FILE", raising=False)


async def _answer_canary(store: SQLiteStore, catalog) -> Chat:
    chat = Chat(Coach(catalog, store))
    await chat.send("/start quiz")
    await chat.send("Sam")
    await chat.press("Red")
    await chat.send(CANARY)
    return chat


def _raw_bytes(directory: Path) -> bytes:
    return b"".join(p.read_bytes() for p in directory.iterdir() if p.is_file())


async def test_no_answer_in_plain_text_on_disk(tmp_path: Path, catalog) -> None:
    store = open_store(str(tmp_path / "c.db"))
    assert isinstance(store, SQLiteStore)
    chat = await _answer_canary(store, catalog)
    session = await store.load(chat.user.key)
    assert session is not None and session.slots["why"] == CANARY
    assert CANARY.encode() not in _raw_bytes(tmp_path)
    assert b"Sam" not in (tmp_path / "c.db-wal").read_bytes()
    await store.close()
    assert CANARY.encode() not in _raw_bytes(tmp_path)


async def test_key_file_beside_the_database_owner_only(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "db" / "c.db"))
    await store.close()
    key = key_file_for(tmp_path / "db" / "c.db")
    assert key.exists() and key.parent == tmp_path / "db"
    assert key.stat().st_mode & 0o777 == 0o600
    assert load_cipher(tmp_path / "db" / "c.db").keys == load_cipher(
        tmp_path / "db" / "c.db").keys


async def test_env_key_wins_and_a_wrong_key_fails_at_start(tmp_path: Path, catalog,
                                                           monkeypatch) -> None:
    monkeypatch.setenv("COACH_SECRET_KEY", new_key().decode())
    store = open_store(str(tmp_path / "e.db"))
    assert isinstance(store, SQLiteStore)
    await _answer_canary(store, catalog)
    await store.close()
    assert not key_file_for(tmp_path / "e.db").exists()
    monkeypatch.setenv("COACH_SECRET_KEY", new_key().decode())
    with pytest.raises(UnreadableStore):
        open_store(str(tmp_path / "e.db"))
    monkeypatch.setenv("COACH_SECRET_KEY", "not-a-key")
    with pytest.raises(CipherKeyError):
        open_store(str(tmp_path / "e.db"))


def _secret_file(path: Path, *keys: bytes) -> Path:
    """A key file as an operator writes it for a Docker secret: one key a line, newest first."""
    path.write_text("# store keys, newest first\n" + "\n".join(k.decode() for k in keys) + "\n",
                    encoding="ascii")
    return path


async def test_the_keys_can_come_from_a_file_named_by_the_environment(
        tmp_path: Path, catalog, monkeypatch: pytest.MonkeyPatch) -> None:
    """COACH_SECRET_KEY_FILE (a Docker secret under /run/secrets): the same format as
    COACH_SECRET_KEY, nothing written beside the database, the same rows readable either way."""
    new, old = new_key(), new_key()
    secret = _secret_file(tmp_path / "coach_secret_key", new, old)
    monkeypatch.setenv("COACH_SECRET_KEY_FILE", str(secret))
    cipher = load_cipher(tmp_path / "f.db")
    assert cipher.keys == [new, old] and "COACH_SECRET_KEY_FILE" in cipher.source
    store = open_store(str(tmp_path / "f.db"))
    assert isinstance(store, SQLiteStore)
    await _answer_canary(store, catalog)
    await store.close()
    assert not key_file_for(tmp_path / "f.db").exists()
    assert CANARY.encode() not in _raw_bytes(tmp_path)
    monkeypatch.delenv("COACH_SECRET_KEY_FILE")
    monkeypatch.setenv("COACH_SECRET_KEY", f"{new.decode()},{old.decode()}")
    store = open_store(str(tmp_path / "f.db"))  # the same keys from the variable
    assert isinstance(store, SQLiteStore)
    session = await store.load("test:alice")
    assert session is not None and session.slots["why"] == CANARY
    await store.close()


def test_both_set_they_must_hold_the_same_keys(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    key, other = new_key(), new_key()
    monkeypatch.setenv("COACH_SECRET_KEY_FILE", str(_secret_file(tmp_path / "k", key)))
    monkeypatch.setenv("COACH_SECRET_KEY", key.decode())
    assert load_cipher(tmp_path / "b.db").keys == [key]  # the same: no doubt which one
    monkeypatch.setenv("COACH_SECRET_KEY", other.decode())
    with pytest.raises(CipherKeyError) as raised:
        load_cipher(tmp_path / "b.db")
    said = str(raised.value)
    assert "COACH_SECRET_KEY and $COACH_SECRET_KEY_FILE" in said and "different" in said
    assert key.decode() not in said and other.decode() not in said


@pytest.mark.parametrize(("content", "said"), [
    (None, "cannot read"), (b"# only a comment\n", "holds no key"),
    (b"\xff\xfe not text", "not a key file"), (b"not-a-key\n", "not a valid key")])
def test_a_key_file_that_cannot_serve_is_a_clear_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: bytes | None,
        said: str) -> None:
    secret = tmp_path / "coach_secret_key"
    if content is not None:
        secret.write_bytes(content)
    monkeypatch.setenv("COACH_SECRET_KEY_FILE", str(secret))
    with pytest.raises(CipherKeyError, match=said):
        open_store(str(tmp_path / "x.db"))
    assert not (tmp_path / "x.db").exists()


def test_two_keys_that_disagree_stop_the_command_with_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COACH_")}
    env.update({"COACH_FLOWS_DIR": str(CORE_FLOWS), "COACH_SECRET_KEY": new_key().decode(),
                "COACH_SECRET_KEY_FILE": str(_secret_file(tmp_path / "k", new_key()))})
    done = subprocess.run([sys.executable, "-m", "bot", "--store", str(tmp_path / "d.db"),
                           "chat"], input="hi\n", text=True, capture_output=True, cwd=REPO,
                          env=env, timeout=60)
    assert done.returncode == 64
    assert done.stderr.count("\n") == 1 and "set only one of them" in done.stderr
    assert env["COACH_SECRET_KEY"] not in done.stderr and "Traceback" not in done.stderr


def test_rotate_with_a_key_file(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("COACH_SECRET_KEY")}
    env["COACH_FLOWS_DIR"] = str(CORE_FLOWS)
    subprocess.run([sys.executable, "-m", "bot", "--store", str(db), "chat"],
                   input="1\nSam\n1\n" + CANARY + "\n", text=True, capture_output=True,
                   cwd=REPO, env=env, check=True, timeout=60)
    before = key_file_for(db).read_text()
    done = subprocess.run([sys.executable, "-m", "bot", "--store", str(db), "keys", "rotate"],
                          text=True, capture_output=True, cwd=REPO, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "re-wrapped 1 person key(s)" in done.stdout
    after = key_file_for(db).read_text()
    assert after != before
    old_key = next(line for line in before.splitlines() if not line.startswith("#"))
    assert old_key not in after
    resumed = subprocess.run([sys.executable, "-m", "bot", "--store", str(db), "chat"],
                             input="/export\n", text=True, capture_output=True, cwd=REPO,
                             env=env, timeout=60)
    assert CANARY in resumed.stdout
    assert CANARY.encode() not in _raw_bytes(tmp_path)


def test_a_wrong_key_is_a_clear_error_not_a_traceback(tmp_path: Path) -> None:
    db = tmp_path / "w.db"
    env = {**os.environ, "COACH_FLOWS_DIR": str(CORE_FLOWS),
           "COACH_SECRET_KEY": new_key().decode()}
    subprocess.run([sys.executable, "-m", "bot", "--store", str(db), "chat"], input="hi\n",
                   text=True, capture_output=True, cwd=REPO, env=env, check=True, timeout=60)
    env["COACH_SECRET_KEY"] = new_key().decode()
    done = subprocess.run([sys.executable, "-m", "bot", "--store", str(db), "chat"], input="",
                          text=True, capture_output=True, cwd=REPO, env=env, timeout=60)
    assert done.returncode == 64
    assert "cannot be decrypted" in done.stderr and "Traceback" not in done.stderr



async def test_rotation_leaves_no_row_sealed_with_the_old_key(tmp_path: Path) -> None:
    """After rows are erased (here by the retention purge), pages keep stale copies of old
    rows and keys in their unused space, where secure_delete does not reach. Rotating
    rebuilds both files, so no key wrapped with the old store key is left for someone who
    has it."""
    import asyncio
    import base64
    import hashlib
    import time

    from bot.crypto import Cipher
    from bot.session import Session

    left = 0
    for size in range(200, 400, 10):  # row sizes vary where SQLite leaves such copies
        old, new = new_key(), new_key()
        path = tmp_path / f"r{size}.db"
        store = SQLiteStore(path, Cipher([old], "old"))
        try:
            await asyncio.gather(*(store.save(Session(f"u:{n:04d}", "f", "s",
                                                      slots={"a": "x" * size}))
                                   for n in range(200)))
            cut = time.time()
            touched = [await store.load(f"u:{n:04d}") for n in range(0, 200, 2)]
            await asyncio.gather(*(store.save(s) for s in touched if s is not None))
            assert await store.purge(cut) == 100
            store.cipher = Cipher([new, old], "both")
            assert await store.rotate_keys() == (100, 0)
            sealed_with_old = b"\x01" + hashlib.sha256(base64.urlsafe_b64decode(old)).digest()[:4]
            for file in (path, person_keys_file(path)):  # the rows, the wrapped keys
                wal = Path(f"{file}-wal")
                raw = file.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
                left += raw.count(sealed_with_old)
        finally:
            await store.close()
    assert left == 0
