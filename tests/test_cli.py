"""The command line as people use it: options in either place, clear one-line errors, the
README's exit codes, help for every command, bytes that are not UTF-8, Ctrl-C in a real
terminal, and the benchmark's edges."""

from __future__ import annotations

import argparse
import json
import os
import pty
import re
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

import pytest

from bot import bench
from bot.cli import build_parser, main
from tests.conftest import CORE_FLOWS, REPO
from tests.process_output import WAIT, ctrl_c_as_in_a_terminal


def coach(*args: str | Path, stdin: bytes = b"", env: dict[str, str] | None = None,
          cwd: Path = REPO) -> subprocess.CompletedProcess[bytes]:
    environment = {k: v for k, v in os.environ.items()
                   if k not in ("COACH_FLOWS_DIR", "COACH_STORE")}
    return subprocess.run([sys.executable, "-m", "bot", *map(str, args)], input=stdin,
                          capture_output=True, cwd=cwd, env={**environment, **(env or {})},
                          timeout=60, check=False)


# -- the console --------------------------------------------------------------------------------


def test_bytes_that_are_not_utf8_do_not_stop_the_chat() -> None:
    done = coach("chat", "--store", "memory", "--flows", CORE_FLOWS,
                 stdin=b"\xff\xfe bad\n1\nhalf \xed\xa0\xbd\n")
    err = done.stderr.decode()
    assert done.returncode == 0, err
    assert "Traceback" not in err and "Error" not in err
    out = done.stdout.decode()
    assert "Please pick one of the options below" in out  # "\ufffd\ufffd bad" at the menu
    assert "What is your name?" in out and "Hello" in out


def test_the_chat_reads_a_file_on_stdin(tmp_path: Path) -> None:
    script = tmp_path / "lines.txt"
    script.write_bytes(b"1\nSam\n\xff\n")
    with script.open("rb") as lines:
        done = subprocess.run([sys.executable, "-m", "bot", "chat", "--store", "memory"],
                              stdin=lines, capture_output=True, cwd=REPO, timeout=60,
                              env={**os.environ, "COACH_FLOWS_DIR": str(CORE_FLOWS)})
    assert done.returncode == 0, done.stderr.decode()
    assert "Hello Sam. Favourite colour?" in done.stdout.decode()


def _read_until(fd: int, wanted: bytes, timeout: float = 20) -> bytes:
    data = b""
    deadline = time.monotonic() + timeout
    while wanted not in data:
        assert time.monotonic() < deadline, data
        data += os.read(fd, 4096)
    return data


def test_ctrl_c_in_a_terminal_stops_at_once_with_everything_saved(tmp_path: Path) -> None:
    store = tmp_path / "t.db"
    env = {**os.environ, "COACH_FLOWS_DIR": str(CORE_FLOWS), "COACH_STORE": str(store)}
    master, terminal = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "bot", "chat", "--user", "pat"], cwd=REPO,
                            env=env, stdin=terminal, stdout=terminal, stderr=terminal,
                            start_new_session=True, preexec_fn=ctrl_c_as_in_a_terminal)
    os.close(terminal)
    try:
        _read_until(master, b"[2] Hurt role")
        os.write(master, b"1\n")
        _read_until(master, b"What is your name?")
        os.write(master, b"Sam\n")
        _read_until(master, b"Favourite colour?")
        time.sleep(0.2)  # waiting in the read, not between lines
        proc.send_signal(signal.SIGINT)
        # at once: with nothing more typed (WAIT is a safety net against a hang, not a measure)
        assert proc.wait(timeout=WAIT) == 130
        try:
            rest = os.read(master, 65536).decode(errors="replace")
        except OSError:
            rest = ""
        assert "Traceback" not in rest and "never retrieved" not in rest
    finally:
        proc.kill()
        os.close(master)
    again = coach("chat", "--user", "pat", stdin=b"/resume\n",
                  env={"COACH_FLOWS_DIR": str(CORE_FLOWS), "COACH_STORE": str(store)})
    assert again.returncode == 0, again.stderr.decode()
    assert again.stdout.decode().count("Hello Sam. Favourite colour?") == 2


# -- options before or after the command ---------------------------------------------------------


