"""The Telegram adapter's settings, from the environment and the command line.

Why apart: `coach telegram` checks them before anything starts (bot/cli/telegram.py picks the
exit code from what is wrong), and every error reads as one line that never holds the token.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from adapters.lifecycle import ConfigError
from adapters.status import StatusOptions, status_options
from adapters.telegram.outbox import Pacing

DEFAULT_BASE_URL = "https://api.telegram.org/bot"
SECRET_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")
TOKEN_RE = re.compile(r"\d+:[A-Za-z0-9_-]+")

__all__ = ["ConfigError", "TelegramConfig", "telegram_config"]


@dataclass(frozen=True)
class TelegramConfig:
    token: str = field(repr=False)
    base_url: str = DEFAULT_BASE_URL
    webhook_url: str | None = None
    listen: str = "0.0.0.0"
    port: int = 8443
    webhook_secret: str = field(default="", repr=False)
    poll_timeout: float = 10.0
    pacing: Pacing = field(default_factory=Pacing)
    # "typing" is sent when the core is still busy after this long. Sooner would cost every
    # reply a round trip: the reply waits in the chat's lane until the action is answered.
    typing_after: float = 0.2
    drain_timeout: float = 10.0  # on shutdown, how long queued replies may take
    # /healthz and /metrics on a port of their own (none: not served, except by a webhook)
    status: StatusOptions = field(default_factory=StatusOptions)

    @property
    def file_url(self) -> str:
        return self.base_url.removesuffix("/bot") + "/file/bot"

    @property
    def bot_id(self) -> str:
        """The bot's id: the token's public part, before the colon (what getMe says too)."""
        return self.token.split(":", 1)[0]


def derived_secret(token: str) -> str:
    """The webhook's secret when TELEGRAM_WEBHOOK_SECRET is unset: made from the token, so
    every process serving one bot's webhook checks the same secret (a random one per start
    would make each process refuse the others' updates), and not guessable without the
    token, which owns the bot anyway."""
    digest = hmac.new(token.encode(), b"conversation-coach webhook secret", hashlib.sha256)
    return base64.urlsafe_b64encode(digest.digest()).decode("ascii").rstrip("=")


def telegram_config(env: Mapping[str, str], args: argparse.Namespace) -> TelegramConfig:
    """Raises ConfigError with a one-line reason that never contains the token."""
    token = env.get("TELEGRAM_BOT_TOKEN", "").strip()
    if not token:
        raise ConfigError("TELEGRAM_BOT_TOKEN is not set; get a token from @BotFather "
                          "and put it in the environment")
    if not TOKEN_RE.fullmatch(token):
        raise ConfigError("TELEGRAM_BOT_TOKEN does not look like a bot token (digits:secret)")
    base = (env.get("TELEGRAM_API_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
    if not base.endswith("/bot"):
        base += "/bot"  # accept the server root too: PTB appends the token to ".../bot"
    webhook = getattr(args, "webhook_url", None) or None
    secret = env.get("TELEGRAM_WEBHOOK_SECRET", "")
    if secret and not SECRET_RE.fullmatch(secret):
        raise ConfigError("TELEGRAM_WEBHOOK_SECRET may use only A-Z, a-z, 0-9, _ and -, "
                          "up to 256 characters")
    if webhook:
        parts = urlsplit(webhook)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError("--webhook-url must be a full URL, e.g. https://bot.example.org/tg")
    port = getattr(args, "port", 8443)
    status = status_options(env, args)
    if webhook and status.port == port:  # the webhook's own port serves them already
        status = StatusOptions()
    return TelegramConfig(
        token=token, base_url=base, webhook_url=webhook,
        listen=getattr(args, "listen", "0.0.0.0"), port=port,
        webhook_secret=secret or derived_secret(token), status=status,
    )
