"""Operator settings from the environment, readable by flows as `${cfg_<name>}` and by the
`config_set` condition. Only these names exist, so a typo in a flow is caught by the check."""

from __future__ import annotations

import os
from collections.abc import Mapping

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


def template_values(config: Mapping[str, str]) -> dict[str, str]:
    return {TEMPLATE_PREFIX + key: value for key, value in config.items()}


def retention_days(config: Mapping[str, str]) -> int:
    """Days an untouched session is kept; 0 turns automatic purging off."""
    try:
        return max(0, int(config.get("retention_days", DEFAULT_RETENTION_DAYS)))
    except ValueError:
        return DEFAULT_RETENTION_DAYS
