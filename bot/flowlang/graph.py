"""The flow map as data: nodes and edges drawn from the parsed flow model (never from YAML
text), so the map shows what the machine will do, and a renderer only chooses the look.

Node ids are the states' map ids (`talk.opener`, as `coach flows check` names them). Nodes
that are no state have ids a state can never have (`talk._return`: state names start with a
letter), so the ids of a map are stable from run to run and a diff of two maps reads.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from bot.flowlang.model import Call, FlowSpec, Route, StateSpec, home_flow, map_id
from bot.flowlang.reach import cross_flow_entries, dead_ends, reachable

NodeKind = Literal["buttons", "ask", "auto", "return", "resume", "handoff", "safety", "commands"]
EdgeKind = Literal["button", "text", "auto", "flow", "call", "back", "return", "resume",
                   "safety", "command"]
MAX_CONDITION = 48


@dataclass(frozen=True)
class Jump:
    """A way out of any step that no flow declares: the core entering a state by itself
    (`safety`: the screen flagged a message) or a command (`command`). `flow` None means
    the flow the person is in; `state` None means that flow's start."""

    kind: Literal["safety", "command"]
    label: str
    flow: str | None = None
    state: str | None = None


@dataclass(frozen=True)
class Node:
    id: str
    flow: str
    label: str
    kind: NodeKind
    detail: str = ""  # what the step does and where its typed text is written
    start: bool = False
    dead_end: bool = False
    unreachable: bool = False


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    kind: EdgeKind
    label: str = ""
    condition: str = ""


@dataclass
class FlowMap:
    """One flow's part of the map: its states, the nodes it hands over to, and its edges."""

    flow: str
    title: str
    context: str = "chat"  # where typed text is written, unless a state says otherwise
    nodes: list[Node] = field(default_factory=list)
    outside: list[Node] = field(default_factory=list)  # other flows' nodes it leads to
    edges: list[Edge] = field(default_factory=list)

    @property
    def dead_ends(self) -> list[str]:
        return [n.id for n in self.nodes if n.dead_end]

    @property
    def unreachable(self) -> list[str]:
        return [n.id for n in self.nodes if n.unreachable]


def build_maps(flows: Sequence[FlowSpec], jumps: Sequence[Jump] = (),
               core_entries: Mapping[str, tuple[str, ...]] | None = None,
               only: Iterable[str] | None = None) -> list[FlowMap]:
    """A map per flow (those in `only`, else all, in id order); `flows` is the whole set, so
    hand-offs resolve and reachability counts entries from other flows."""
    by_id = {flow.id: flow for flow in flows}
    home = home_flow(by_id)
    entries = cross_flow_entries(flows, core_entries or {})
    wanted = sorted(by_id) if only is None else list(only)
    return [_flow_map(by_id[flow_id], by_id, home, entries.get(flow_id, set()), jumps)
            for flow_id in wanted]


def _flow_map(flow: FlowSpec, by_id: Mapping[str, FlowSpec], home: str, entered: set[str],
              jumps: Sequence[Jump]) -> FlowMap:
    reached = reachable(flow, entered)
    stuck = set(dead_ends(flow, reached, home))
    drawn = FlowMap(flow.id, flow.title, flow.context)
    for name, state in flow.states.items():
        drawn.nodes.append(Node(map_id(flow.id, name), flow.id, name, _kind(state),
                                _detail(flow, state), start=name == flow.start,
                                dead_end=name in stuck, unreachable=name not in reached))
        _state_edges(drawn, flow, state, by_id)
    _jump_edges(drawn, flow, by_id, jumps)
    return drawn


def _kind(state: StateSpec) -> NodeKind:
    return "ask" if state.ask else "buttons" if state.choices else "auto"


def _detail(flow: FlowSpec, state: StateSpec) -> str:
    parts = []
    if state.ask:
        parts.append(f"asks: {state.ask.slot}")
    elif state.on_text:
        parts.append(f"typed text: {state.on_text.slot}")
    elif not state.choices and state.next:
        parts.append("moves on")
    if state.context and state.context != flow.context:
        parts.append(f"context: {state.context}")
    return " · ".join(parts)


def _state_edges(drawn: FlowMap, flow: FlowSpec, state: StateSpec,
                 by_id: Mapping[str, FlowSpec]) -> None:
    source = map_id(flow.id, state.name)
    for choice in state.choices:
        _route_edge(drawn, flow, source, choice.route, "button", f"[{choice.label}]", by_id)
    kept = state.keeps_text
    if kept or not state.choices:
        label = ""
        if kept:
            label = "typed answer" if state.ask else "typed text"
            if state.ask and state.ask.skip_label:
                label += f" or [{state.ask.skip_label}]"
        for route in state.next:
            _route_edge(drawn, flow, source, route, "text" if kept else "auto", label, by_id)


