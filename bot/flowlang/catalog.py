"""Load, check and compile a whole set of flows once, at start-up."""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from platformdirs import user_cache_dir

from bot import features  # noqa: F401  (registers the core's actions and conditions)
from bot.coach.coaching import COACHING_FILE, Coaching, load_coaching
from bot.coach.feedback import build_rules as build_feedback_rules
from bot.flowlang.compile import CompiledFlow, compile_flow
from bot.flowlang.errors import FlowErrors, FlowProblem
from bot.flowlang.model import FlowSpec, home_flow
from bot.flowlang.parse import parse_flow
from bot.flowlang.registry import REGISTRY, Registry
from bot.flowlang.source import SourceDoc, load_source
from bot.flowlang.validate import FlowSetChecker, slots_written
from bot.safety.resources import RESOURCES_FILE, Resources, load_resources
from bot.safety.screen import build_rules as build_screen_rules
from bot.texts import Texts, load_texts
from bot.yamlfile import safe_data

MESSAGES_FILE = Path("core") / "messages.yaml"
SAFETY_FLOW = "safety"
# States the core itself enters, so a flow set that has the flow must have them.
CORE_ENTRY_STATES = {SAFETY_FLOW: ("violence", "coercive_control", "self_harm", "unsure")}


@dataclass
class Catalog:
    """Everything the engine needs from the flow files, built once and then read-only."""

    flows: dict[str, CompiledFlow]
    texts: Texts | None
    slots: frozenset[str] = frozenset()
    questions: dict[str, str] = field(default_factory=dict)
    resources: Resources | None = None
    coaching: Coaching | None = None

    def flow(self, flow_id: str) -> CompiledFlow | None:
        return self.flows.get(flow_id)

    @property
    def home(self) -> str:
        return home_flow(self.flows)


def flow_files(
    paths: Iterable[Path],
) -> tuple[list[Path], list[Path], list[Path], list[Path]]:
    """Flow, messages, help-line and coaching files among the given files and folders."""
    flows: list[Path] = []
    messages: list[Path] = []
    resources: list[Path] = []
    coaching: list[Path] = []
    for path in paths:
        if path.is_dir():
            if (path / COACHING_FILE).is_file():
                coaching.append(path / COACHING_FILE)
            flows.extend(sorted(p for p in path.glob("*.yaml") if p.is_file()))
            if (path / MESSAGES_FILE).is_file():
                messages.append(path / MESSAGES_FILE)
            if (path / RESOURCES_FILE).is_file():
                resources.append(path / RESOURCES_FILE)
        else:
            flows.append(path)
    return flows, messages, resources, coaching


def check_paths(
    paths: Iterable[Path], registry: Registry = REGISTRY
) -> tuple[Catalog | None, list[FlowProblem]]:
    """Every problem in the given flows, and the compiled catalog when there are none.

    A folder is checked as the bot checks it at start-up, core messages included. A single
    file is checked together with the other flows in its folder (so its references to them
    resolve), and only problems in the files asked for are reported.
    """
    paths = list(paths)
    flow_paths, message_paths, resource_paths, coaching_paths = flow_files(paths)
    flow_paths = _unique(flow_paths)
    problems: list[FlowProblem] = []
    if not flow_paths:
        problems.append(FlowProblem(", ".join(str(p) for p in paths) or ".", 1, 0,
                                    "no flow files (*.yaml) found"))
    for folder in (p for p in paths if p.is_dir() and flow_paths):
        if not (folder / MESSAGES_FILE).is_file():
            problems.append(FlowProblem(str(folder / MESSAGES_FILE), 1, 0,
                                        "the core's own messages are missing: every flows "
                                        "folder needs this file (copy it from the shipped "
                                        "flows)"))
    parsed = _parse_all(flow_paths, problems)
    context = _parse_all(_siblings(paths, flow_paths), [])  # their own problems: not asked
    known = {flow.id for flow, _ in parsed}
    for flow, doc in context:
        if flow.id not in known:
            known.add(flow.id)
            parsed.append((flow, doc))
    asked = {str(p) for p in flow_paths}
    context_paths = {doc.path for _, doc in context} - asked
    found = FlowSetChecker(parsed, registry, CORE_ENTRY_STATES).check()
    found += _core_entry_problems(parsed)
    problems.extend(p for p in found if p.path not in context_paths)
    texts: Texts | None = None
    for path in message_paths:
        texts, found = load_texts(path)
        problems.extend(found)
    resources: Resources | None = None
    for path in resource_paths:
        resources, found = load_resources(path)
        problems.extend(found)
    coaching: Coaching | None = None
    for path in coaching_paths:
        coaching, found = load_coaching(path)
        problems.extend(found)
    problems.extend(rule_file_problems(paths))
    if problems:
        return None, sorted(set(problems))
    slots: set[str] = set()
    for flow, _ in parsed:
        slots |= slots_written(flow, registry)
    catalog = Catalog(
        flows={flow.id: compile_flow(flow, registry) for flow, _ in parsed},
        texts=texts,
        slots=frozenset(slots),
        questions=_questions(flow for flow, _ in parsed),
        resources=resources,
        coaching=coaching,
    )
    return catalog, []


