"""Files a feature keeps beside the flows (help lines, coaching texts, rule sets), checked
with the flows so an edit that breaks one stops the start instead of every message.

The flow language does not know what they are: the composition root (bot/app.py) names each
with its path, how to load or compile it, and the name its result is offered under.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from platformdirs import user_cache_dir

from bot.flowlang.errors import FlowProblem
from bot.yamlfile import safe_data

Loader = Callable[[Path], tuple[Any, list[FlowProblem]]]
Compiler = Callable[[Any], object]


@dataclass(frozen=True)
class DataFile:
    """A loaded file (`load`), offered to actions as `services[name]`."""

    name: str
    path: Path  # relative to a flows folder
    load: Loader


@dataclass(frozen=True)
class RuleFile:
    """A rule file compiled only to be checked (its feature loads it itself at run time).
    `code` are the files that compile it: an earlier check is stale when they change."""

    path: Path
    build: Compiler
    code: tuple[Path, ...] = ()


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


class _CompiledBefore:
    """Rule files that compiled in an earlier check, by the hash of their bytes, the code
    that compiles them and the Python version: compiling the screen's rules is most of what
    `coach flows check` costs, and unchanged bytes compile the same way every time. Only
    successes are remembered (a broken file is compiled, and reported, on every check).
    Kept in the user's cache directory; set COACH_CHECK_CACHE=0 to always compile."""

    def __init__(self) -> None:
        self.enabled = os.environ.get("COACH_CHECK_CACHE", "1") != "0"
        self.path = Path(user_cache_dir("conversation-coach")) / "rules-compiled.json"
        self.known: set[str] = set()
        if self.enabled:
            try:
                self.known = set(json.loads(self.path.read_text(encoding="utf-8")))
            except (OSError, ValueError, TypeError):
                self.known = set()

    def key(self, raw: bytes, code: tuple[Path, ...]) -> str:
        digest = hashlib.sha256(raw)
        for source in code:
            try:
                digest.update(source.read_bytes())
            except OSError:
                digest.update(b"?")
        digest.update(sys.version.encode())
        return digest.hexdigest()

    def remember(self, key: str) -> None:
        if not self.enabled or key in self.known:
            return
        self.known = {*list(self.known)[-31:], key}  # a few versions, not an ever-growing file
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(json.dumps(sorted(self.known)), encoding="utf-8")
        except OSError:
            pass  # no writable cache: compile every time, as without it


def rule_file_problems(folders: Iterable[Path], rules: Sequence[RuleFile]) -> list[FlowProblem]:
    """The rule files, compiled as they will be at run time."""
    problems = []
    before = _CompiledBefore()
    for folder in folders:
        for rule in rules:
            path = folder / rule.path
            if not path.is_file():
                continue
            raw = path.read_bytes()
            key = before.key(raw, rule.code)
            if before.enabled and key in before.known:
                continue
            try:
                rule.build(safe_data(raw.decode("utf-8")))
            except yaml.MarkedYAMLError as exc:
                mark = exc.problem_mark
                line, col = (mark.line + 1, mark.column + 1) if mark else (1, 0)
                problems.append(FlowProblem(str(path), line, col, f"YAML syntax error: "
                                                                  f"{exc.problem}"))
            except (yaml.YAMLError, ValueError, KeyError, TypeError, AttributeError,
                    re.error) as exc:
                problems.append(FlowProblem(str(path), 1, 0, f"rules do not compile: "
                                                             f"{type(exc).__name__}: {exc}"))
            else:
                before.remember(key)
    return problems
