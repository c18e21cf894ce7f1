"""Keep bot tokens (and other secrets) out of every log line and traceback.

Why two layers: `RedactingFilter` cleans each record once, before any handler formats it,
so every handler (files, stderr, pytest's capture) sees the same clean text, traceback
included. `RedactingFormatter` wraps each handler's formatter as a safety net for text that
only appears while formatting. Patterns: ``bot<digits>:<secret>`` (how tokens sit in Bot API
URLs), bare Telegram-shaped tokens, and every literal secret registered, plain and
URL-encoded. Adapters register their own secret: the Discord adapter passes its token.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
import traceback
from collections.abc import Iterable
from types import TracebackType
from urllib.parse import quote

MASK = "<redacted>"
TOKEN_PATTERNS = (
    re.compile(r"(?<=bot)\d+:[A-Za-z0-9_-]+"),  # .../bot123:AAE.../sendMessage
    re.compile(r"\b\d{5,}:[A-Za-z0-9_-]{30,}"),  # a bare Telegram token
)
MIN_SECRET = 6  # shorter strings would blank out ordinary words


class Redactor:
    """Replaces known secrets and token-shaped strings with a mask."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: list[str] = []
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str | None) -> None:
        if not secret or len(secret) < MIN_SECRET:
            return
        for form in (secret, quote(secret, safe="")):
            if form not in self._secrets:
                self._secrets.append(form)
        self._secrets.sort(key=len, reverse=True)  # longest first: no half-masked leftovers

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        for pattern in TOKEN_PATTERNS:
            text = pattern.sub(MASK, text)
        return text


class RedactingFilter(logging.Filter):
    """Renders the message and traceback once, redacted, so no handler sees the raw text."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not take the program down
            message = f"{record.msg!r} (unformattable arguments)"
        record.msg, record.args = self.redactor(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redactor(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redactor(record.stack_info)
        return True


class RedactingFormatter(logging.Formatter):
    """Wraps a handler's formatter and redacts its finished output."""

    def __init__(self, inner: logging.Formatter | None, redactor: Redactor) -> None:
        super().__init__()
        self.inner = inner or logging.Formatter()
        self.redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        return self.redactor(self.inner.format(record))


_REDACTOR = Redactor()
_LOCK = threading.Lock()


def redact(text: str) -> str:
    """Redact with every secret registered so far (for text printed outside logging)."""
    return _REDACTOR(text)


def install_redaction(*secrets: str | None) -> Redactor:
    """Register `secrets` and guard the root logger's handlers and uncaught exceptions.

    Idempotent: call it again (another adapter, another secret) and the same filter and
    formatter gain the new secret. Call it after logging is configured.
    """
    with _LOCK:
        for secret in secrets:
            _REDACTOR.add(secret)
        handlers = [*logging.getLogger().handlers]
        if logging.lastResort is not None:
            handlers.append(logging.lastResort)
        for handler in handlers:
            guard_handler(handler)
        if not getattr(sys.excepthook, "redacting", False):
            sys.excepthook = _redacting_excepthook
    return _REDACTOR


def guard_handler(handler: logging.Handler, redactor: Redactor | None = None) -> None:
    """Give one handler the filter and the formatter safety net (once)."""
    redactor = redactor or _REDACTOR
    if not any(isinstance(f, RedactingFilter) for f in handler.filters):
        handler.addFilter(RedactingFilter(redactor))
    if not isinstance(handler.formatter, RedactingFormatter):
        handler.setFormatter(RedactingFormatter(handler.formatter, redactor))


def _redacting_excepthook(
    kind: type[BaseException], error: BaseException, tb: TracebackType | None
) -> None:
    text = "".join(traceback.format_exception(kind, error, tb))
    sys.stderr.write(_REDACTOR(text))


_redacting_excepthook.redacting = True  # type: ignore[attr-defined]