def _parse_all(
    paths: Iterable[Path], problems: list[FlowProblem]
) -> list[tuple[FlowSpec, SourceDoc]]:
    parsed: list[tuple[FlowSpec, SourceDoc]] = []
    for path in paths:
        doc, found = load_source(path)
        problems.extend(found)
        if doc is None:
            continue
        flow, found = parse_flow(doc)
        problems.extend(found)
        if flow is not None:
            parsed.append((flow, doc))
    return parsed


def _unique(paths: list[Path]) -> list[Path]:
    """A file named twice (itself and through its folder) is checked once."""
    seen: set[Path] = set()
    unique = []
    for path in paths:
        if path.resolve() not in seen:
            seen.add(path.resolve())
            unique.append(path)
    return unique


def _siblings(paths: list[Path], asked: list[Path]) -> list[Path]:
    """The other flows in the folders of files checked one by one."""
    folders = {p.resolve() for p in paths if p.is_dir()}
    taken = {p.resolve() for p in asked}
    siblings: list[Path] = []
    for path in paths:
        if path.is_dir() or path.parent.resolve() in folders:
            continue
        for other in sorted(path.parent.glob("*.yaml")):
            if other.is_file() and other.resolve() not in taken:
                taken.add(other.resolve())
                siblings.append(other)
    return siblings


RULE_FILES: dict[Path, Callable[[Any], object]] = {
    Path("safety") / "screen_rules.yaml": lambda data: build_screen_rules(data, gates=False),
    Path("coach") / "feedback_rules.yaml": build_feedback_rules,
}


# The code that compiles the rule files: a change to it makes earlier checks stale.
_RULE_CODE = tuple(Path(__file__).resolve().parents[1] / name for name in (
    "safety/screen.py", "safety/prefilter.py", "coach/feedback.py"))


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

    def key(self, raw: bytes) -> str:
        digest = hashlib.sha256(raw)
        for code in _RULE_CODE:
            try:
                digest.update(code.read_bytes())
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


def rule_file_problems(paths: Iterable[Path]) -> list[FlowProblem]:
    """The safety screen's and the coach's rule files, compiled as they will be at run time,
    so an edit that breaks them stops the start instead of every message."""
    problems = []
    before = _CompiledBefore()
    for folder in (p for p in paths if p.is_dir()):
        for relative, build in RULE_FILES.items():
            path = folder / relative
            if not path.is_file():
                continue
            raw = path.read_bytes()
            key = before.key(raw)
            if before.enabled and key in before.known:
                continue
            try:
                build(safe_data(raw.decode("utf-8")))
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


def _core_entry_problems(parsed: list[tuple[FlowSpec, SourceDoc]]) -> list[FlowProblem]:
    problems = []
    for flow, doc in parsed:
        for name in CORE_ENTRY_STATES.get(flow.id, ()):
            if name not in flow.states:
                problems.append(doc.problem(("states",), f"flow '{flow.id}' must have a state "
                                                         f"'{name}': the core enters it"))
    return problems


def load_catalog(paths: Iterable[Path], registry: Registry = REGISTRY) -> Catalog:
    """The catalog, or FlowErrors listing every problem (the caller decides the exit code)."""
    paths = list(paths)
    catalog, problems = check_paths(paths, registry)
    if catalog is None:
        raise FlowErrors(problems)
    if catalog.texts is None:
        raise FlowErrors([FlowProblem(str(paths[0]) if paths else ".", 1, 0,
                                      f"{MESSAGES_FILE} is missing: the core's own messages "
                                      "live there")])
    return catalog


def _questions(flows: Iterable[FlowSpec]) -> dict[str, str]:
    """The question behind each slot, so an export reads as questions and answers."""
    questions: dict[str, str] = {}
    for flow in flows:
        for state in flow.states.values():
            if state.ask and state.say and state.ask.slot not in questions:
                questions[state.ask.slot] = state.say[-1]
    return questions
