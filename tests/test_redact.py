"""Tokens never reach a log line or a traceback: adapters/redact.py and the log caps."""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Iterator

import pytest
from telegram.error import NetworkError
from telegram.ext import ApplicationBuilder

from adapters.redact import (
    MASK,
    RedactingFilter,
    RedactingFormatter,
    Redactor,
    guard_handler,
    install_redaction,
)
from adapters.telegram import quiet_library_logs
from adapters.telegram.bot import LIBRARY_CAPS
from bot.logs import LIBRARY_LOGGERS, quiet_libraries
from tests.fakes.telegram_api import FakeTelegramAPI

TOKEN = "123456789:AAFakeTokenForTestsOnly_abcdefghijkl"
DISCORD = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GhIjKl.abcdefghijklmnopqrstuvwxyz0123456789"


@pytest.fixture
def stream_logger() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A private logger with one guarded handler, so the root logger is left alone."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(levelname)s %(where)s %(message)s",
                                           defaults={"where": "-"}))
    guard_handler(handler, Redactor([TOKEN, DISCORD]))
    logger = logging.getLogger("test.redact")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    yield logger, out
    logger.removeHandler(handler)


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """install_redaction and quiet_library_logs change global state: put it back."""
    root = logging.getLogger()
    hook = sys.excepthook
    saved = {h: (list(h.filters), h.formatter) for h in [*root.handlers, logging.lastResort]
             if h is not None}
    levels = {name: logging.getLogger(name).level for name in (*LIBRARY_CAPS, *LIBRARY_LOGGERS)}
    root_level = root.level
    yield
    sys.excepthook = hook
    for handler, (filters, formatter) in saved.items():
        handler.filters = filters
        handler.setFormatter(formatter)
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)
    root.setLevel(root_level)


def test_the_redactor_masks_tokens_in_every_shape() -> None:
    redact = Redactor([TOKEN])
    url = f"POST https://api.telegram.org/bot{TOKEN}/sendMessage"
    assert redact(url) == f"POST https://api.telegram.org/bot{MASK}/sendMessage"
    assert redact(f"token `{TOKEN}` was rejected") == f"token `{MASK}` was rejected"
    assert TOKEN not in redact(TOKEN.replace(":", "%3A"))
    other = "555000111:BBAnotherBotTokenThatWeNeverSaw_12345"  # unknown, but token-shaped
    assert redact(f"/bot{other}/getMe") == f"/bot{MASK}/getMe"
    assert redact(f"raw {other}") == f"raw {MASK}"
    assert redact("at 12:30 on 2024-01-02, ratio 3:2") == "at 12:30 on 2024-01-02, ratio 3:2"
    assert Redactor(["abc"])("abc") == "abc"  # too short to be a secret: ignored


def test_messages_args_and_tracebacks_are_redacted(stream_logger) -> None:
    logger, out = stream_logger
    logger.info("calling %s", f"https://x/bot{TOKEN}/getMe")
    logger.info("discord said %s", DISCORD)
    try:
        raise ValueError(f"The token `{TOKEN}` was rejected by the server.")
    except ValueError:
        logger.exception("event=start_failed")
    logger.warning("event=x", extra={"where": TOKEN}, stack_info=True)  # the formatter's net
    text = out.getvalue()
    assert TOKEN not in text and DISCORD not in text
    assert "event=start_failed" in text and "Traceback" in text
    assert f"The token `{MASK}` was rejected" in text
    assert f"WARNING {MASK} event=x" in text


def test_a_bad_format_string_is_logged_not_raised(stream_logger) -> None:
    logger, out = stream_logger
    logger.info("two %s %s", "one")
    assert "unformattable" in out.getvalue()


def test_install_guards_root_handlers_once_and_takes_more_secrets(restore_logging) -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        install_redaction(TOKEN)
        install_redaction(DISCORD)  # the Discord adapter registers its own token
        assert sum(isinstance(f, RedactingFilter) for f in handler.filters) == 1
        assert isinstance(handler.formatter, RedactingFormatter)
        root.warning("tokens %s and %s", TOKEN, DISCORD)
        assert out.getvalue() == f"tokens {MASK} and {MASK}\n"
    finally:
        root.removeHandler(handler)


def test_uncaught_exceptions_are_printed_redacted(restore_logging, capsys) -> None:
    install_redaction(TOKEN)
    try:
        raise RuntimeError(f"boom bot{TOKEN}")
    except RuntimeError as error:
        sys.excepthook(type(error), error, error.__traceback__)
    err = capsys.readouterr().err
    assert "RuntimeError: boom" in err and TOKEN not in err


def test_library_loggers_are_capped_but_never_made_louder(restore_logging) -> None:
    """At DEBUG the loggers that print user text or tokens are held back; otherwise the
    level bot/logs.py gives the libraries stands (the adapter used to raise them to INFO)."""
    root = logging.getLogger()
    root.setLevel(logging.DEBUG)
    quiet_libraries(logging.DEBUG)
    quiet_library_logs()
    assert logging.getLogger("telegram.ext.ExtBot").level == logging.INFO
    assert logging.getLogger("telegram.ext.Application").level == logging.INFO
    assert logging.getLogger("httpx").level == logging.WARNING
    for name in LIBRARY_CAPS:
        logging.getLogger(name).setLevel(logging.NOTSET)
    root.setLevel(logging.INFO)
    quiet_libraries(logging.INFO)  # what `coach --log-level INFO` does
    quiet_library_logs()
    assert logging.getLogger("telegram.ext.ExtBot").getEffectiveLevel() == logging.WARNING
    for name in LIBRARY_CAPS:
        logging.getLogger(name).setLevel(logging.NOTSET)
    root.setLevel(logging.ERROR)
    quiet_libraries(logging.ERROR)
    quiet_library_logs()
    assert logging.getLogger("telegram.ext.ExtBot").level == logging.ERROR


async def test_ptb_at_debug_leaks_neither_token_nor_text(restore_logging,
                                                         caplog: pytest.LogCaptureFixture
                                                         ) -> None:
    """The characterised leaks (tests/test_fake_telegram_api.py) are closed once installed.

    Capping the library loggers alone is not enough: PTB logs, at ERROR, any answer it cannot
    parse, and a reverse proxy's error page may echo the request path with the token in it.
    Only the redaction keeps that out."""
    caplog.set_level(logging.DEBUG)
    install_redaction(TOKEN)
    quiet_library_logs()
    async with FakeTelegramAPI(TOKEN) as server:
        server.inject_raw_error("sendMessage", 502,
                                "<html><h1>502 Bad Gateway</h1>upstream: POST {path}</html>")
        app = ApplicationBuilder().token(TOKEN).base_url(server.base_url).build()
        async with app.bot as bot:
            with pytest.raises(NetworkError):
                await bot.send_message(42, "private words")
            await bot.send_message(42, "private words")
    logged = caplog.text + "\n".join(r.getMessage() for r in caplog.records)
    assert "Can not load invalid JSON data" in logged  # the page did reach the log handlers
    assert f"upstream: POST /bot{MASK}/sendMessage" in logged
    assert TOKEN not in logged and TOKEN.split(":")[1] not in logged
    assert "private words" not in logged