def _route_edge(drawn: FlowMap, flow: FlowSpec, source: str, route: Route, kind: EdgeKind,
                label: str, by_id: Mapping[str, FlowSpec]) -> None:
    target = route.target
    condition = short_condition(route.when)
    if target.kind == "state":
        _add(drawn, Edge(source, map_id(flow.id, target.state or ""), kind, label, condition))
    elif target.kind in ("return", "resume"):
        end = _end_node(drawn, flow, target.kind)
        _add(drawn, Edge(source, end, kind, label, condition))
    else:
        # `flow:` may name a state of the other flow (`at:`); `call:` starts it, and its
        # `state` is where this flow takes up again.
        at = target.state if target.kind == "flow" else None
        other = _outside(drawn, by_id, target.flow or "", at)
        hand = "flow" if target.kind == "flow" else "call"
        _add(drawn, Edge(source, other, hand, _join(label, hand if hand == "call" else ""),
                         condition))
        if target.kind == "call":
            drawn.edges.append(Edge(source, map_id(flow.id, target.state or ""), "back",
                                    f"when {target.flow} returns"))


def _add(drawn: FlowMap, edge: Edge) -> None:
    """Buttons that lead to the same place on the same condition share one edge, their
    labels one under the other."""
    for index, seen in enumerate(drawn.edges):
        if edge.kind == seen.kind == "button" and (seen.source, seen.target, seen.condition) \
                == (edge.source, edge.target, edge.condition):
            drawn.edges[index] = Edge(seen.source, seen.target, seen.kind,
                                      f"{seen.label}\n{edge.label}", seen.condition)
            return
    drawn.edges.append(edge)


def _jump_edges(drawn: FlowMap, flow: FlowSpec, by_id: Mapping[str, FlowSpec],
                jumps: Sequence[Jump]) -> None:
    """The ways out of every step, drawn once per flow from one node each."""
    for kind, text in (("safety", "any step: the safety screen flags a message"),
                       ("commands", "any step: a command")):
        mine = [j for j in jumps if (j.kind == "safety") == (kind == "safety")]
        targets = [(j, j.flow or flow.id) for j in mine if (j.flow or flow.id) in by_id]
        if not targets:
            continue
        node = f"{flow.id}._{kind}"
        drawn.outside.append(Node(node, flow.id, text, kind))
        for jump, flow_id in targets:
            if flow_id == flow.id:
                target = map_id(flow.id, jump.state or flow.start)
            else:
                target = _outside(drawn, by_id, flow_id, jump.state)
            drawn.edges.append(Edge(node, target, "safety" if kind == "safety" else "command",
                                    jump.label))


def _end_node(drawn: FlowMap, flow: FlowSpec, kind: Literal["return", "resume"]) -> str:
    node = f"{flow.id}._{kind}"
    if not any(n.id == node for n in drawn.outside):
        label = ("return: back to the caller" if kind == "return"
                 else "resume: back to where they were")
        drawn.outside.append(Node(node, flow.id, label, kind))
    return node


def _outside(drawn: FlowMap, by_id: Mapping[str, FlowSpec], flow_id: str,
             state: str | None) -> str:
    """Another flow's node (its start unless a state is named), added once."""
    other = by_id.get(flow_id)
    name = state or (other.start if other is not None else "start")
    node = map_id(flow_id, name)
    if not any(n.id == node for n in drawn.outside):
        drawn.outside.append(Node(node, flow_id, node, "handoff"))
    return node


def short_condition(when: Sequence[Call]) -> str:
    """A route's conditions as a short line: `if slot_is role=hurt and not can_return`."""
    if not when:
        return ""
    parts = [("not " if call.negate else "") + call.name + _short_arg(call.arg)
             for call in when]
    text = "if " + " and ".join(parts)
    return text if len(text) <= MAX_CONDITION else text[:MAX_CONDITION - 1].rstrip() + "…"


def _short_arg(arg: Any) -> str:
    if arg is None or arg is True:
        return ""
    if isinstance(arg, dict):
        return " " + ", ".join(f"{k}={_short_value(v)}" for k, v in arg.items())
    return " " + _short_value(arg)


def _short_value(value: Any) -> str:
    if isinstance(value, list):
        return "/".join(str(v) for v in value)
    return str(value)


def _join(*parts: str) -> str:
    return " · ".join(p for p in parts if p)