def test_global_options_work_after_the_command(tmp_path: Path) -> None:
    done = coach("chat", "--store", "memory", "--flows", CORE_FLOWS, "--log-level", "info",
                 "--user", "x", stdin=b"1\n", cwd=tmp_path)
    assert done.returncode == 0, done.stderr.decode()
    assert "What is your name?" in done.stdout.decode()
    assert "event=" in done.stderr.decode(), "--log-level after the command counts"
    assert list(tmp_path.iterdir()) == [], "--store memory after the command counts"
    first = coach("--store", "memory", "chat", "--flows", CORE_FLOWS, stdin=b"1\n")
    assert "What is your name?" in first.stdout.decode()


def test_an_unknown_log_level_is_a_usage_error() -> None:
    done = coach("--log-level", "loud", "flows", "check")
    assert done.returncode == 2 and b"unknown level 'loud'" in done.stderr
    assert b"Traceback" not in done.stderr


def test_an_unknown_coach_log_level_names_the_variable_and_the_option_wins() -> None:
    done = coach("flows", "check", env={"COACH_LOG_LEVEL": "loud"})
    assert done.returncode == 64, done.stderr.decode()
    assert done.stderr.decode().strip() == (
        "coach: COACH_LOG_LEVEL: unknown level 'loud' (DEBUG, INFO, WARNING, ERROR or CRITICAL)")
    chosen = coach("flows", "check", "--log-level", "error", env={"COACH_LOG_LEVEL": "loud"})
    assert chosen.returncode == 0, chosen.stderr.decode()


def test_flows_test_uses_the_flows_given_to_coach(tmp_path: Path) -> None:
    transcript = tmp_path / "t.yaml"
    transcript.write_text("name: test-menu\nturns:\n  - send: /start\n"
                          "    expect: Welcome to the test menu.\n", encoding="utf-8")
    for args in (("--flows", CORE_FLOWS, "flows", "test", transcript),
                 ("flows", "test", "--flows", CORE_FLOWS, transcript),
                 ("flows", "test", transcript, "--store", "memory", "--flows", CORE_FLOWS)):
        done = coach(*args)
        assert done.returncode == 0, done.stdout.decode() + done.stderr.decode()
        assert done.stdout.decode().splitlines() == ["PASS test-menu", "1 passed, 0 failed"]


def test_flows_test_needs_the_transcripts_given() -> None:
    """The shipped transcripts are test data: `coach flows test` never looks for them."""
    done = coach("flows", "test")
    assert done.returncode == 2
    assert done.stdout.decode().splitlines() == [
        "coach flows test: give the transcript files or folders to run "
        "(coach flows test PATH...)"]


def test_version_is_the_installed_one() -> None:
    expected = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    for args in (("--version",), ("--version", "chat"), ("--store", "memory", "--version")):
        done = coach(*args)
        assert (done.returncode, done.stdout.decode(), done.stderr) == (
            0, f"coach {expected}\n", b""), args
    assert expected == "0.1.0"


# -- a store that cannot be opened ---------------------------------------------------------------


@pytest.mark.parametrize("case", ["missing_parent", "directory", "not_a_database"])
def test_a_bad_store_path_is_one_clear_line(case: str, tmp_path: Path) -> None:
    if case == "missing_parent":
        path, reason = Path("/proc/nope/x.db"), "No such file or directory"
    elif case == "directory":
        path, reason = tmp_path, "it is a directory"
    else:
        path, reason = tmp_path / "notes.txt", "is not an SQLite database"
        path.write_text("my notes\n")
    for args in (("--store", path, "chat"), ("chat", "--store", path), ("keys", "rotate",
                                                                       "--store", path)):
        done = coach(*args, env={"COACH_FLOWS_DIR": str(CORE_FLOWS)})
        err = done.stderr.decode()
        assert done.returncode == 74, err
        assert err.splitlines() == [f"coach: cannot open the store at {path}: "
                                    f"{err.split(': ', 2)[-1].strip()}"]
        expected = ("there is no store there" if case == "missing_parent" and "keys" in args
                    else reason)
        assert expected in err and "Traceback" not in err
    assert not list(tmp_path.glob("*.key")), "no key file is left beside a bad path"


# -- the benchmark --------------------------------------------------------------------------------


def test_the_telegram_bench_is_a_checkout_tool() -> None:
    """Its fake Bot API server is test code, so `coach` only says where the bench is."""
    done = coach("bench", "--telegram")
    assert done.returncode == 2 and done.stdout == b""
    assert done.stderr.decode().splitlines() == [
        "coach: the Telegram bench runs from a checkout (its fake Bot API server is test "
        "code): .venv/bin/python tools/telegram_bench.py --help"]


