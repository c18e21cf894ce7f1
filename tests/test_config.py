"""Operator settings: read from the environment, and refused when they cannot work."""

from __future__ import annotations

import pytest

from bot.cli import main
from bot.config import SettingError, check_config, operator_config, retention_days

REGIONS = ("international", "us", "gb")


def test_settings_come_from_the_coach_variables_trimmed() -> None:
    config = operator_config({"COACH_COUNTRY": " gb ", "COACH_REFERRAL_NAME": "",
                              "HOME": "/root"})
    assert config == {"country": "gb"}


@pytest.mark.parametrize("config", [{}, {"country": "GB"}, {"retention_days": "0"},
                                    {"retention_days": "30", "country": "us"}])
def test_settings_that_work_pass(config: dict[str, str]) -> None:
    check_config(config, REGIONS)


@pytest.mark.parametrize(("config", "named"), [
    ({"country": "uk"}, "COACH_COUNTRY=uk"),
    ({"country": "gbr"}, "did you mean 'gb'"),
    ({"retention_days": "-1"}, "COACH_RETENTION_DAYS=-1"),
    ({"retention_days": "abc"}, "whole number"),
    ({"retention_days": "1.5"}, "whole number"),
    ({"retention_days": "٣"}, "whole number"),
])
def test_a_setting_that_cannot_work_is_refused_by_name(config: dict[str, str],
                                                       named: str) -> None:
    with pytest.raises(SettingError, match=named):
        check_config(config, REGIONS)


def test_retention_is_the_number_of_days_given_or_ninety() -> None:
    assert retention_days({"retention_days": "7"}) == 7
    assert retention_days({}) == 90


def test_the_command_line_stops_with_64_before_anything_starts(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("COACH_COUNTRY", "narnia")
    monkeypatch.setattr("sys.stdin.isatty", lambda: True, raising=False)
    assert main(["chat", "--store", "memory"]) == 64
    assert "COACH_COUNTRY=narnia has no help lines" in capsys.readouterr().err
