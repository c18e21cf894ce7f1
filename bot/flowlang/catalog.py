"""Load, check and compile a whole set of flows once, at start-up.

What a flow set may use besides the language itself (actions, feature data files, states
the core enters) comes in as `Features`, from the composition root (bot/app.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bot.flowlang.compile import CompiledFlow, compile_flow
from bot.flowlang.datafiles import DataFile, load_data_files
from bot.flowlang.errors import FlowErrors, FlowProblem
from bot.flowlang.model import FlowSpec, home_flow
from bot.flowlang.parse import node_at, parse_flow
from bot.flowlang.registry import Registry
from bot.flowlang.source import SourceDoc, load_source
from bot.flowlang.validate import FlowSetChecker, slots_written
from bot.texts import Texts, load_texts

MESSAGES_FILE = Path("core") / "messages.yaml"


@dataclass(frozen=True)
class Features:
    """What the coach offers flows: its registry, the data files its features load (help
    lines, coaching texts, the screen's and the coach's rules), and the states the core
    itself enters (by flow)."""

    registry: Registry
    data_files: tuple[DataFile, ...] = ()
    entry_states: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass
class Catalog:
    """Everything the engine needs from the flow files, built once and then read-only.
    `registry` is the one the flows were checked and compiled against; `services` are the
    loaded data files, by name (offered to actions as they are)."""

    flows: dict[str, CompiledFlow]
    texts: Texts | None
    registry: Registry = field(default_factory=Registry)
    slots: frozenset[str] = frozenset()
    questions: dict[str, str] = field(default_factory=dict)
    services: dict[str, object] = field(default_factory=dict)
    # The language its sentences are in, and every shipped language's catalog by code
    # (bot/i18n/; the English catalog holds them all, itself included).
    lang: str = "en"
    languages: dict[str, Catalog] = field(default_factory=dict, compare=False, repr=False)

    def flow(self, flow_id: str) -> CompiledFlow | None:
        return self.flows.get(flow_id)

    @property
    def home(self) -> str:
        return home_flow(self.flows)


def flow_files(paths: Iterable[Path]) -> list[Path]:
    """The flow files among the given files and folders."""
    flows: list[Path] = []
    for path in paths:
        if path.is_dir():
            flows.extend(sorted(p for p in path.glob("*.yaml") if p.is_file()))
        else:
            flows.append(path)
    return flows


def check_paths(
    paths: Iterable[Path], features: Features
) -> tuple[Catalog | None, list[FlowProblem]]:
    """Every problem in the given flows, and the compiled catalog when there are none.

    A folder is checked as the bot checks it at start-up, core messages included. A single
    file is checked together with the other flows in its folder (so its references to them
    resolve), and only problems in the files asked for are reported.
    """
    paths = list(paths)
    registry = features.registry
    folders = [p for p in paths if p.is_dir()]
    flow_paths = _unique(flow_files(paths))
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
    parsed = parse_all(flow_paths, problems)
    context = parse_all(_siblings(paths, flow_paths), [])  # their own problems: not asked
    known = {flow.id for flow, _ in parsed}
    for flow, doc in context:
        if flow.id not in known:
            known.add(flow.id)
            parsed.append((flow, doc))
    asked = {str(p) for p in flow_paths}
    context_paths = {doc.path for _, doc in context} - asked
    found = FlowSetChecker(parsed, registry, features.entry_states).check()
    found += _core_entry_problems(parsed, features.entry_states)
    problems.extend(p for p in found if p.path not in context_paths)
    texts: Texts | None = None
    for folder in folders:
        if (folder / MESSAGES_FILE).is_file():
            texts, found = load_texts(folder / MESSAGES_FILE)
            problems.extend(found)
    services, found = load_data_files(folders, features.data_files)
    problems.extend(found)
    if folders:
        problems.extend(_missing_needs(parsed, registry, folders, features.data_files))
    if problems:
        return None, sorted(set(problems))
    slots: set[str] = set()
    for flow, _ in parsed:
        slots |= slots_written(flow, registry)
    catalog = Catalog(
        flows={flow.id: compile_flow(flow, registry) for flow, _ in parsed},
        texts=texts,
        registry=registry,
        slots=frozenset(slots),
        questions=_questions(flow for flow, _ in parsed),
        services=services,
    )
    return catalog, []


def parse_all(
    paths: Iterable[Path], problems: list[FlowProblem]
) -> list[tuple[FlowSpec, SourceDoc]]:
    """Each file read and parsed into the flow model; what cannot be is added to `problems`."""
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


def _missing_needs(parsed: list[tuple[FlowSpec, SourceDoc]], registry: Registry,
                   folders: list[Path], data_files: Iterable[DataFile]) -> list[FlowProblem]:
    """An `address` whose words live in a data file the folder lacks: there is no default.
    (A file that is there but broken is reported by its own loader.)"""
    paths = {data.name: data.path for data in data_files}
    problems = []
    for flow, doc in parsed:
        for state in flow.states.values():
            entry = registry.addresses.get(state.ask.address or "") if state.ask else None
            where = paths.get(entry.needs) if entry is not None and entry.needs else None
            if entry is not None and where and not any((f / where).is_file() for f in folders):
                at = ("states", state.name, "ask", "address")
                problems.append(doc.problem(at, f"address '{entry.name}' needs {where} in the "
                                                "flows folder (copy it from the shipped flows)",
                                            node=node_at(doc, at)))
    return problems


def _core_entry_problems(parsed: list[tuple[FlowSpec, SourceDoc]],
                         entry_states: Mapping[str, tuple[str, ...]]) -> list[FlowProblem]:
    problems = []
    for flow, doc in parsed:
        for name in entry_states.get(flow.id, ()):
            if name not in flow.states:
                problems.append(doc.problem(("states",), f"flow '{flow.id}' must have a state "
                                                         f"'{name}': the core enters it"))
    return problems


def load_catalog(paths: Iterable[Path], features: Features) -> Catalog:
    """The catalog, or FlowErrors listing every problem (the caller decides the exit code)."""
    paths = list(paths)
    catalog, problems = check_paths(paths, features)
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
