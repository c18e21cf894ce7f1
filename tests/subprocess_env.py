"""The environment a `coach <platform>` subprocess runs in, for the adapters' command tests:
the caller's own settings for that platform and the coach left out, so a developer's
TELEGRAM_BOT_TOKEN or COACH_STORE never leaks into a test."""

from __future__ import annotations

import os
from pathlib import Path


def command_env(prefix: str, store: Path, settings: dict[str, str | None]) -> dict[str, str]:
    """os.environ without `prefix`* and COACH_* (but COACH_FLOWS_DIR), the store at `store`,
    unbuffered output, and `settings` (None: left unset)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith((prefix, "COACH_")) or k == "COACH_FLOWS_DIR"}
    env.update({"COACH_STORE": str(store), "PYTHONUNBUFFERED": "1"})
    env.update({k: v for k, v in settings.items() if v is not None})
    return env