@pytest.mark.parametrize("args", [("--users", "0"), ("--messages", "0"), ("--users", "-3"),
                                  ("--users", "many"), ("--preload", "-1")])
def test_bench_rejects_counts_that_make_no_sense(args: tuple[str, str]) -> None:
    done = coach("bench", *args)
    err = done.stderr.decode()
    assert done.returncode == 2 and f"argument {args[0]}:" in err, err
    assert "Traceback" not in err


def test_bench_with_more_people_than_messages(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[Path] = []
    real = tempfile.mkdtemp

    def spy(*args: object, **kwargs: object) -> str:
        path = real(*args, **kwargs)  # type: ignore[call-overload]
        made.append(Path(path))
        return path

    monkeypatch.setattr(bench.tempfile, "mkdtemp", spy)
    result = bench.run_bench(store="memory", users=1000, messages=500)
    assert result.messages == 500 and result.users == 500
    assert result.p50_ms > 0 and result.p99_ms >= result.p50_ms
    assert [p.parent for p in made] == [Path(tempfile.gettempdir())]
    assert not made[0].exists()


def test_messages_are_shared_out_evenly() -> None:
    assert bench.shares(10, 3) == [4, 3, 3]
    assert bench.shares(2, 5) == [1, 1]
    assert sum(bench.shares(20000, 200)) == 20000
    assert bench.percentile([1.0], 0.99) == 1.0
    assert bench.percentile([float(n) for n in range(1, 101)], 0.99) == 99.0


def test_bench_reports_a_paced_run_beside_the_saturated_one(
        capsys: pytest.CaptureFixture[str]) -> None:
    """Latency is measured at a steady offered rate below saturation (the saturated run's
    latency is queueing); both are reported, with the JSON keys the issue asks for."""
    assert main(["bench", "--users", "20", "--messages", "400", "--rate", "500",
                 "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    for key in ("messages_per_s", "p50_ms", "p99_ms", "peak_rss_mb", "bare_transitions_per_s",
                "durable_commit_per_s", "offered_rate", "saturated_p99_ms"):
        assert result[key] > 0, key
    assert result["offered_rate"] == 500.0 and result["store"] == "memory"
    with pytest.raises(ValueError):
        bench.run_bench(store="memory", users=20, messages=400, rate=0)


def test_a_rate_of_zero_is_a_usage_error() -> None:
    done = coach("bench", "--rate", "0")
    assert done.returncode == 2 and b"argument --rate: must be above 0" in done.stderr
    assert b"Traceback" not in done.stderr


# -- bench --store is a store URL, as for every command --------------------------------------


def test_bench_on_an_sqlite_file_leaves_nothing_behind(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    database = tmp_path / "bench.db"
    for where in (f"sqlite:///{database}", str(database)):
        assert main(["--store", where, "bench", "--users", "5", "--messages", "50",
                     "--preload", "20"]) == 0
        out = capsys.readouterr().out
        assert out.startswith("store=sqlite users=5 messages=50 in ")
        assert "  sessions:  30 stored;" in out  # 20 preloaded, 5 people in each run
        assert list(tmp_path.iterdir()) == [], "database, key file and floor are removed"


def test_bench_never_writes_into_a_store_in_use(tmp_path: Path) -> None:
    database = tmp_path / "coach.db"
    database.write_bytes(b"")
    key = tmp_path / "coach.db.key"
    key.write_text("kept\n")
    for args in (("bench", "--store", database), ("--store", database, "bench")):
        done = coach(*args, "--users", "1", "--messages", "1")
        assert done.returncode == 74
        assert done.stderr.decode().splitlines() == [
            f"coach: cannot use the store at {database} for the bench: the file exists; name "
            "a new one (the bench fills it with sessions, then removes it)"]
    assert database.read_bytes() == b"" and key.read_text() == "kept\n"


def test_bench_ignores_coach_store_and_refuses_other_schemes(tmp_path: Path) -> None:
    """$COACH_STORE names the sessions in use: the bench's default is memory."""
    done = coach("bench", "--users", "2", "--messages", "20", "--json",
                 env={"COACH_STORE": str(tmp_path / "real.db")})
    assert done.returncode == 0, done.stderr.decode()
    assert json.loads(done.stdout)["store"] == "memory" and list(tmp_path.iterdir()) == []
    done = coach("bench", "--store", "redis://localhost")
    assert done.returncode == 74
    assert done.stderr.decode().startswith("coach: the bench measures memory, an SQLite file or "
                                           "PostgreSQL")


# -- exit codes, as the README lists them -------------------------------------------------------


@pytest.mark.parametrize("args", [("--store", "foo://x", "chat"), ("chat", "--store", "foo://x"),
                                  ("keys", "rotate", "--store", "foo://x"),
                                  ("--store", "sqlite://", "chat")])
def test_a_store_url_that_names_no_store_is_74(args: tuple[str, ...]) -> None:
    """A store that cannot be opened, as the README says (it used to be 64)."""
    done = coach(*args, stdin=b"1\n", env={"COACH_FLOWS_DIR": str(CORE_FLOWS)})
    err = done.stderr.decode()
    assert done.returncode == 74, err
    [line] = err.splitlines()
    assert line in ("coach: unknown store 'foo': use memory, sqlite:///path.db, "
                    "postgresql://user@host:port/db or a path",
                    "coach: sqlite:// names no file: write sqlite:///path.db")


def _bot(command: str, **env: str) -> subprocess.CompletedProcess[bytes]:
    clean = {k: "" for k in os.environ if k.startswith(("TELEGRAM_", "DISCORD_"))}
    return coach(command, env={**clean, **env, "COACH_STORE": "memory"})


@pytest.mark.parametrize(("env", "code", "says"), [
    ({}, 2, "TELEGRAM_BOT_TOKEN is not set"),
    ({"TELEGRAM_BOT_TOKEN": "not a token"}, 64, "TELEGRAM_BOT_TOKEN does not look like"),
    ({"TELEGRAM_BOT_TOKEN": "123:abc", "TELEGRAM_WEBHOOK_SECRET": "no spaces please"}, 64,
     "TELEGRAM_WEBHOOK_SECRET may use only"),
])
def test_telegram_settings_that_cannot_work_are_64(env: dict[str, str], code: int,
                                                     says: str) -> None:
    """A missing token is a usage error (2); a setting given that cannot work is 64. Nothing
    is started, and the line names the setting, never its value."""
    done = _bot("telegram", **env)
    err = done.stderr.decode()
    assert done.returncode == code, err
    [line] = err.splitlines()
    assert line.startswith(f"coach: {says}")
    assert all(value not in err for value in env.values())


def test_a_webhook_url_that_is_not_a_url_is_a_usage_error() -> None:
    done = coach("telegram", "--webhook-url", "bot.example.org", env={
        "TELEGRAM_BOT_TOKEN": "123:abc"})
    assert done.returncode == 2
    assert done.stderr.decode().splitlines()[-1] == (
        "coach telegram: error: argument --webhook-url: must be a full URL, e.g. "
        "https://bot.example.org/tg")


@pytest.mark.parametrize(("env", "code", "says"), [
    ({}, 2, "DISCORD_BOT_TOKEN is not set"),
    ({"DISCORD_BOT_TOKEN": "two words"}, 64, "DISCORD_BOT_TOKEN contains spaces"),
    ({"DISCORD_BOT_TOKEN": "123456:telegram-style"}, 64,
     "DISCORD_BOT_TOKEN does not look like a bot token"),
    ({"DISCORD_BOT_TOKEN": "abc.def.ghi", "DISCORD_SHARDS": "many"}, 64,
     "DISCORD_SHARDS must be auto or a number"),
])
def test_discord_settings_that_cannot_work_are_64(env: dict[str, str], code: int,
                                                    says: str) -> None:
    done = _bot("discord", **env)
    err = done.stderr.decode()
    assert done.returncode == code, err
    [line] = err.splitlines()
    assert line.startswith(f"coach: {says}")


def test_an_unknown_log_format_is_a_setting_that_cannot_work() -> None:
    done = coach("flows", "check", env={"COACH_LOG_FORMAT": "xml"})
    assert done.returncode == 64
    assert done.stderr.decode().splitlines() == [
        "coach: COACH_LOG_FORMAT must be text or json, not 'xml'"]


def test_library_code_never_exits() -> None:
    """Only bot/cli/ decides exit codes: nothing else raises SystemExit or calls exit()."""
    exits = re.compile(r"\bSystemExit\b|\bsys\.exit\(|\bos\._exit\(|(?<![\w.])(?:exit|quit)\(")
    offenders = []
    for path in sorted([*REPO.glob("bot/**/*.py"), *REPO.glob("adapters/**/*.py")]):
        if path.parent == REPO / "bot" / "cli" or path == REPO / "bot" / "__main__.py":
            continue
        offenders += [f"{path.relative_to(REPO)}: {m.group()}"
                      for m in exits.finditer(path.read_text(encoding="utf-8"))]
    assert offenders == []


# -- one tree, one help format ------------------------------------------------------------------


def _commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
              ) -> list[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    found = [(path, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                found += _commands(child, (*path, name))
    return found


COMMANDS = [path for path, _ in _commands(build_parser())]


def test_the_tree_has_every_command() -> None:
    assert COMMANDS == [(), ("chat",), ("telegram",), ("discord",), ("flows",),
                        ("flows", "check"), ("flows", "test"), ("flows", "graph"),
                        ("flows", "messages"), ("flows", "messages", "extract"),
                        ("flows", "messages", "update"), ("feedback",), ("screen",),
                        ("keys",), ("keys", "new"), ("keys", "rotate"), ("store",),
                        ("store", "migrate"), ("store", "copy"), ("bench",)]


@pytest.mark.parametrize("path", COMMANDS, ids=lambda path: " ".join(("coach", *path)))
def test_every_command_has_help(path: tuple[str, ...],
                                capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*path, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: {' '.join(('coach', *path))} ")
    takes_two_stores = path == ("store", "copy")  # SRC and DST, not --store
    for option in ("--flows", "--log-level", *(() if takes_two_stores else ("--store",))):
        assert option in out, option
    parser = dict(_commands(build_parser()))[path]
    unexplained = [action.dest for action in parser._actions if not action.help]
    assert unexplained == [], "every option and argument says what it is for"


def test_global_options_reach_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    """Before or after the command's name, or between a command and its subcommand."""
    for argv in (["--log-level", "loud", "keys", "new"], ["keys", "--log-level", "loud", "new"],
                 ["keys", "new", "--log-level", "loud"], ["screen", "--log-level", "loud"]):
        assert main(argv) == 2, argv
        assert "unknown level 'loud'" in capsys.readouterr().err


def test_screen_and_feedback_judge_with_the_rules_of_the_flows_asked_for(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`--flows DIR` changes the rules `coach screen` and `coach feedback` use, as it changes
    what the chat runs; a broken rule file there is one line, exit 2."""
    import shutil

    from bot.cli import main

    flows = tmp_path / "flows"
    shutil.copytree(REPO / "flows", flows)
    rules = flows / "safety" / "screen_rules.yaml"
    text = rules.read_text(encoding="utf-8")
    rules.write_text(text[:text.index("\nrules:")] + "\nrules: []"
                     + text[text.index("\nsignals:"):], encoding="utf-8")
    assert main(["screen", "--json", "he hit me"]) == 0
    shipped = json.loads(capsys.readouterr().out)
    assert main(["--flows", str(flows), "screen", "--json", "he hit me"]) == 0
    edited = json.loads(capsys.readouterr().out)
    assert shipped["risk"] == "risk" and edited["rule"] != shipped["rule"]
    (flows / "coach" / "feedback_rules.yaml").write_text("kinds: [\n", encoding="utf-8")
    assert main(["--flows", str(flows), "feedback", "you never listen"]) == 2
    assert "feedback_rules.yaml" in capsys.readouterr().err


def test_flows_check_takes_the_files_kept_beside_the_flows(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Core messages, help lines, coaching texts and rule files are checked as what they are
    (in their flows folder), not as flows; only their own problems are reported."""
    import shutil

    flows = tmp_path / "flows"
    shutil.copytree(REPO / "flows", flows)
    for relative in ("core/messages.yaml", "safety/screen_rules.yaml", "coach/coaching.yaml",
                     "safety/resources.yaml", "coach/feedback_rules.yaml"):
        assert main(["flows", "check", str(flows / relative)]) == 0, relative
        assert capsys.readouterr().out.startswith("ok: ")
    (flows / "coach" / "feedback_rules.yaml").write_text("kinds: [\n", encoding="utf-8")
    assert main(["flows", "check", str(flows / "core" / "messages.yaml")]) == 0
    capsys.readouterr()
    assert main(["flows", "check", str(flows / "coach" / "feedback_rules.yaml")]) == 2
    err = capsys.readouterr().err
    assert "feedback_rules.yaml" in err and "messages.yaml" not in err
