"""A second process that opens and closes the database must not cost a running coach its
acknowledged saves.

POSIX record locks belong to a process: if the store ever closed a descriptor of the database
file of its own, SQLite's locks would silently go, the next process to close the file would
think itself the last user, checkpoint and unlink the -wal the coach still writes into, and
everything acknowledged after that would be lost to a `kill -9`.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

from tests.conftest import REPO

# A coach-like writer: one command a line on stdin, one acknowledgement a line on stdout,
# printed only once the save (or /delete) has returned, i.e. is committed and durable.
# "reopen" opens and closes a second store on the same file inside the writer's process, as
# `open_store` does it (checking the file first).
WRITER = """
import asyncio, sys
from bot.session import Session
from bot.store.url import open_store

loop = asyncio.new_event_loop()
store = open_store(sys.argv[1])
session = Session("y", "f", "s")
print("ready", flush=True)
for line in sys.stdin:
    if line.strip() == "save":
        session.slots["answer"] = "step %d" % session.version
        loop.run_until_complete(store.save(session))
        print("saved", session.version, flush=True)
    elif line.strip() == "delete":
        loop.run_until_complete(store.save(Session("gone", "f", "s", slots={"a": "x"})))
        loop.run_until_complete(store.delete("gone"))
        print("deleted", flush=True)
    elif line.strip() == "reopen":
        spare = open_store(sys.argv[1])
        seen = loop.run_until_complete(spare.load("y"))
        loop.run_until_complete(spare.close())
        print("reopened", seen.version, flush=True)
"""

# What a second `coach chat --user x </dev/null` does to the file: open, read, close.
VISITOR = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1])
conn.execute("SELECT COUNT(*) FROM sessions").fetchone()
conn.execute("SELECT 1").fetchone()
conn.close()
"""


def _visit(path: Path) -> None:
    subprocess.run([sys.executable, "-c", VISITOR, str(path)], check=True, timeout=120)


def test_acknowledged_saves_survive_a_visitor_and_kill_9(tmp_path: Path) -> None:
    path = tmp_path / "coach.db"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], cwd=REPO,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    # Only a guard against a hung writer (the test then fails on the closed pipe); every
    # step below waits for the writer's own acknowledgement, never for a time window.
    guard = threading.Timer(120, writer.kill)
    guard.start()

    def ask(command: str) -> str:
        assert writer.stdin is not None and writer.stdout is not None
        writer.stdin.write(command + "\n")
        writer.stdin.flush()
        answer = writer.stdout.readline().strip()
        assert answer, f"the writer stopped before acknowledging {command!r}"
        return answer

    acknowledged = 0
    try:
        assert writer.stdout is not None and writer.stdout.readline().strip() == "ready"
        assert ask("save") == "saved 1"
        acknowledged = 1
        _visit(path)
        assert ask("delete") == "deleted"  # the /delete check reads the files on disk
        _visit(path)
        assert ask("reopen") == "reopened 1"
        _visit(path)
        for _ in range(4):
            acknowledged += 1
            assert ask("save") == f"saved {acknowledged}"
            _visit(path)
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        guard.cancel()
    assert writer.returncode == -signal.SIGKILL
    with sqlite3.connect(path) as conn:
        row = conn.execute("SELECT version FROM sessions WHERE user_key = 'y'").fetchone()
        gone = conn.execute("SELECT COUNT(*) FROM sessions WHERE user_key = 'gone'").fetchone()
    conn.close()
    assert row is not None and row[0] == acknowledged == 5
    assert gone[0] == 0
