"""Files a feature keeps beside the flows (help lines, coaching texts, rule sets), loaded with
the flows so an edit that breaks one stops the start instead of every message, and so that
`--flows DIR` changes all of them: what `coach flows check` checks is what runs.

The flow language does not know what they are: the composition root (bot/app.py) names each
with its path, how to load or compile it, and the name its result is offered under.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.flowlang.errors import FlowProblem
from bot.flowlang.source import overlaid
from bot.yamlfile import safe_data

Loader = Callable[[Path], tuple[Any, list[FlowProblem]]]
Compiler = Callable[[Any], object]


@dataclass(frozen=True)
class DataFile:
    """A loaded file (`load`), offered to actions as `services[name]`."""

    name: str
    path: Path  # relative to a flows folder
    load: Loader


def load_data_files(folders: Iterable[Path], files: Sequence[DataFile]
                    ) -> tuple[dict[str, object], list[FlowProblem]]:
    """Each data file found in the folders, loaded; a later folder's copy wins."""
    loaded: dict[str, object] = {}
    problems: list[FlowProblem] = []
    for folder in folders:
        for data_file in files:
            path = folder / data_file.path
            if path.is_file():
                value, found = data_file.load(path)
                problems.extend(found)
                if value is not None:
                    loaded[data_file.name] = value
    return loaded, problems


def compiled(build: Compiler) -> Loader:
    """A loader for a YAML rule file: parsed safely and compiled by `build`; a file that
    does not parse or compile is one problem with its position, never a crash at start-up."""

    def load(path: Path) -> tuple[Any, list[FlowProblem]]:
        try:
            return build(overlaid(str(path), safe_data(path.read_text(encoding="utf-8")))), []
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark
            line, col = (mark.line + 1, mark.column + 1) if mark else (1, 0)
            return None, [FlowProblem(str(path), line, col, f"YAML syntax error: {exc.problem}")]
        except (OSError, UnicodeDecodeError, yaml.YAMLError, ValueError, KeyError, TypeError,
                AttributeError, re.error) as exc:
            return None, [FlowProblem(str(path), 1, 0, f"rules do not compile: "
                                                        f"{type(exc).__name__}: {exc}")]

    return load
