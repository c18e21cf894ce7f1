"""The Telegram bot as one running thing: its parts put together, started and stopped in
order, and `coach telegram` around it.

Why apart: each part has one job (polling.py, webhook.py, handling.py, sending.py with the
outbox, recovery.py with the ledger, transport.py); this module only decides which exist and
in what order they start and stop. Stopping takes no new updates, finishes the ones taken,
sends what is queued (up to `drain_timeout`), then writes and closes the ledger. The core is
closed by whoever made it (`adapters/lifecycle.py` for the command).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sqlite3

from telegram import BotCommand
from telegram.error import InvalidToken, TelegramError
from telegram.ext import Application, ApplicationBuilder

from adapters import lifecycle
from adapters.lifecycle import StartFailures, Stopping
from adapters.status import status_server
from adapters.telegram.checkins import checkin_loop
from adapters.telegram.config import TelegramConfig, telegram_config
from adapters.telegram.handling import UpdateHandler
from adapters.telegram.ledger import Ledger, PollerRunning, UpdateLedger, ledger_file
from adapters.telegram.outbox import Outbox
from adapters.telegram.polling import Poller
from adapters.telegram.recovery import Recovery
from adapters.telegram.sending import ReplySender
from adapters.telegram.shared_ledger import SWEEP_EVERY_S, SharedLedger
from adapters.telegram.translate import command_menu
from adapters.telegram.transport import AiohttpRequest
from adapters.telegram.webhook import WebhookServer
from bot.app import Settings
from bot.config import retention_days
from bot.pipeline import Coach
from bot.texts import Texts

log = logging.getLogger("coach.telegram")

PLATFORM = "telegram"  # the metrics' label, as in the core's user keys

# PTB loggers that print update contents or request parameters (user text) at DEBUG, and
# request loggers that print every URL, token included: never louder than this.
LIBRARY_CAPS = {
    "telegram.Bot": logging.INFO,
    "telegram.ext.ExtBot": logging.INFO,
    "telegram.ext.Application": logging.INFO,
    "httpx": logging.WARNING,
    "httpcore": logging.WARNING,
}
START_FAILURES = StartFailures(
    platform="Telegram",
    rejected=InvalidToken,  # its message contains the token: never printed
    rejected_line="Telegram rejected TELEGRAM_BOT_TOKEN (401 Unauthorized); check it with "
                  "@BotFather",
    failed=(TelegramError, OSError, sqlite3.Error, PollerRunning),
)


def build_application(config: TelegramConfig,
                      requests: tuple[AiohttpRequest, AiohttpRequest]) -> Application:
    """PTB's Application, for its Bot; no Updater, because the adapter polls (polling.py)."""
    general, polling = requests
    return (
        ApplicationBuilder()
        .token(config.token)
        .base_url(config.base_url)
        .base_file_url(config.file_url)
        .request(general)
        .get_updates_request(polling)
        .updater(None)
        .build()
    )


