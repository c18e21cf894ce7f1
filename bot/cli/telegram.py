"""`coach telegram`: the Telegram adapter, by long polling or by webhook.

The settings are checked here before the adapter starts, so that the command line picks the
exit code: a missing token is a usage error (2); a setting that is there but cannot work (a
token or webhook secret of the wrong shape) is 64.
"""

from __future__ import annotations

import argparse
import os
from urllib.parse import urlsplit

from bot.app import Settings
from bot.cli.common import (
    EXIT_SETTING,
    EXIT_USAGE,
    CommandError,
    Subparsers,
    add_status_options,
    command,
)

TOKEN = "TELEGRAM_BOT_TOKEN"


def webhook_url(text: str) -> str:
    """argparse type for --webhook-url: a full http(s) URL."""
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise argparse.ArgumentTypeError("must be a full URL, e.g. https://bot.example.org/tg")
    return text


def add_parser(subparsers: Subparsers) -> None:
    parser = command(subparsers, "telegram", run,
                     f"run as a Telegram bot (${TOKEN})",
                     f"Run as a Telegram bot until SIGINT or SIGTERM. The token is ${TOKEN}; "
                     "optional: $TELEGRAM_API_BASE_URL, $TELEGRAM_WEBHOOK_SECRET, "
                     "$COACH_STATUS_PORT.")
    parser.add_argument("--webhook-url", type=webhook_url, metavar="URL",
                        help="receive updates by webhook at this public URL (default: long "
                             "polling)")
    parser.add_argument("--listen", default="0.0.0.0", metavar="ADDR",
                        help="webhook listen address (default 0.0.0.0)")
    parser.add_argument("--port", type=int, default=8443, metavar="N",
                        help="webhook listen port (default 8443); it serves /healthz and "
                             "/metrics too")
    add_status_options(parser)


def run(args: argparse.Namespace) -> int:
    from adapters.telegram import ConfigError, run_telegram, telegram_config

    try:
        telegram_config(os.environ, args)
    except ConfigError as error:
        missing = not os.environ.get(TOKEN, "").strip()
        raise CommandError(str(error), EXIT_USAGE if missing else EXIT_SETTING) from None
    return run_telegram(Settings(args.store, args.flows), args)
