"""Load a YAML file safely and remember where every value came from.

PyYAML's SafeLoader composes the node tree (no object is ever constructed from tags) and its
SafeConstructor builds the plain data; walking the same nodes gives each value's line and
column, so later checks can point at the exact place in the file.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.flowlang.errors import FlowProblem
from bot.yamlfile import SafeLoader

PathKey = tuple[Any, ...]
# While a translated catalog loads (bot/i18n/), every file's data passes through this: its
# sentences in that language, by place. One hook here instead of one per feature loader.
Overlay = Callable[[str, Any], Any]
_OVERLAY: ContextVar[Overlay | None] = ContextVar("text_overlay", default=None)


@contextmanager
def text_overlay(overlay: Overlay) -> Iterator[None]:
    """Files loaded inside this block are read through `overlay(path, data)`."""
    token = _OVERLAY.set(overlay)
    try:
        yield
    finally:
        _OVERLAY.reset(token)


def overlaid(name: str, data: Any) -> Any:
    """`data` of the file `name` as the current overlay has it (as it is without one)."""
    overlay = _OVERLAY.get()
    return data if overlay is None else overlay(name, data)


def overlay_active() -> bool:
    """Whether files loaded now are read through an overlay (their data is not the file's)."""
    return _OVERLAY.get() is not None


@dataclass
class SourceDoc:
    """Plain data plus positions: `where[path]` is the (line, col) of the value at `path`."""

    path: str
    data: Any
    where: dict[PathKey, tuple[int, int]] = field(default_factory=dict)
    key_where: dict[PathKey, tuple[int, int]] = field(default_factory=dict)

    def pos(self, at: PathKey, *, key: bool = False) -> tuple[int, int]:
        """Position of a value (or of its key); falls back to the nearest known parent."""
        table = self.key_where if key else self.where
        probe = at
        while probe:
            if probe in table:
                return table[probe]
            if probe in self.where:
                return self.where[probe]
            probe = probe[:-1]
        return self.where.get((), (1, 1))

    def value(self, at: PathKey) -> Any:
        """The value at `at` (mapping keys and list indexes), or None when it is not there."""
        data = self.data
        for part in at:
            in_dict = isinstance(data, dict) and part in data
            in_list = isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data)
            if in_dict or in_list:
                data = data[part]
            else:
                return None
        return data

    def problem(self, at: PathKey, message: str, *, key: bool = False,
                node: str = "") -> FlowProblem:
        """`node`: the map id of the state the problem belongs to, if any."""
        line, col = self.pos(at, key=key)
        return FlowProblem(self.path, line, col, message, node)


def load_source(
    path: Path, display: str | None = None
) -> tuple[SourceDoc | None, list[FlowProblem]]:
    """Read one YAML file; a problem list instead of an exception when it cannot be used."""
    name = display or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [FlowProblem(name, 1, 0, f"cannot read file: {exc}")]
    return parse_source(text, name)


class FlowYamlLoader(SafeLoader):  # type: ignore[misc,valid-type]
    """SafeLoader where only true/false are booleans.

    YAML 1.1 reads `label: Yes` or `No` as booleans, a trap for anyone writing button
    labels; with this loader they stay text, as in YAML 1.2.
    """


FlowYamlLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in SafeLoader.yaml_implicit_resolvers.items()
}
FlowYamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def parse_source(text: str, name: str) -> tuple[SourceDoc | None, list[FlowProblem]]:
    loader = FlowYamlLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, [FlowProblem(name, 1, 0, "the file is empty; a flow needs id, title, "
                                                  "start and states")]
        problems: list[FlowProblem] = []
        doc = SourceDoc(name, None)
        walker = _Walker(loader, doc, problems)
        walker.walk(node, ())
        if walker.looped:
            return None, problems
        doc.data = overlaid(name, loader.construct_document(node))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 0)
        what = exc.problem or exc.context or "invalid YAML"
        return None, [FlowProblem(name, line, col, f"YAML syntax error: {what}")]
    except yaml.YAMLError as exc:
        return None, [FlowProblem(name, 1, 0, f"YAML error: {exc}")]
    finally:
        loader.dispose()
    return doc, problems


class _Walker:
    """Records positions; an alias is walked once only (no "billion laughs"), and an alias
    that contains itself is reported instead of recursing forever."""

    def __init__(self, loader: yaml.SafeLoader, doc: SourceDoc,
                 problems: list[FlowProblem]) -> None:
        self.loader = loader
        self.doc = doc
        self.problems = problems
        self.done: set[int] = set()
        self.open: set[int] = set()
        self.looped = False

    def fail(self, mark: yaml.Mark, message: str) -> None:
        self.problems.append(FlowProblem(self.doc.path, mark.line + 1, mark.column + 1, message))

    def walk(self, node: yaml.Node, at: PathKey) -> None:
        mark = node.start_mark
        self.doc.where.setdefault(at, (mark.line + 1, mark.column + 1))
        if id(node) in self.open:
            self.fail(mark, "an alias refers to itself; YAML anchors here must not loop")
            self.looped = True
            return
        if id(node) in self.done:
            return
        self.open.add(id(node))
        if isinstance(node, yaml.MappingNode):
            self._mapping(node, at)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                self.walk(item, (*at, index))
        self.open.discard(id(node))
        self.done.add(id(node))

    def _mapping(self, node: yaml.MappingNode, at: PathKey) -> None:
        seen: set[Any] = set()
        for key_node, value_node in node.value:
            key = self._key(key_node)
            child = (*at, key)
            key_mark = key_node.start_mark
            if key in seen:
                self.fail(key_mark, f"duplicate key '{key}'")
            seen.add(key)
            self.doc.key_where[child] = (key_mark.line + 1, key_mark.column + 1)
            self.walk(value_node, child)

    def _key(self, key_node: yaml.Node) -> Any:
        """The key as the data will hold it (`1:` is the number 1), so positions match."""
        if isinstance(key_node, yaml.ScalarNode):
            try:
                key = self.loader.construct_object(key_node)
                hash(key)
                return key
            except (yaml.YAMLError, TypeError):
                return key_node.value
        return str(key_node)
