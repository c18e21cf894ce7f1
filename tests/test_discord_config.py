"""The Discord adapter's settings (adapters/discord_config.py): read from the environment and
the command line, every error one line without the token."""

from __future__ import annotations

import argparse

import pytest

from adapters.discord_config import ConfigError, Sharding, discord_config
from adapters.status import StatusOptions

TOKEN = "MTAwMDAwMDAwMDAwMDAwMDAx.Gfake0.fake-token-for-tests-only_abcdefghijklmn"


def test_configuration_from_the_environment() -> None:
    config = discord_config({"DISCORD_BOT_TOKEN": TOKEN, "DISCORD_GUILD_ID": "42"})
    assert config.guild_id == 42 and config.sharding == Sharding()
    root = discord_config({"DISCORD_BOT_TOKEN": TOKEN,
                            "DISCORD_API_BASE_URL": "http://127.0.0.1:9/"})
    assert root.api_base_url == "http://127.0.0.1:9/api/v10"
    assert TOKEN not in repr(config)
    assert discord_config({"DISCORD_BOT_TOKEN": TOKEN, "DISCORD_SHARDS": "auto"}).sharding.auto
    many = discord_config({"DISCORD_BOT_TOKEN": TOKEN, "DISCORD_SHARD_ID": "2,3",
                            "DISCORD_SHARD_COUNT": "4"}).sharding
    assert many == Sharding(count=4, ids=(2, 3)) and many.sharded_client
    assert not many.syncs_commands
    one = discord_config({"DISCORD_BOT_TOKEN": TOKEN, "DISCORD_SHARD_ID": "0",
                           "DISCORD_SHARD_COUNT": "4"}).sharding
    assert not one.sharded_client and one.syncs_commands
    for bad in ({}, {"DISCORD_SHARDS": "auto", "DISCORD_SHARD_ID": "1"},
                {"DISCORD_SHARD_ID": "4", "DISCORD_SHARD_COUNT": "4"},
                {"DISCORD_SHARD_COUNT": "2"}, {"DISCORD_GUILD_ID": "general"},
                {"DISCORD_GATEWAY_URL": "http://x"}):
        env = {"DISCORD_BOT_TOKEN": TOKEN, **bad} if bad else bad
        with pytest.raises(ConfigError) as raised:
            discord_config(env)
        assert TOKEN not in str(raised.value)


def test_the_status_port_comes_from_the_command_line_or_the_environment() -> None:
    env = {"DISCORD_BOT_TOKEN": TOKEN}
    assert discord_config(env).status == StatusOptions()  # off unless asked for
    assert discord_config({**env, "COACH_STATUS_PORT": "9102"}).status == StatusOptions(9102)
    given = argparse.Namespace(status_port=9103, status_listen="0.0.0.0")
    assert discord_config({**env, "COACH_STATUS_PORT": "9102"}, given).status == \
        StatusOptions(9103, "0.0.0.0")
    for bad in ("http", "0", "70000", "-1"):
        with pytest.raises(ConfigError, match="COACH_STATUS_PORT"):
            discord_config({**env, "COACH_STATUS_PORT": bad})
