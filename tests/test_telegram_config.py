"""The Telegram adapter's settings (adapters/telegram/config.py): what the environment and
the command line may say, and how a wrong setting reads (one line, never the token)."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

import pytest

from adapters.telegram import ConfigError, telegram_config
from adapters.telegram.config import DEFAULT_BASE_URL
from tests.conftest import REPO
from tests.telegram_harness import TOKEN, WAIT, command_env

NO_ARGS = argparse.Namespace()


def test_a_missing_token_is_a_clear_error(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "bot", "telegram"], cwd=REPO,
                          env=command_env(None, tmp_path / "m.db", token=None),
                          capture_output=True, text=True, timeout=WAIT)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "coach: TELEGRAM_BOT_TOKEN is not set; get a token from @BotFather and put it in the "
        "environment"]
    assert not (tmp_path / "m.db").exists()  # nothing was opened


def test_the_defaults_and_what_the_environment_changes() -> None:
    config = telegram_config({"TELEGRAM_BOT_TOKEN": f" {TOKEN} "}, NO_ARGS)
    assert (config.token, config.base_url, config.webhook_url) == (TOKEN, DEFAULT_BASE_URL, None)
    assert config.file_url == "https://api.telegram.org/file/bot"
    assert config.bot_id == "123456789"
    assert len(config.webhook_secret) >= 32  # made up when not given: never empty
    assert TOKEN not in repr(config) and config.webhook_secret not in repr(config)
    # the same in every process serving the bot (they check each other's deliveries)...
    again = telegram_config({"TELEGRAM_BOT_TOKEN": TOKEN}, NO_ARGS)
    assert again.webhook_secret == config.webhook_secret
    assert re.fullmatch(r"[A-Za-z0-9_-]{32,256}", config.webhook_secret)
    # ...and another bot's is another, and neither shows its token
    other = telegram_config({"TELEGRAM_BOT_TOKEN": "987654321:" + TOKEN.split(":")[1]}, NO_ARGS)
    assert other.webhook_secret != config.webhook_secret
    assert TOKEN.split(":")[1] not in config.webhook_secret

    root = telegram_config({"TELEGRAM_BOT_TOKEN": TOKEN,
                            "TELEGRAM_API_BASE_URL": "http://127.0.0.1:8081/"}, NO_ARGS)
    assert root.base_url == "http://127.0.0.1:8081/bot"  # the server root works too
    hook = telegram_config(
        {"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_WEBHOOK_SECRET": "s3cret-Value_1"},
        argparse.Namespace(webhook_url="https://bot.example.org/tg", listen="127.0.0.1",
                           port=9000))
    assert (hook.webhook_url, hook.listen, hook.port, hook.webhook_secret) == (
        "https://bot.example.org/tg", "127.0.0.1", 9000, "s3cret-Value_1")


@pytest.mark.parametrize(("env", "args", "says"), [
    ({}, NO_ARGS, "TELEGRAM_BOT_TOKEN is not set"),
    ({"TELEGRAM_BOT_TOKEN": "not a token"}, NO_ARGS, "does not look like a bot token"),
    ({"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_WEBHOOK_SECRET": "no spaces"}, NO_ARGS,
     "TELEGRAM_WEBHOOK_SECRET may use only"),
    ({"TELEGRAM_BOT_TOKEN": TOKEN}, argparse.Namespace(webhook_url="bot.example.org"),
     "--webhook-url must be a full URL"),
])
def test_settings_that_cannot_work_are_one_line_without_the_token(
        env: dict[str, str], args: argparse.Namespace, says: str) -> None:
    with pytest.raises(ConfigError) as raised:
        telegram_config(env, args)
    assert says in str(raised.value) and "\n" not in str(raised.value)
    assert TOKEN not in str(raised.value)
