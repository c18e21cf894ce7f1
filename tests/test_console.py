"""The console adapter as a person (or a script) uses it: through a pipe, after kill -9, with a
store that is full or locked, with no input at all, and stopped by SIGTERM (`docker stop`)."""

from __future__ import annotations

import io
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from adapters.console import ConsoleChat, choice_number, input_missing
from bot import cli
from bot.cli import chat as chat_command
from bot.flowlang.catalog import Catalog
from bot.messages import Incoming
from bot.pipeline import Coach
from bot.session import Session
from bot.store.base import StoreUnavailable
from bot.store.sqlite import SQLiteStore
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


def test_typed_answers_and_a_story_through_the_console(tmp_path: Path) -> None:
    """The shipped flows through a pipe: "yes" at the age check, a story at the menu offered
    talk, "not sure" at the safety question, and text close to two buttons asked about."""
    lines = "\n".join(["yes", "my girlfriend keeps hiding her phone and texting someone",
                       "1", "not sure", "/menu", "and want to", ""])
    env = {**os.environ, "COACH_FLOWS_DIR": str(REPO / "flows")}
    done = subprocess.run(
        [sys.executable, "-m", "bot", "--store", str(tmp_path / "c.db"), "chat", "--user", "x"],
        input=lines, capture_output=True, text=True, cwd=REPO, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "Please pick one of the options" not in out
    assert "Which of these fits you today?" in out
    assert "sounds painful" in out and "[1] Yes, let's prepare the talk" in out
    assert "it's a hard question" in out
    assert ("Did you mean “I was hurt and want to talk” or “I crossed a line and want to "
            "repair”?") in out
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


# -- a store that is full or locked -----------------------------------------------------------

NOT_SAVED = "nothing of it was saved. Please send it again"
EMOJI_ANSWER = "\U0001F600" * 200  # 800 bytes: the row no longer fits its page


async def _quiz_at_why_red(chat: ConsoleChat) -> None:
    chat.show(await chat.coach.open(Incoming(chat.user)))
    for line in ("1", "Sam", "1"):
        await chat.answer(line)
    last = chat.out.getvalue().split("> ")[-2]  # type: ignore[attr-defined]
    assert last.startswith("Why red?\n\n  [1] Skip\n")


def _console(coach: Coach) -> ConsoleChat:
    return ConsoleChat(coach, "pat", io.StringIO())


def _new_output(chat: ConsoleChat, since: int) -> str:
    return chat.out.getvalue()[since:]  # type: ignore[attr-defined]


async def test_a_full_disk_costs_one_line_not_the_chat(catalog: Catalog, tmp_path: Path) -> None:
    """SQLite reports `database or disk is full`: that line is not saved, the buttons on
    screen still work, and once there is room the same line goes through."""
    store = SQLiteStore(tmp_path / "full.db")
    chat = _console(Coach(catalog, store))
    try:
        await _quiz_at_why_red(chat)
        writer = store._writer  # the store's own connection: max_page_count is per connection
        writer.execute("VACUUM")  # no free pages left to reuse
        pages = writer.execute("PRAGMA page_count").fetchone()[0]
        writer.execute(f"PRAGMA max_page_count={pages}")
        start = len(chat.out.getvalue())  # type: ignore[attr-defined]
        reply = await chat.answer(EMOJI_ANSWER)
        shown = _new_output(chat, start)
        assert not reply.saved
        assert NOT_SAVED in shown and "  [1] Skip" in shown  # the step's buttons, still valid
        assert "Traceback" not in shown and "database" not in shown
        assert (await store.load(chat.user.key)).state == "detail"  # type: ignore[union-attr]
        writer.execute("PRAGMA max_page_count=1073741823")  # room again
        start = len(chat.out.getvalue())  # type: ignore[attr-defined]
        assert (await chat.answer(EMOJI_ANSWER)).saved
        assert "Want a side trip?" in _new_output(chat, start)
    finally:
        await store.close()


async def test_a_lock_held_past_the_busy_timeout_costs_one_line(catalog: Catalog,
                                                                 tmp_path: Path) -> None:
    """Another process holds the write lock all along; the store gives up after its busy
    timeout (short here: the lock is not let go, so the wait decides nothing)."""
    store = SQLiteStore(tmp_path / "busy.db", busy_timeout=0.05)
    chat = _console(Coach(catalog, store))
    other = sqlite3.connect(tmp_path / "busy.db", isolation_level=None)
    try:
        await _quiz_at_why_red(chat)
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        start = len(chat.out.getvalue())  # type: ignore[attr-defined]
        reply = await chat.answer("it is warm")
        assert not reply.saved and NOT_SAVED in _new_output(chat, start)
        other.execute("ROLLBACK")
        start = len(chat.out.getvalue())  # type: ignore[attr-defined]
        assert (await chat.answer("1")).saved  # the Skip button shown with the failure
        assert "No reason needed." in _new_output(chat, start)
    finally:
        other.close()
        await store.close()


class FailingSaves(SQLiteStore):
    """A real SQLite store whose saves numbered in `failing` (1 is the greeting's) fail."""

    def __init__(self, path: Path, failing: set[int], error: Exception) -> None:
        super().__init__(path)
        self.failing, self.error, self.saves = failing, error, 0

    async def save(self, session: Session) -> None:
        self.saves += 1
        if self.saves in self.failing:
            raise self.error
        await super().save(session)


STORE_ERRORS = [StoreUnavailable("full"), StoreUnavailable("busy"),
                sqlite3.OperationalError("database or disk is full")]


@pytest.mark.parametrize("error", STORE_ERRORS, ids=repr)
async def test_an_unsaved_line_is_reported_and_the_next_one_works(
        catalog: Catalog, tmp_path: Path, error: Exception) -> None:
    """Through ConsoleChat.run as `coach chat` drives it: the third save (the name) fails,
    whether the core returns `saved=False` or the store's error comes up raw."""
    store = FailingSaves(tmp_path / "f.db", {3}, error)
    chat = _console(Coach(catalog, store))
    try:
        assert await chat.run(io.StringIO("1\nSam\nSam\n")) == 0
    finally:
        await store.close()
    out = chat.out.getvalue()  # type: ignore[attr-defined]
    assert out.index("What is your name?") < out.index(NOT_SAVED)
    assert out.index(NOT_SAVED) < out.index("Hello Sam. Favourite colour?")
    assert "Traceback" not in out


@pytest.mark.parametrize("error", STORE_ERRORS, ids=repr)
def test_a_store_that_cannot_save_the_greeting_exits_74(
        catalog: Catalog, tmp_path: Path, error: Exception, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Nothing can be kept at all: one line on stderr and the store's code, no greeting."""
    monkeypatch.setattr(chat_command, "build_coach", lambda settings: Coach(
        catalog, FailingSaves(tmp_path / "g.db", {1, 2, 3}, error)))
    monkeypatch.setattr(sys, "stdin", io.StringIO("1\n"))
    assert cli.main(["--store", str(tmp_path / "g.db"), "chat"]) == 74
    captured = capsys.readouterr()
    assert len(captured.err.splitlines()) == 1, captured.err
    assert captured.err.startswith("coach: the store cannot be used (")
    assert captured.err.endswith("); nothing was saved\n") and "Traceback" not in captured.err
    assert "Welcome" not in captured.out


# -- numbers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("typed", "picks"), [
    ("1", 1), ("2", 2), ("01", 1), ("3", None), ("0", None), ("-1", None), ("+1", None),
    ("²", None), ("①", None), ("½", None), ("1²", None), ("１", 1), ("٢", 2), ("२", 2),
    ("1" * 5000, None), ("9" * 9, None), ("1.0", None), ("1 2", None), ("", None)])
