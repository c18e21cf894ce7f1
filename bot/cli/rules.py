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
from bot.understanding.examples import examples_loader, shipped_reader
from bot.understanding.learned import LearnedReader


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


def flows_learned(args: argparse.Namespace, relative: str, labels: tuple[str, ...],
                  label_key: str) -> LearnedReader | None:
    """The learned stage of the flows folder (its examples file; the shipped one when it has
    none), or None with --rules-only. A broken examples file is a one-line usage error."""
    if getattr(args, "rules_only", False):
        return None
    folder: Path = getattr(args, "flows", None) or flows_dir()
    path = folder / relative
    if not path.is_file():
        return shipped_reader(relative, labels, label_key)
    reader, problems = examples_loader(labels, label_key)(path)
    if problems:
        raise CommandError(str(problems[0]), EXIT_USAGE)
    return reader


def add_learned_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rules-only", action="store_true",
                        help="judge with the rules alone, without the learned stage")
