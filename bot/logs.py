"""Log lines a person can read, or one JSON object per line for log pipelines.

At INFO a person should see the coach's own `event=...` lines, not three lines per message
from the state-machine library: libraries speak at WARNING unless --log-level is DEBUG.
COACH_LOG_FORMAT=json writes each record as JSON (time, level, logger, message, and the
`key=value` pairs of our messages as fields). Messages never carry user text; redaction of
tokens (adapters/redact.py) wraps whichever formatter is installed here.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import TextIO

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
FORMATS = ("text", "json")
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# Libraries whose INFO lines are noise to an operator (transitions: three per message).
LIBRARY_LOGGERS = ("transitions", "asyncio", "aiohttp", "httpx", "httpcore", "telegram",
                   "discord")
# Loggers that print URLs with the bot token in them: never below WARNING.
TOKEN_LOGGERS = ("httpx", "httpcore")
RESERVED = frozenset({"time", "level", "logger", "message", "exception", "stack"})
_PAIR = re.compile(r"([A-Za-z_]\w*)=(.*)")


def parse_level(text: str) -> int:
    """A level name (any case) as logging's number; ValueError names the choices."""
    level = logging.getLevelName(text.strip().upper())
    if not isinstance(level, int):
        raise ValueError(f"unknown level '{text}' ({', '.join(LEVELS[:-1])} or {LEVELS[-1]})")
    return level


def message_fields(message: str) -> dict[str, str]:
    """`event=answer user=console:me reason=database is locked` as fields. Only a message
    that starts with a key=value pair is read; a word without `=` belongs to the value
    before it, so a reason of several words stays whole."""
    fields: dict[str, str] = {}
    key = None
    for word in message.split():
        pair = _PAIR.fullmatch(word)
        if pair:
            key = pair.group(1)
            fields[key] = pair.group(2)
        elif key is None:
            return {}
        else:
            fields[key] += " " + word
    return fields


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (tracebacks included, as a field)."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        entry: dict[str, str] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": message,
        }
        for key, value in message_fields(message).items():
            if key not in RESERVED:
                entry[key] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=True)


def formatter(fmt: str) -> logging.Formatter:
    """The formatter for COACH_LOG_FORMAT: `text` (the default) or `json`."""
    if fmt == "json":
        return JsonFormatter()
    if fmt == "text":
        return logging.Formatter(TEXT_FORMAT)
    raise ValueError(f"COACH_LOG_FORMAT must be {' or '.join(FORMATS)}, not '{fmt}'")


def quiet_libraries(level: int) -> None:
    """Libraries at WARNING unless DEBUG was asked for; token-printing ones always."""
    library = level if level <= logging.DEBUG else max(logging.WARNING, level)
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(library)
    for name in TOKEN_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, level))


def configure(level: int, fmt: str = "text", stream: TextIO | None = None) -> bool:
    """Send every record to `stream` (stderr) in `fmt`; False, changing nothing, when the
    root logger has handlers already (a program or a test harness that set logging up)."""
    chosen = formatter(fmt)
    root = logging.getLogger()
    if root.handlers:
        return False
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(chosen)
    root.addHandler(handler)
    root.setLevel(level)
    quiet_libraries(level)
    logging.captureWarnings(True)  # Python's warnings as records, in the same format
    return True