def test_only_a_choice_number_picks_a_choice(typed: str, picks: int | None) -> None:
    """isdigit() accepts `²`, int() does not: that crashed the chat. Decimal digits of any
    script pick a choice (as int() reads them); anything else is text."""
    assert choice_number(typed, 2) == picks


def test_a_superscript_two_through_a_pipe_is_text() -> None:
    env = {**os.environ, "COACH_FLOWS_DIR": str(CORE_FLOWS)}
    done = subprocess.run([sys.executable, "-m", "bot", "--store", "memory", "chat"],
                          input=b"\xc2\xb2\n\xef\xbc\x92\n", capture_output=True, cwd=REPO,
                          env=env, timeout=60)
    assert done.returncode == 0, done.stderr.decode()
    out = done.stdout.decode()
    assert "Please pick one of the options below" in out  # `²` is text at the menu
    assert "Hello (not answered yet). Favourite colour?" in out  # full-width 2: Hurt role
    assert b"Traceback" not in done.stderr


# -- no input -----------------------------------------------------------------------------------


def _chat_with_stdin(stdin: object, *, close_stdin: bool = False,
                     data: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "COACH_FLOWS_DIR": str(CORE_FLOWS)}
    command = [sys.executable, "-m", "bot", "--store", "memory", "chat"]
    if close_stdin:
        command = ["sh", "-c", 'exec "$@" <&-', "sh", *command]
    feed = {"input": data} if data is not None else {"stdin": stdin}
    return subprocess.run(command, capture_output=True, cwd=REPO, env=env, timeout=60, **feed)


