"""The Discord adapter's settings, from the environment and the command line.

Why apart from adapters/discord.py: `coach discord` checks them before anything starts
(bot/cli/discord.py picks the exit code from what is wrong), every error reads as one line
that never holds the token, and the client wiring stays readable without them.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import yarl
from discord.gateway import DiscordWebSocket
from discord.http import Route

from adapters.lifecycle import ConfigError
from adapters.status import StatusOptions, status_options

__all__ = ["ConfigError", "DiscordConfig", "Sharding", "apply_endpoints", "discord_config"]

API_PATH = yarl.URL(Route.BASE).path  # "/api/v10": the API version discord.py speaks


@dataclass(frozen=True)
class Sharding:
    """Which shards this process runs: none (one connection), `auto` (as many as Discord
    recommends), a count (all of them here), or some ids of a count (several processes)."""

    auto: bool = False
    count: int | None = None
    ids: tuple[int, ...] | None = None

    @property
    def sharded_client(self) -> bool:
        """AutoShardedClient runs several shards in one process; Client runs one or none."""
        return self.auto or (self.count is not None and (self.ids is None or len(self.ids) > 1))

    @property
    def syncs_commands(self) -> bool:
        """Commands are synced once per application: by the process that runs shard 0."""
        return self.ids is None or 0 in self.ids


@dataclass(frozen=True)
class DiscordConfig:
    token: str = field(repr=False)
    guild_id: int | None = None
    sharding: Sharding = field(default_factory=Sharding)
    api_base_url: str | None = None
    gateway_url: str | None = None
    drain_timeout: float = 10.0  # on shutdown, how long handlers in flight may take
    status: StatusOptions = field(default_factory=StatusOptions)  # /healthz, /metrics


def _int(env: Mapping[str, str], name: str) -> int | None:
    value = env.get(name, "").strip()
    if not value:
        return None
    if not (value.isascii() and value.isdigit()):
        raise ConfigError(f"{name} must be a number, not {value[:20]!r}")
    return int(value)


def _sharding(env: Mapping[str, str]) -> Sharding:
    shards = env.get("DISCORD_SHARDS", "").strip().casefold()
    ids_text = env.get("DISCORD_SHARD_ID", "").strip()
    count = _int(env, "DISCORD_SHARD_COUNT")
    if shards and (ids_text or count is not None):
        raise ConfigError("set either DISCORD_SHARDS or DISCORD_SHARD_ID with "
                          "DISCORD_SHARD_COUNT, not both")
    if shards == "auto":
        return Sharding(auto=True)
    if shards:
        if not (shards.isascii() and shards.isdigit()) or int(shards) < 1:
            raise ConfigError("DISCORD_SHARDS must be auto or a number of shards")
        return Sharding(count=int(shards))
    if not ids_text and count is None:
        return Sharding()
    if not ids_text or count is None or count < 1:
        raise ConfigError("DISCORD_SHARD_ID and DISCORD_SHARD_COUNT go together "
                          "(e.g. DISCORD_SHARD_ID=0 DISCORD_SHARD_COUNT=4)")
    parts = [p.strip() for p in ids_text.split(",")]
    if not all(p.isascii() and p.isdigit() and int(p) < count for p in parts):
        raise ConfigError(f"DISCORD_SHARD_ID must be shard numbers from 0 to {count - 1}, "
                          "separated by commas")
    return Sharding(count=count, ids=tuple(sorted({int(p) for p in parts})))


# A bot token is three base64url parts joined by dots (the bot's id, a time, a signature).
TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


def discord_config(env: Mapping[str, str],
                   args: argparse.Namespace | None = None) -> DiscordConfig:
    """Raises ConfigError with a one-line reason that never contains the token. `args`:
    the command line's --status-port and --status-listen, if given."""
    token = env.get("DISCORD_BOT_TOKEN", "").strip()
    if not token:
        raise ConfigError("DISCORD_BOT_TOKEN is not set; copy the bot token from the Discord "
                          "developer portal (Bot → Reset Token) into the environment")
    if any(ch.isspace() for ch in token):
        raise ConfigError("DISCORD_BOT_TOKEN contains spaces; paste the token alone")
    if not TOKEN_SHAPE.fullmatch(token):
        raise ConfigError("DISCORD_BOT_TOKEN does not look like a bot token (three parts "
                          "joined by dots); copy it again from the developer portal")
    gateway = env.get("DISCORD_GATEWAY_URL", "").strip() or None
    if gateway and yarl.URL(gateway).scheme not in ("ws", "wss"):
        raise ConfigError("DISCORD_GATEWAY_URL must be a ws:// or wss:// URL")
    base = env.get("DISCORD_API_BASE_URL", "").strip().rstrip("/") or None
    if base and yarl.URL(base).scheme not in ("http", "https"):
        raise ConfigError("DISCORD_API_BASE_URL must be an http:// or https:// URL")
    if base and yarl.URL(base).path in ("", "/"):
        base += API_PATH  # a server root: add the API version discord.py speaks
    return DiscordConfig(token=token, guild_id=_int(env, "DISCORD_GUILD_ID"),
                         sharding=_sharding(env), api_base_url=base, gateway_url=gateway,
                         status=status_options(env, args))


def apply_endpoints(config: DiscordConfig) -> Callable[[], None]:
    """Point discord.py at another REST base and gateway (tests, self-hosted proxies).

    These are class attributes, so they hold for the whole process; returns a function that
    puts the previous values back."""
    old_base, old_gateway = Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY
    if config.api_base_url:
        Route.BASE = config.api_base_url
    if config.gateway_url:
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(config.gateway_url)

    def restore() -> None:
        Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = old_base, old_gateway

    return restore
