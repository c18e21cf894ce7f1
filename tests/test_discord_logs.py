"""discord.py's own loggers kept quiet (adapters/discord_logs.py): capped at INFO, so their
DEBUG payloads (people's words) never print, and interaction tokens masked in rate-limit
warnings."""

from __future__ import annotations

import logging

import pytest

from adapters.discord_logs import quiet_library_logs


def test_library_logs_are_capped_and_interaction_tokens_masked(
        caplog: pytest.LogCaptureFixture) -> None:
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.DEBUG)
    try:
        quiet_library_logs()
        assert logging.getLogger("discord.gateway").getEffectiveLevel() == logging.INFO
        url = "https://discord.com/api/v10/webhooks/123/aW50ZXJhY3Rpb246secret-token/messages/1"
        with caplog.at_level(logging.DEBUG):
            logging.getLogger("discord.http").warning("We are being rate limited. %s %s "
                                                      "responded with 429.", "PATCH", url)
            logging.getLogger("discord.gateway").debug("WebSocket Event: %s", "their words")
    finally:
        root.setLevel(level)
    assert "secret-token" not in caplog.text and "/webhooks/123/<redacted>/" in caplog.text
    assert "their words" not in caplog.text
