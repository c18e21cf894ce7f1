"""The rules `coach screen` and `coach feedback` judge with: those of the flows the coach
would run (`--flows DIR`, else $COACH_FLOWS_DIR or the shipped flows), so the judgement can be
checked without a chat exactly as the chat would make it."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.cli.common import EXIT_USAGE, CommandError
from bot.flowlang.datafiles import compiled
from bot.paths import flows_dir


def flows_rules(args: argparse.Namespace, relative: str,
                build: Callable[[Any], Any]) -> Any | None:
    """The compiled rule file of the flows folder; None (the shipped rules) when the folder
    has none. A file that does not compile is a one-line usage error."""
    folder: Path = getattr(args, "flows", None) or flows_dir()
    path = folder / relative
    if not path.is_file():
        return None
    rules, problems = compiled(build)(path)
    if problems:
        raise CommandError(str(problems[0]), EXIT_USAGE)
    return rules
