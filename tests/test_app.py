"""The assembled app: what an operator sets in the environment reaches the running coach.

These run the real command line in a subprocess (as an operator would start it), because the
bug they guard against was a Coach built without the operator's settings.
"""

from __future__ import annotations

import os
import subprocess
import sys

from bot.app import Settings, build_coach

from .conftest import REPO


def _chat(lines: list[str], **env: str) -> str:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("COACH_")}
    environ.update(env)
    result = subprocess.run(
        [sys.executable, "-m", "bot", "--store", "memory", "chat"],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        env=environ,
        cwd=REPO,
        timeout=60,
        check=True,
    )
    return result.stdout


def test_settings_read_the_operator_environment(monkeypatch) -> None:
    monkeypatch.setenv("COACH_COUNTRY", "gb")
    monkeypatch.setenv("COACH_REFERRAL_NAME", "Example Counselling")
    monkeypatch.delenv("COACH_RETENTION_DAYS", raising=False)
    coach = build_coach(Settings(store_url="memory"))
    assert coach.config == {"country": "gb", "referral_name": "Example Counselling"}


def test_country_help_lines_reach_sos() -> None:
    uk = _chat(["/sos"], COACH_COUNTRY="gb")
    assert "116 123" in uk  # Samaritans, from flows/safety/resources.yaml
    default = _chat(["/sos"])
    assert "116 123" not in default
    assert "No local line" in default or "no local line" in default


def test_retention_setting_reaches_privacy_text() -> None:
    assert "7 days" in _chat(["/privacy"], COACH_RETENTION_DAYS="7")
    assert "90 days" in _chat(["/privacy"])


def test_privacy_says_notes_are_kept_until_deleted_when_retention_is_off() -> None:
    text = _chat(["/privacy"], COACH_RETENTION_DAYS="0")
    assert "0 days" not in text
    assert "until you delete it" in text