@pytest.mark.parametrize("how", ["dev_null", "closed"])
def test_no_input_at_all_is_one_line_and_exit_2(how: str) -> None:
    """`docker run conversation-coach` without -it: stdin is /dev/null."""
    if how == "closed" and shutil.which("sh") is None:
        pytest.skip("no sh to close stdin with")
    done = _chat_with_stdin(subprocess.DEVNULL, close_stdin=how == "closed")
    err = done.stderr.decode()
    assert done.returncode == 2, err
    assert len(err.splitlines()) == 1 and "docker run -it" in err and "no input" in err
    assert done.stdout == b"", "nothing is greeted (or stored) without input"


def test_an_empty_pipe_or_file_still_greets_then_ends(tmp_path: Path) -> None:
    done = _chat_with_stdin(None, data=b"")
    assert done.returncode == 0 and "Welcome to the test menu." in done.stdout.decode()
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    with empty.open("rb") as lines:
        done = _chat_with_stdin(lines)
    assert done.returncode == 0 and "Welcome to the test menu." in done.stdout.decode()
    assert b"Traceback" not in done.stderr


def test_input_missing_tells_dev_null_from_real_input(tmp_path: Path) -> None:
    assert input_missing(None)
    with open(os.devnull) as null:
        assert input_missing(null)
    empty = tmp_path / "e.txt"
    empty.write_text("")
    with empty.open() as file:
        assert not input_missing(file)
    read, write = os.pipe()
    with os.fdopen(read) as pipe:
        assert not input_missing(pipe)
        os.close(write)
    assert not input_missing(io.StringIO(""))


# -- SIGTERM (docker stop) ----------------------------------------------------------------------


