"""Operator settings from the environment, readable by flows as `${cfg_<name>}` and by the
`config_set` condition. Only these names exist, so a typo in a flow is caught by the check."""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping

from bot.flowlang.errors import did_you_mean

CONFIG_ENV = {
    "country": "COACH_COUNTRY",
    "referral_name": "COACH_REFERRAL_NAME",
    "referral_link": "COACH_REFERRAL_LINK",
    "retention_days": "COACH_RETENTION_DAYS",
}
TEMPLATE_PREFIX = "cfg_"
DEFAULT_RETENTION_DAYS = 90


def operator_config(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    environ = os.environ if environ is None else environ
    return {key: environ[var].strip() for key, var in CONFIG_ENV.items()
            if environ.get(var, "").strip()}


class SettingError(ValueError):
    """An operator setting that cannot work; the coach refuses to start rather than guess."""


def check_config(config: Mapping[str, str], regions: Collection[str]) -> None:
    """A country with no help lines, or a retention that is not a whole number of days, would
    otherwise fall back silently: the operator would believe local lines or a purge are set."""
    country = config.get("country")
    if country is not None and country.casefold() not in regions:
        raise SettingError(
            f"COACH_COUNTRY={country} has no help lines in safety/resources.yaml"
            f"{did_you_mean(country.casefold(), regions)}; one of: {', '.join(sorted(regions))}")
    days = config.get("retention_days")
    if days is not None and not (days.isascii() and days.isdigit()):
        raise SettingError(f"COACH_RETENTION_DAYS={days} must be a whole number of days, 0 or "
                           "more (0 turns automatic erasing off)")


def template_values(config: Mapping[str, str]) -> dict[str, str]:
    return {TEMPLATE_PREFIX + key: value for key, value in config.items()}


def retention_days(config: Mapping[str, str]) -> int:
    """Days an untouched session is kept; 0 turns automatic purging off."""
    try:
        return max(0, int(config.get("retention_days", DEFAULT_RETENTION_DAYS)))
    except ValueError:
        return DEFAULT_RETENTION_DAYS
