"""The Telegram adapter: python-telegram-bot v22 (asyncio) in front of the core.

It only translates, and loses nothing taken from Telegram, even to kill -9. One module a job:

- config.py: the settings, from the environment (`telegram_config`)
- translate.py: an Update as an Incoming, a Reply as Telegram messages and buttons
- handling.py: one update up to the core's commit, and when Telegram may forget it
- polling.py / webhook.py: the two ways updates arrive, each confirming only what was handled
- sending.py: a reply queued for its chat; outbox.py: flood control (lanes, pacing, 429s)
- recovery.py: after a restart, the step again for whom the last run left unanswered;
  ledger.py: what was taken until its reply is out (ids only)
- transport.py: PTB's HTTP transport on aiohttp
- bot.py: the parts put together, started and stopped in order; `coach telegram`

Logs carry event names and ids only, never message text, and the token is redacted from every
log line (adapters/redact.py).
"""

from adapters.lifecycle import ConfigError
from adapters.telegram.bot import TelegramBot, quiet_library_logs, run_telegram, serve
from adapters.telegram.config import TelegramConfig, telegram_config
from adapters.telegram.outbox import Pacing
from adapters.telegram.translate import TelegramMessage, keyboard, telegram_messages

__all__ = [
    "ConfigError",
    "Pacing",
    "TelegramBot",
    "TelegramConfig",
    "TelegramMessage",
    "keyboard",
    "quiet_library_logs",
    "run_telegram",
    "serve",
    "telegram_config",
    "telegram_messages",
]
