"""Logs a person can read: the coach's own lines at INFO without the libraries' noise, and
COACH_LOG_FORMAT=json for log pipelines, still without tokens or anything a person typed."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from bot.logs import (
    LIBRARY_LOGGERS,
    TOKEN_LOGGERS,
    JsonFormatter,
    configure,
    formatter,
    message_fields,
    parse_level,
    quiet_libraries,
)
from tests.conftest import CORE_FLOWS, REPO

TOKEN = "123456789:AAFakeTokenFakeTokenFakeTokenFakeToken"
TYPED = "my-partner-secret-7f3a"


def _chat(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("COACH_")}
    return subprocess.run(
        [sys.executable, "-m", "bot", "--store", "memory", *args, "chat"],
        input=f"1\n{TYPED}\n", capture_output=True, text=True, cwd=REPO, timeout=60,
        env={**environment, "COACH_FLOWS_DIR": str(CORE_FLOWS), **env}, check=True)


def test_info_shows_the_coach_not_the_state_machine() -> None:
    done = _chat("--log-level", "INFO")
    assert "INFO coach.core event=text user=console:" in done.stderr
    assert "Executed callback" not in done.stderr and "transitions" not in done.stderr
    assert TYPED not in done.stderr
    debug = _chat("--log-level", "DEBUG")  # asked for everything: the library speaks too
    assert "Executed callback" in debug.stderr and TYPED not in debug.stderr


def test_json_logs_are_one_object_a_line() -> None:
    done = _chat("--log-level", "INFO", COACH_LOG_FORMAT="json")
    lines = done.stderr.splitlines()
    assert lines, "INFO logs something"
    records = [json.loads(line) for line in lines]
    for record in records:
        assert {"time", "level", "logger", "message"} <= set(record), record
        assert record["time"].endswith("+00:00")
    texts = [r for r in records if r.get("event") == "text"]
    assert texts and all(r["message"].startswith("event=text ") for r in texts)
    assert texts[0]["logger"] == "coach.core" and texts[0]["level"] == "INFO"
    assert (texts[0]["flow"], texts[0]["state"]) == ("menu", "pick")
    assert "Executed callback" not in done.stderr and TYPED not in done.stderr


REDACTED_JSON = f"""
import logging, sys
from adapters.redact import install_redaction
from bot.logs import configure
configure(logging.INFO, "json")
install_redaction("discord-secret-token")
log = logging.getLogger("coach.test")
log.warning("event=upstream url=https://api.telegram.org/bot{TOKEN}/getMe")
log.warning("event=odd token=discord-secret-token")
try:
    raise RuntimeError("failed with {TOKEN}")
except RuntimeError:
    log.exception("event=failed")
"""


def test_json_logs_are_redacted() -> None:
    """adapters/redact.py guards whichever formatter the command line installed."""
    done = subprocess.run([sys.executable, "-c", REDACTED_JSON], capture_output=True,
                          text=True, cwd=REPO, timeout=60, check=True)
    records = [json.loads(line) for line in done.stderr.splitlines()]
    assert [r["event"] for r in records] == ["upstream", "odd", "failed"]
    assert records[0]["url"] == "https://api.telegram.org/bot<redacted>/getMe"
    assert records[1]["token"] == "<redacted>"
    assert "RuntimeError: failed with <redacted>" in records[2]["exception"]
    assert TOKEN not in done.stderr and TOKEN.split(":")[1] not in done.stderr
    assert "discord-secret-token" not in done.stderr


def test_message_fields() -> None:
    assert message_fields("event=answer user=console:me step=name") == {
        "event": "answer", "user": "console:me", "step": "name"}
    assert message_fields("event=store_unavailable reason=database is locked user=x") == {
        "event": "store_unavailable", "reason": "database is locked", "user": "x"}
    assert message_fields("event=x query=a=b") == {"event": "x", "query": "a=b"}
    assert message_fields("Shard ID None has connected to Gateway") == {}
    assert message_fields("") == {}


def test_a_record_as_json() -> None:
    record = logging.LogRecord("coach.console", logging.WARNING, __file__, 1,
                               "event=%s level=%s message=%s", ("busy", "loud", "x"), None)
    entry = json.loads(JsonFormatter().format(record))
    assert entry["level"] == "WARNING" and entry["logger"] == "coach.console"
    assert entry["message"] == "event=busy level=loud message=x"
    assert entry["event"] == "busy"  # the record's own fields are never overwritten
    assert "\n" not in JsonFormatter().format(record)


def test_formats_and_levels_are_checked() -> None:
    assert isinstance(formatter("json"), JsonFormatter)
    assert not isinstance(formatter("text"), JsonFormatter)
    with pytest.raises(ValueError, match="must be text or json, not 'xml'"):
        formatter("xml")
    assert parse_level("info") == logging.INFO
    with pytest.raises(ValueError, match="unknown level 'loud'"):
        parse_level("loud")


@pytest.fixture
def library_levels() -> Iterator[None]:
    names = (*LIBRARY_LOGGERS, *TOKEN_LOGGERS)
    saved = {name: logging.getLogger(name).level for name in names}
    yield
    for name, level in saved.items():
        logging.getLogger(name).setLevel(level)


@pytest.mark.usefixtures("library_levels")
def test_libraries_stay_at_warning_unless_debug_is_asked_for() -> None:
    quiet_libraries(logging.INFO)
    assert {logging.getLogger(n).level for n in LIBRARY_LOGGERS} == {logging.WARNING}
    quiet_libraries(logging.ERROR)
    assert logging.getLogger("transitions").level == logging.ERROR
    quiet_libraries(logging.DEBUG)
    assert logging.getLogger("transitions").level == logging.DEBUG
    assert {logging.getLogger(n).level for n in TOKEN_LOGGERS} == {logging.WARNING}


def test_logging_set_up_by_someone_else_is_left_alone() -> None:
    """Under pytest (or any program that configured logging) the root has handlers."""
    root = logging.getLogger()
    before = (list(root.handlers), root.level)
    assert root.handlers
    assert configure(logging.DEBUG, "json") is False
    assert (list(root.handlers), root.level) == before