class TelegramBot:
    """One running bot: PTB's Bot, the polling loop or the webhook endpoint, the outbox."""

    def __init__(self, coach: Coach, config: TelegramConfig) -> None:
        self.coach = coach
        self.config = config
        self.outbox = Outbox(config.pacing)
        self._requests = (AiohttpRequest(), AiohttpRequest(pool=1))
        self.app = build_application(config, self._requests)
        self.ledger: Ledger = self._ledger(coach, config)
        self.stopping = Stopping()
        self.sender = ReplySender(self.app.bot, coach.texts, self.outbox, self.ledger,
                                  typing_after=config.typing_after,
                                  on_reply_sent=lambda: coach.metrics.reply_sent(PLATFORM))
        self.recovery = Recovery(coach, self.ledger, self.sender, self.stopping)
        self.handler = UpdateHandler(coach, self.ledger, self.sender, self.recovery,
                                     self.stopping)
        self.checkins = checkin_loop(coach, self.sender)
        self.webhook: WebhookServer | None = None
        self.started = False
        self._poller: asyncio.Task[None] | None = None
        self._sweeper: asyncio.Task[None] | None = None

    @staticmethod
    def _ledger(coach: Coach, config: TelegramConfig) -> Ledger:
        """A file beside a store one process uses (kept nothing until `start` opens it);
        the database's tables when processes share the store."""
        tables = coach.shared_tables()
        if tables is not None:
            return SharedLedger(tables, config.bot_id, retention_days(coach.config))
        return UpdateLedger()

    @property
    def idle(self) -> bool:
        """No update being handled, no step being shown again, nothing queued to send."""
        return not self.handler.inflight and self.recovery.idle and self.outbox.idle

    @property
    def texts(self) -> Texts:
        return self.coach.texts

    @property
    def ended(self) -> None:
        """The bot runs until stopped (polling retries; the webhook waits): never on its own."""
        return None

    async def start(self) -> None:
        """Raises InvalidToken when Telegram rejects the token (its message holds the token)."""
        try:
            await self._open_ledger()
            if not self.config.webhook_url:
                await self.ledger.claim_polling()
            await self.app.initialize()
        except BaseException:
            await self._close_requests()  # no "Unclosed client session" after the error
            await self.ledger.close()
            raise
        await self.recovery.resume()
        if self.ledger.shared:
            self._sweeper = asyncio.create_task(self.recovery.sweep(SWEEP_EVERY_S))
        await self._register_commands()
        if self.config.webhook_url:
            self.webhook = WebhookServer(self.app.bot, self.handler, self.config.webhook_url,
                                         self.config.webhook_secret, self.config.listen,
                                         self.config.port, shared=self.ledger.shared)
            await self.webhook.start()
        else:
            poller = Poller(self.app.bot, self.handler, self.stopping,
                            timeout=self.config.poll_timeout)
            self._poller = asyncio.create_task(poller.run())
        self.checkins.start()
        self.started = True
        log.info("event=telegram_started mode=%s bot_id=%s",
                 "webhook" if self.webhook else "polling", self.app.bot.id)

    async def stop(self) -> None:
        """Stop taking updates, finish the ones taken, send what is queued, then close."""
        self.stopping.set()
        await self.checkins.stop()
        if self.webhook is not None:
            await self.webhook.stop()  # waits for the requests in progress
            self.webhook = None
        if self._poller is not None:
            try:
                await self._poller
            except Exception:
                log.exception("event=polling_failed")
            self._poller = None
        if self._sweeper is not None:
            await self._sweeper
            self._sweeper = None
        await self.recovery.finish()
        await self.outbox.drain(self.config.drain_timeout)
        await self.ledger.close()
        await self.app.shutdown()
        await self._close_requests()
        if self.started:
            self.started = False
            log.info("event=telegram_stopped")

    async def _open_ledger(self) -> None:
        if isinstance(self.ledger, SharedLedger):
            await self.ledger.open()
        elif isinstance(self.ledger, UpdateLedger):
            path = ledger_file(self.coach, self.config.bot_id)
            if path is not None:
                self.ledger.open(path, retention_days(self.coach.config))

    async def _close_requests(self) -> None:
        for request in self._requests:
            with contextlib.suppress(Exception):
                await request.shutdown()

    async def _register_commands(self) -> None:
        """The command menu in the default language for everyone, and in each other shipped
        language for people whose app uses it (setMyCommands' `language_code`)."""
        default = True
        for code, texts in self.coach.texts_by_language().items():
            try:
                await self.app.bot.set_my_commands(
                    [BotCommand(name, description) for name, description in command_menu(texts)],
                    language_code=None if default else code)
            except TelegramError as error:  # a missing menu is no reason not to run
                log.warning("event=set_commands_failed language=%s error=%s", code,
                            type(error).__name__)
            default = False


# -- the command ------------------------------------------------------------------------------


def quiet_library_logs() -> None:
    """Cap the library loggers that print tokens or user text (see adapters/lifecycle.py)."""
    lifecycle.cap_library_logs(LIBRARY_CAPS)


def run_telegram(settings: Settings, args: argparse.Namespace) -> int:
    """`coach telegram`: run until SIGINT/SIGTERM; returns the exit code."""
    return lifecycle.run(
        settings, lambda: telegram_config(os.environ, args),
        secrets=lambda config: (config.token, config.webhook_secret),
        prepare=lambda _: quiet_library_logs(), serve=serve)


async def serve(coach: Coach, config: TelegramConfig) -> int:
    """Run a bot on `coach` until SIGINT/SIGTERM, then stop it and close the core."""
    return await lifecycle.serve(TelegramBot(coach, config), coach, START_FAILURES,
                                 status_server(coach, config.status))
