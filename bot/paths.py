"""Where the flows live: the `flows` package shipped with the program, or an operator's own
folder (COACH_FLOWS_DIR).

The repository's top-level flows/ folder is installed as the `flows` package (package data),
so a wheel, pipx or a container carries it and an editable install reads the checkout's files
as they are edited. importlib.resources finds it wherever it was installed.
"""

from __future__ import annotations

import os
from functools import cache
from importlib.resources import files
from pathlib import Path

FLOWS_PACKAGE = "flows"
# Shown in place of a folder when the package is missing, so the flows' loader reports it
# as one line ("...:1: cannot read file"), like any other unreadable flows folder.
_NOT_INSTALLED = Path(f"<no '{FLOWS_PACKAGE}' package: reinstall, or set COACH_FLOWS_DIR>")


@cache
def shipped_flows() -> Path:
    """The flows installed with the program, as a folder on disk (the flows' loader and
    `coach flows check` walk folders; a zipped install would need unpacking first)."""
    try:
        root = files(FLOWS_PACKAGE)
    except (ModuleNotFoundError, TypeError):  # TypeError: a module, not a package
        return _NOT_INSTALLED
    return root if isinstance(root, Path) else _NOT_INSTALLED


def flows_dir() -> Path:
    """The flows the bot runs: COACH_FLOWS_DIR when an operator set it, else the shipped ones."""
    configured = os.environ.get("COACH_FLOWS_DIR")
    return Path(configured) if configured else shipped_flows()


def flows_file(relative: str) -> Path:
    """A data file under the flows directory; the shipped copy when an operator's flows
    directory does not provide its own (rules files, for instance)."""
    own = flows_dir() / relative
    return own if own.exists() else shipped_flows() / relative
