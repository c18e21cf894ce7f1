"""discord.py's own loggers, kept quiet: capped at INFO (at DEBUG they print whole gateway
and HTTP payloads, people's words), the guilds-intent warning dropped, and interaction
tokens masked in rate-limit warnings.

Why apart from adapters/discord.py: it is about the library's logs, not the conversation.
"""

from __future__ import annotations

import logging
import re

from adapters import lifecycle

# discord.py's loggers print whole gateway and HTTP payloads (people's words) at DEBUG:
# never louder than INFO, whatever --log-level says.
LIBRARY_CAPS = {"discord": logging.INFO}


class _DropGuildsWarning(logging.Filter):
    """discord.py warns when the guilds intent is off because most bots read server state;
    this one never does, so the warning would only worry whoever reads the logs."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Guilds intent" not in str(record.msg)


class _MaskInteractionTokens(logging.Filter):
    """discord.py's rate-limit warnings quote request URLs, and interaction URLs carry the
    interaction's token (15 minutes of posting as the bot in that conversation)."""

    URL_TOKEN = re.compile(r"(/(?:webhooks|interactions)/\d+/)[^/?\s]+")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "/webhooks/" in message or "/interactions/" in message:
            record.msg, record.args = self.URL_TOKEN.sub(r"\1<redacted>", message), None
        return True


def _add_filter(name: str, kind: type[logging.Filter]) -> None:
    logger = logging.getLogger(name)
    if not any(isinstance(f, kind) for f in logger.filters):
        logger.addFilter(kind())


def quiet_library_logs() -> None:
    """Cap discord.py's loggers (see adapters/lifecycle.py), drop the guilds-intent warning
    and mask interaction tokens in its rate-limit warnings."""
    lifecycle.cap_library_logs(LIBRARY_CAPS)
    _add_filter("discord.state", _DropGuildsWarning)
    for name in ("discord.http", "discord.webhook.async_"):
        _add_filter(name, _MaskInteractionTokens)
