"""`coach store migrate` and `coach --store postgresql://... chat`, as an operator runs them."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

from bot.store.pg_schema import CURRENT
from bot.store.postgres import migrate_database
from tests.conftest import CORE_FLOWS, REPO
from tests.test_postgres import KEY, query


def test_migrate_says_there_is_nothing_to_do_for_sqlite(tmp_path) -> None:
    done = _coach("store", "migrate", "--store", str(tmp_path / "c.db"))
    assert done.returncode == 0 and b"nothing to migrate" in done.stdout
    assert not (tmp_path / "c.db").exists(), "nothing is created"


def _coach(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COACH_")}
    env.update({"COACH_SECRET_KEY": KEY.decode(), "COACH_FLOWS_DIR": str(CORE_FLOWS)})
    return subprocess.run([sys.executable, "-m", "bot", *args], input=stdin, env=env,
                          cwd=REPO, capture_output=True, timeout=120, check=False)


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
