"""The console adapter as a person (or a script) uses it: through a pipe, and after kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import CORE_FLOWS, REPO

PROMPT = b"> "


def _coach(store: Path, *args: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "COACH_FLOWS_DIR": str(CORE_FLOWS), "COACH_STORE": str(store)}
    return subprocess.Popen([sys.executable, "-m", "bot", "chat", "--user", "pat", *args],
                            cwd=REPO, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, **kwargs)


def _read_reply(proc: subprocess.Popen, timeout: float = 20) -> str:
    """Read until the prompt: the console flushes after every reply."""
    assert proc.stdout is not None
    data = b""
    deadline = time.monotonic() + timeout
    while not data.endswith(PROMPT):
        assert time.monotonic() < deadline, data
        chunk = os.read(proc.stdout.fileno(), 4096)
        assert chunk, f"console closed early: {data!r}"
        data += chunk
    return data.decode()


def _send(proc: subprocess.Popen, line: str) -> str:
    assert proc.stdin is not None
    proc.stdin.write(line.encode() + b"\n")
    proc.stdin.flush()
    return _read_reply(proc)


def test_console_through_a_pipe(tmp_path: Path) -> None:
    lines = "\n".join(["1", "Sam", "Blue", "peace", "2", "/export", ""])
    env = {**os.environ, "COACH_FLOWS_DIR": str(CORE_FLOWS)}
    done = subprocess.run(
        [sys.executable, "-m", "bot", "--store", str(tmp_path / "c.db"), "chat", "--user", "x"],
        input=lines, capture_output=True, text=True, cwd=REPO, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "  [1] Quiz\n  [2] Hurt role" in out
    assert "Hello Sam. Favourite colour?" in out
    assert "Done: Sam likes blue because peace." in out
    assert "• Why blue?\n  → peace" in out
    assert "Traceback" not in done.stderr


def test_kill_minus_nine_then_resume(tmp_path: Path) -> None:
    store = tmp_path / "k.db"
    proc = _coach(store)
    try:
        assert "Welcome to the test menu." in _read_reply(proc)
        _send(proc, "1")
        assert "Hello Sam. Favourite colour?" in _send(proc, "Sam")
        assert "Why red?" in _send(proc, "1")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        proc.kill()
    again = _coach(store)
    try:
        greeting = _read_reply(again)
        assert 'Welcome back. You were in "Quiz"' in greeting
        assert "Why red?" in greeting
        assert _send(again, "/resume").startswith("Why red?")
        assert "Want a side trip?" in _send(again, "it is warm")
    finally:
        again.stdin.close()  # type: ignore[union-attr]
        assert again.wait(timeout=20) == 0


def test_broken_flows_stop_the_start_with_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "menu.yaml").write_text("id: menu\ntitle: M\nstart: a\nstates:\n  a:\n"
                                        "    say: hi\n    next: b\n")
    env = {**os.environ, "COACH_FLOWS_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "bot", "--store", "memory", "chat"],
                          input="", capture_output=True, text=True, cwd=REPO, env=env,
                          timeout=60)
    assert done.returncode == 2
    assert f"{tmp_path / 'menu.yaml'}:7:11: 'b' is not a state of flow 'menu'" in done.stderr
    assert "Traceback" not in done.stderr
