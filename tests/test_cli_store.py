"""`coach store migrate` and `coach --store postgresql://... chat`, as an operator runs them."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

from bot.crypto import new_key
from bot.store.pg_schema import CURRENT
from bot.store.postgres import migrate_database
from tests.conftest import CORE_FLOWS, REPO
from tests.test_postgres import KEY, query


def test_migrate_says_there_is_nothing_to_do_for_sqlite(tmp_path) -> None:
    done = _coach("store", "migrate", "--store", str(tmp_path / "c.db"))
    assert done.returncode == 0 and b"nothing to migrate" in done.stdout
    assert not (tmp_path / "c.db").exists(), "nothing is created"


def _coach(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return _coach_with({}, *args, stdin=stdin)


def test_the_console_chats_over_postgres_and_the_cli_migrates(pg_url: str) -> None:
    migrated = _coach("store", "migrate", "--store", pg_url)
    assert migrated.returncode == 0, migrated.stderr
    assert migrated.stdout.decode().endswith(f"schema version 0 -> {CURRENT}\n")
    done = _coach("--store", pg_url, "chat", stdin=b"/start quiz\nSam\n")
    assert done.returncode == 0, done.stderr
    assert "Hello Sam. Favourite colour?" in done.stdout.decode()
    again = _coach("--store", pg_url, "chat", stdin=b"Red\n")
    assert "Why red?" in again.stdout.decode(), "the second run goes on where the first stopped"


def test_the_cli_refuses_a_newer_schema_with_74(pg_url: str) -> None:
    asyncio.run(migrate_database(pg_url))
    asyncio.run(query(pg_url, "UPDATE schema_version SET version = 999"))
    for args in (("store", "migrate"), ("chat",)):
        done = _coach(*args, "--store", pg_url, stdin=b"hi\n")
        assert done.returncode == 74
        [line] = done.stderr.decode().splitlines()
        assert line.startswith("coach: cannot open the store at postgresql://")
        assert "version 999, newer than this coach knows" in line


# -- coach store copy ---------------------------------------------------------------------------


def _coach_with(extra: dict[str, str], *args: str,
                stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COACH_")}
    env.update({"COACH_SECRET_KEY": KEY.decode(), "COACH_FLOWS_DIR": str(CORE_FLOWS), **extra})
    return subprocess.run([sys.executable, "-m", "bot", *args], input=stdin, env=env, cwd=REPO,
                          capture_output=True, timeout=120, check=False)


def _copy(*args: str) -> subprocess.CompletedProcess[bytes]:
    return _coach("store", "copy", *args)


def _chatted(db: str, *users: str) -> None:
    """Sessions made as a person makes them: through `coach chat`."""
    for user in users:
        done = _coach("--store", db, "chat", "--user", user, stdin=b"/start quiz\nSam\n")
        assert done.returncode == 0, done.stderr


def test_copy_sqlite_to_postgres_and_back_counting_and_naming_no_one(
        tmp_path, pg_url: str) -> None:
    db, back = str(tmp_path / "coach.db"), str(tmp_path / "back.db")
    _chatted(db, "ann-secret-id", "bob-secret-id")
    done = _copy(db, pg_url, "--every", "1")
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode().splitlines() == [
        "1 sessions: copied 1, already there 0, newer in the destination 0",
        "2 sessions: copied 2, already there 0, newer in the destination 0",
        "copied 2, already there 0, newer in the destination 0"]
    again = _copy(db, pg_url)
    assert again.stdout.decode() == "copied 0, already there 2, newer in the destination 0\n"
    assert "secret" not in (done.stdout + done.stderr + again.stdout).decode()
    other = new_key().decode()  # back into SQLite, under a key of its own
    home = _coach_with({"DST_KEYS": other}, "store", "copy", pg_url, back,
                       "--dst-key-env", "DST_KEYS")
    assert home.returncode == 0, home.stderr
    chat = _coach_with({"COACH_SECRET_KEY": other}, "--store", back, "chat", "--user",
                       "ann-secret-id", stdin=b"Red\n")
    assert "Why red?" in chat.stdout.decode(), "the copy goes on where the person was"


def test_copy_refuses_the_same_store_and_a_missing_key_variable(tmp_path, pg_url: str) -> None:
    db = str(tmp_path / "coach.db")
    _chatted(db, "ann")
    for source, destination in ((db, f"sqlite:///{db}"), (pg_url, pg_url)):
        done = _copy(source, destination)
        assert done.returncode == 64
        assert done.stderr.decode() == ("coach: SRC and DST are the same store: nothing to "
                                        "copy\n")
    done = _copy(db, str(tmp_path / "new.db"), "--dst-key-env", "NOT_SET_ANYWHERE")
    assert done.returncode == 64
    assert done.stderr.decode() == "coach: --dst-key-env NOT_SET_ANYWHERE: $NOT_SET_ANYWHERE " \
                                   "is not set\n"
    assert not (tmp_path / "new.db").exists()
    missing = _copy(str(tmp_path / "typo.db"), str(tmp_path / "new.db"))
    assert missing.returncode == 74 and "there is no store there" in missing.stderr.decode()
