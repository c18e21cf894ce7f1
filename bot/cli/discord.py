"""`coach discord`: the Discord adapter (DMs and slash commands).

The settings are checked here before the adapter starts, so that the command line picks the
exit code: a missing token is a usage error (2); a setting that is there but cannot work (a
token with spaces, a URL of the wrong kind, shard numbers that do not add up) is 64.
"""

from __future__ import annotations

import argparse
import os

from bot.app import Settings
from bot.cli.common import (
    EXIT_SETTING,
    EXIT_USAGE,
    CommandError,
    Subparsers,
    add_status_options,
    command,
)

TOKEN = "DISCORD_BOT_TOKEN"


def add_parser(subparsers: Subparsers) -> None:
    parser = command(subparsers, "discord", run, f"run as a Discord bot (${TOKEN})",
                     f"Run as a Discord bot until SIGINT or SIGTERM. The token is ${TOKEN}; "
                     "optional: $DISCORD_GUILD_ID, $DISCORD_SHARDS, $DISCORD_SHARD_ID, "
                     "$DISCORD_SHARD_COUNT, $DISCORD_API_BASE_URL, $DISCORD_GATEWAY_URL, "
                     "$COACH_STATUS_PORT.")
    add_status_options(parser)


def run(args: argparse.Namespace) -> int:
    from adapters.discord import run_discord
    from adapters.discord_config import ConfigError, discord_config

    try:
        discord_config(os.environ, args)
    except ConfigError as error:
        missing = not os.environ.get(TOKEN, "").strip()
        raise CommandError(str(error), EXIT_USAGE if missing else EXIT_SETTING) from None
    return run_discord(Settings(args.store, args.flows), args)
