"""Where the shipped flows live; an operator can point elsewhere with COACH_FLOWS_DIR."""

from __future__ import annotations

import os
from pathlib import Path

_REPO_FLOWS = Path(__file__).resolve().parent.parent / "flows"


def flows_dir() -> Path:
    configured = os.environ.get("COACH_FLOWS_DIR")
    return Path(configured) if configured else _REPO_FLOWS


def flows_file(relative: str) -> Path:
    """A data file under the flows directory; the shipped copy when an operator's flows
    directory does not provide its own (rules files, for instance)."""
    own = flows_dir() / relative
    return own if own.exists() else _REPO_FLOWS / relative
