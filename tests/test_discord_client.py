"""The Discord adapter's client side (adapters/discord_client.py): nothing privileged is
asked for, people and commands read as the core expects, and a failed call reads in the
logs by its code, Discord's words cut short (the token is masked by adapters/redact.py)."""

from __future__ import annotations

from types import SimpleNamespace

from adapters.discord_client import (
    Delivery,
    channel_id,
    command_text,
    failure_text,
    intents,
    user_key,
)
from bot.messages import UserKey


def test_only_dm_messages_are_asked_for() -> None:
    wanted = intents()
    assert wanted.dm_messages and not wanted.message_content and not wanted.guilds
    assert not wanted.members and not wanted.presences


def test_people_and_commands_read_as_the_core_expects() -> None:
    assert user_key(SimpleNamespace(id=42)) == UserKey("discord", "42")  # type: ignore[arg-type]
    assert command_text("start", "talk") == "/start talk"
    assert command_text("checkins") == "/checkins"
    assert channel_id(Delivery(SimpleNamespace(id=7))) == 7  # type: ignore[arg-type]


def test_a_failure_reads_with_its_code_and_discords_words_cut_short() -> None:
    error = SimpleNamespace(status=403, code=50007,
                            text="Cannot send messages to this user " + "x" * 500)
    line = failure_text(error)  # type: ignore[arg-type]
    assert line.startswith("status=403 code=50007 error='Cannot send messages to this user")
    assert len(line) < 260