def _stopped_by_sigterm(command: list[str], store: Path, pid: object = None) -> None:
    """Start the chat with a pipe that stays open, answer once, SIGTERM it: it ends at once
    with 143, no traceback, and what was answered is saved (the store was closed cleanly)."""
    env = {**os.environ, "COACH_FLOWS_DIR": str(CORE_FLOWS), "COACH_STORE": str(store)}
    proc = subprocess.Popen(command, cwd=REPO, env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert "Welcome to the test menu." in _read_reply(proc, timeout=30)
        assert "What is your name?" in _send(proc, "1")
        target = pid(proc) if callable(pid) else proc.pid
        os.kill(target, signal.SIGTERM)
        assert proc.wait(timeout=30) == 143  # a safety net: it ends as soon as it reads
        err = proc.stderr.read().decode()  # type: ignore[union-attr]
        assert "Traceback" not in err, err
    finally:
        proc.kill()
        proc.wait()
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            stream.close()  # type: ignore[union-attr]
    again = subprocess.run([sys.executable, "-m", "bot", "chat", "--user", "pat"],
                           input=b"", capture_output=True, cwd=REPO, env=env, timeout=60)
    assert again.returncode == 0, again.stderr.decode()
    assert "What is your name?" in again.stdout.decode()


def test_sigterm_stops_the_chat_cleanly(tmp_path: Path) -> None:
    _stopped_by_sigterm([sys.executable, "-m", "bot", "chat", "--user", "pat"],
                        tmp_path / "term.db")


def _only_child(proc: subprocess.Popen) -> int:
    children = [int(stat.split()[0]) for stat in _proc_stats()
                if int(stat.rsplit(")", 1)[1].split()[1]) == proc.pid]
    assert len(children) == 1, children
    return children[0]


def _proc_stats() -> list[str]:
    stats = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stats.append((entry / "stat").read_text())
            except OSError:
                continue  # it ended meanwhile
    return stats


def test_sigterm_stops_the_chat_as_pid_1(tmp_path: Path) -> None:
    """As PID 1 (a container's first process) SIGTERM does nothing unless handled."""
    unshare = shutil.which("unshare")
    if unshare is None or subprocess.run([unshare, "--pid", "--fork", "true"],
                                         capture_output=True, timeout=30).returncode != 0:
        pytest.skip("cannot start a process as PID 1 here (unshare --pid)")
    _stopped_by_sigterm([unshare, "--pid", "--fork", "--kill-child", sys.executable, "-m",
                         "bot", "chat", "--user", "pat"], tmp_path / "pid1.db", _only_child)


async def test_a_due_checkin_prints_between_prompts_and_a_number_answers_it() -> None:
    """The console's own loop (one pass driven here, on a simulated clock): the check-in is
    printed on a line of its own with the prompt again; its buttons are the numbers now."""
    from bot.app import load_flows
    from bot.store.memory import MemoryStore
    from tests.checkin_steps import Clock, london, talk_checkin
    from tests.conftest import Chat

    clock = Clock()
    coach = Coach(load_flows(), MemoryStore(), clock=clock)
    await talk_checkin(Chat(coach, "me", platform="console"))
    await talk_checkin(Chat(coach, "someone else", platform="console"))
    out = io.StringIO()
    console = ConsoleChat(coach, "me", out)
    await console.answer("/resume")
    clock.now = london(11, 18)
    assert await console.checkins.tick() == 1, "only this person's check-in"
    printed = out.getvalue().rsplit("> ", 2)[-2]
    assert "How did it go?" in printed and "[1] It went well" in printed
    await console.answer("1")
    assert "I'm glad" in out.getvalue().rsplit("> ", 2)[-2]
    listed = await console.answer("/checkins")
    assert "No check-ins are set" in listed.text


def test_lang_speaks_spanish_from_the_first_line(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """`coach chat --lang es`: Spanish from the greeting on, and kept for the next start; a
    language that is not shipped is refused before anything starts."""
    store = str(tmp_path / "l.db")
    env = {**os.environ, "COACH_FLOWS_DIR": str(REPO / "flows")}
    done = subprocess.run(
        [sys.executable, "-m", "bot", "--store", store, "chat", "--user", "x", "--lang", "es"],
        input="sí\n", capture_output=True, text=True, cwd=REPO, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "A partir de ahora te hablo en español" in done.stdout
    assert "  [1] Sí, tengo 18 años o más" in done.stdout
    assert "¿Cuál de estas opciones va contigo hoy?" in done.stdout
    again = subprocess.run(
        [sys.executable, "-m", "bot", "--store", store, "chat", "--user", "x"],
        input="", capture_output=True, text=True, cwd=REPO, env=env, timeout=60)
    assert "Qué bueno que volviste." in again.stdout
    assert cli.main(["--store", store, "chat", "--lang", "fr"]) == 2
    assert "en, es" in capsys.readouterr().err
