"""What both chat-platform adapters do around their bot (adapters/lifecycle.py): settings
errors, start-up failures as one line and an exit code, SIGINT/SIGTERM from the first moment,
the core closed at the end, and library logs only ever capped.

A stand-in bot makes each case happen when the test says (a start that fails, or that waits
until cancelled); signals are real, sent to this process while `serve` listens for them."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Iterator

import pytest

from adapters import lifecycle
from adapters.lifecycle import (
    EXIT_CONFIG,
    EXIT_FAILED,
    ConfigError,
    StartFailures,
    Stopping,
    cap_library_logs,
    reason,
)
from bot.app import Settings
from bot.pipeline import Coach

WAIT = 60.0  # a safety net against a hang, never a measure of speed
SECRET = "123456789:AASecretTokenThatMustNeverBePrinted_xyz"


class Refused(Exception):
    pass


FAILURES = StartFailures(platform="Test", rejected=Refused, rejected_line="the token was refused",
                         failed=(OSError,), ended_line="the connection ended")


class StandIn:
    """A bot whose start does what the test says."""

    def __init__(self, error: BaseException | None = None, *, hang: bool = False) -> None:
        self.error = error
        self.hang = hang
        self.starting = asyncio.Event()
        self.cancelled = False
        self.stopped = False
        self.connection: asyncio.Future[object] | None = None

    async def start(self) -> None:
        self.starting.set()
        if self.error is not None:
            raise self.error
        if self.hang:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                self.cancelled = True
                raise
        self.connection = asyncio.get_running_loop().create_future()

    async def stop(self) -> None:
        self.stopped = True

    @property
    def ended(self) -> asyncio.Future[object] | None:
        return self.connection


async def _serve(bot: StandIn, coach: Coach) -> asyncio.Task[int]:
    serving = asyncio.create_task(lifecycle.serve(bot, coach, FAILURES))
    await asyncio.wait_for(bot.starting.wait(), WAIT)
    return serving


async def test_a_signal_during_start_up_cancels_it(coach: Coach) -> None:
    bot = StandIn(hang=True)
    serving = await _serve(bot, coach)
    os.kill(os.getpid(), signal.SIGINT)
    assert await asyncio.wait_for(serving, WAIT) == 0
    assert bot.cancelled and bot.stopped


async def test_a_signal_after_start_up_stops_the_bot(coach: Coach) -> None:
    bot = StandIn()
    serving = await _serve(bot, coach)
    os.kill(os.getpid(), signal.SIGTERM)
    assert await asyncio.wait_for(serving, WAIT) == 0
    assert bot.stopped and not bot.cancelled


async def test_start_up_failures_are_one_line_and_an_exit_code(
        coach: Coach, capsys: pytest.CaptureFixture[str]) -> None:
    refused = StandIn(Refused(f"401 for {SECRET}"))
    assert await asyncio.wait_for(await _serve(refused, coach), WAIT) == EXIT_CONFIG
    assert capsys.readouterr().err == "coach: the token was refused\n"  # never its message
    assert refused.stopped

    failed = StandIn(OSError(f"cannot reach https://x/bot{SECRET}/getMe\nsecond line"))
    assert await asyncio.wait_for(await _serve(failed, coach), WAIT) == EXIT_FAILED
    err = capsys.readouterr().err
    assert err == "coach: could not start the Test bot: OSError: cannot reach " \
                  "https://x/bot<redacted>/getMe\n"


async def test_a_bot_that_ends_on_its_own_is_a_failure(
        coach: Coach, capsys: pytest.CaptureFixture[str]) -> None:
    bot = StandIn()
    serving = await _serve(bot, coach)
    assert bot.connection is not None  # the start has finished: the connection exists
    bot.connection.set_exception(ConnectionResetError("gone"))
    assert await asyncio.wait_for(serving, WAIT) == EXIT_FAILED
    assert capsys.readouterr().err == "coach: the connection ended: ConnectionResetError: gone\n"
    assert bot.stopped


class Beside:
    """A server run beside the bot (the status server): notes when it starts and stops."""

    def __init__(self, bot: StandIn, events: list[str], error: OSError | None = None) -> None:
        self.bot, self.events, self.error = bot, events, error

    async def start(self) -> None:
        self.events.append(f"beside started, bot started: {bot_started(self.bot)}")
        if self.error is not None:
            raise self.error

    async def stop(self) -> None:
        self.events.append(f"beside stopped, bot stopped: {self.bot.stopped}")


def bot_started(bot: StandIn) -> bool:
    return bot.connection is not None


async def test_a_server_beside_starts_after_the_bot_and_stops_before_it(
        coach: Coach, capsys: pytest.CaptureFixture[str]) -> None:
    bot, events = StandIn(), []
    serving = asyncio.create_task(lifecycle.serve(bot, coach, FAILURES, Beside(bot, events)))
    await asyncio.wait_for(bot.starting.wait(), WAIT)
    while not events:  # the start goes on to the server beside, in this loop
        await asyncio.sleep(0)
    os.kill(os.getpid(), signal.SIGTERM)
    assert await asyncio.wait_for(serving, WAIT) == 0
    assert events == ["beside started, bot started: True", "beside stopped, bot stopped: False"]
    assert bot.stopped

    bot, events = StandIn(), []
    taken = Beside(bot, events, OSError(98, "cannot listen on 127.0.0.1:9100: in use"))
    code = await asyncio.wait_for(lifecycle.serve(bot, coach, FAILURES, taken), WAIT)
    assert code == EXIT_FAILED and bot.stopped  # a port in use stops the bot it came with
    assert "could not start the Test bot: OSError: [Errno 98] cannot listen on " \
           "127.0.0.1:9100" in capsys.readouterr().err


def test_settings_that_cannot_start_a_bot_are_exit_2(capsys: pytest.CaptureFixture[str]
                                                     ) -> None:
    def load() -> object:
        raise ConfigError("TEST_TOKEN is not set")

    def never(*_: object) -> object:
        raise AssertionError("nothing starts after a settings error")

    code = lifecycle.run(Settings("memory"), load, secrets=never, prepare=never, serve=never)
    assert code == EXIT_CONFIG
    assert capsys.readouterr().err == "coach: TEST_TOKEN is not set\n"


async def test_a_pause_ends_when_stopping() -> None:
    stopping = Stopping()
    pausing = asyncio.create_task(stopping.pause(WAIT))
    await asyncio.sleep(0)
    assert not pausing.done()
    stopping.set()
    await asyncio.wait_for(pausing, WAIT)  # long before WAIT: it ended on the event
    assert stopping.is_set()


def test_reasons_are_one_redacted_line() -> None:
    assert reason(None) == "closed"
    assert reason(TimeoutError()) == "TimeoutError"
    assert reason(ValueError("first\nsecond")) == "ValueError: first"


@pytest.fixture
def library_logger() -> Iterator[tuple[logging.Logger, logging.Logger]]:
    parent, child = logging.getLogger("fake_library"), logging.getLogger("fake_library.wire")
    yield parent, child
    parent.setLevel(logging.NOTSET)
    child.setLevel(logging.NOTSET)


def test_library_logs_are_only_ever_capped(
        library_logger: tuple[logging.Logger, logging.Logger]) -> None:
    parent, child = library_logger
    parent.setLevel(logging.DEBUG)  # --log-level DEBUG: the libraries speak
    cap_library_logs({"fake_library.wire": logging.INFO})
    assert child.level == logging.INFO  # but not this one's payloads
    child.setLevel(logging.NOTSET)
    parent.setLevel(logging.WARNING)  # INFO: bot/logs.py holds libraries at WARNING
    cap_library_logs({"fake_library.wire": logging.INFO})
    assert child.getEffectiveLevel() == logging.WARNING  # the cap never raises it
