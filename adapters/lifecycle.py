"""What every chat-platform adapter does around its bot, written once: `coach telegram` and
`coach discord` read their settings, keep secrets out of the logs, start, run until SIGINT or
SIGTERM, stop, and map what went wrong at start-up to one line and an exit code.

Why one module: the two adapters had copies of this that drifted (one let a signal cancel a
slow start-up, the other did not; one gave a second Ctrl-C the default handler back, the
other did not). Here both get the same: a signal counts from the first moment, and once the
bot is stopping a second Ctrl-C stops at once.

A status server (/healthz and /metrics, adapters/status.py), when the adapter has one,
starts once the bot has started and stops before it stops: it answers only while the bot
takes updates.

Library logs: bot/logs.py decides how loud libraries are (WARNING at INFO, everything at
DEBUG). An adapter only caps (`cap_library_logs`), never raises a level: the loggers that
would print people's words or tokens at DEBUG are held at INFO or WARNING even when
--log-level DEBUG asks for everything. Each adapter names its own (`LIBRARY_CAPS`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Protocol, TypeVar

from adapters.redact import install_redaction, redact
from bot.app import Settings, build_coach
from bot.pipeline import Coach

log = logging.getLogger("coach.adapter")

EXIT_FAILED = 1  # the bot could not start, or its connection ended
EXIT_CONFIG = 2  # the settings cannot start a bot (or the platform refused the token)
SIGNALS = (signal.SIGINT, signal.SIGTERM)

Config = TypeVar("Config")


class ConfigError(ValueError):
    """The environment or arguments cannot start a bot; the message is safe to print."""


class Bot(Protocol):
    """What `serve` needs of an adapter's bot."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    @property
    def ended(self) -> asyncio.Future[object] | None:
        """Done when the bot stopped on its own (a connection that ended); None if it
        cannot."""


class Server(Protocol):
    """Something served beside the bot (the status server)."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


@dataclass(frozen=True)
class StartFailures:
    """How one platform's start-up errors read on the command line."""

    platform: str  # "Telegram"
    rejected: type[BaseException]  # the platform refused the token
    rejected_line: str  # what to print then (its message may hold the token: never printed)
    failed: tuple[type[BaseException], ...]  # could not start: printed redacted, exit 1
    ended_line: str = "the connection ended"


class Stopping:
    """Set once the adapter is stopping. `pause` is a sleep that ends early when it is."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def set(self) -> None:
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    async def wait(self) -> None:
        await self._event.wait()

    async def pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), seconds)


def cap_library_logs(caps: Mapping[str, int]) -> None:
    """Hold each named logger at its level in `caps` or quieter. Only a cap: where
    bot/logs.py (or whoever set logging up) made a logger quieter, that stands."""
    for name, loudest in caps.items():
        logger = logging.getLogger(name)
        logger.setLevel(max(loudest, logger.getEffectiveLevel()))


def run(settings: Settings, load: Callable[[], Config], secrets: Callable[[Config], Iterable[str]],
        prepare: Callable[[Config], None],
        serve: Callable[[Coach, Config], Awaitable[int]]) -> int:
    """A `coach <platform>` command: settings (ConfigError: one line, exit 2), secrets out of
    the logs, `prepare` (the adapter's process-wide set-up: library log caps...), the core,
    then `serve` until a signal. Returns the exit code."""
    try:
        config = load()
    except ConfigError as error:
        print(f"coach: {error}", file=sys.stderr)
        return EXIT_CONFIG
    logging.captureWarnings(True)  # library warnings go through the redacting handlers too
    install_redaction(*secrets(config))
    prepare(config)
    coach = build_coach(settings)
    return asyncio.run(serve(coach, config))


async def serve(bot: Bot, coach: Coach, failures: StartFailures,
                beside: Server | None = None) -> int:
    """Start, run until SIGINT/SIGTERM (or until the bot ends on its own), stop, close the
    core. A signal counts from the first moment: during start-up it cancels the start.
    `beside` (the status server) starts after the bot and stops before it."""
    stopping = asyncio.Event()
    with _signals(stopping.set):
        signalled = asyncio.create_task(stopping.wait())
        starting = asyncio.create_task(_start(bot, beside))
        try:
            await asyncio.wait({starting, signalled}, return_when=asyncio.FIRST_COMPLETED)
            if not starting.done():
                starting.cancel()
                await asyncio.gather(starting, return_exceptions=True)
                log.info("event=shutdown_requested during=start_up")
                return 0
            try:
                starting.result()
            except failures.rejected:
                print(f"coach: {failures.rejected_line}", file=sys.stderr)
                return EXIT_CONFIG
            except failures.failed as error:
                print(f"coach: could not start the {failures.platform} bot: {reason(error)}",
                      file=sys.stderr)
                return EXIT_FAILED
            ended = bot.ended
            await asyncio.wait({signalled} if ended is None else {signalled, ended},
                               return_when=asyncio.FIRST_COMPLETED)
            if ended is not None and ended.done():
                error = ended.exception() if not ended.cancelled() else None
                print(f"coach: {failures.ended_line}: {reason(error)}", file=sys.stderr)
                return EXIT_FAILED
            log.info("event=shutdown_requested")
            return 0
        finally:
            signalled.cancel()
            _default_signals()  # a second Ctrl-C while stopping stops at once
            if beside is not None:
                try:
                    await beside.stop()
                except Exception:
                    log.exception("event=stop_failed part=status")
            try:
                await bot.stop()
            except Exception:
                log.exception("event=stop_failed")
            await coach.close()


async def _start(bot: Bot, beside: Server | None) -> None:
    await bot.start()
    if beside is not None:
        await beside.start()


@contextlib.contextmanager
def _signals(handler: Callable[[], None]) -> Iterator[None]:
    loop = asyncio.get_running_loop()
    for signum in SIGNALS:
        loop.add_signal_handler(signum, handler)
    try:
        yield
    finally:
        _default_signals()


def _default_signals() -> None:
    loop = asyncio.get_running_loop()
    for signum in SIGNALS:
        loop.remove_signal_handler(signum)


def reason(error: BaseException | None) -> str:
    """One line naming the error, redacted (exception texts can quote URLs or payloads)."""
    if error is None:
        return "closed"
    text = redact(str(error)).splitlines()[0] if str(error) else ""
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
