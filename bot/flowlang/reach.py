"""Which states can be reached, and which can never be left: one answer for both the check
(which reports them) and the map (which draws them styled), so the two never disagree."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from bot.flowlang.model import FlowSpec, Route, StateSpec


def routes_of(state: StateSpec) -> list[Route]:
    """Every way on from a state: its buttons, then its `next` routes."""
    return [c.route for c in state.choices] + list(state.next)


def cross_flow_entries(flows: Iterable[FlowSpec],
                       core_entries: Mapping[str, tuple[str, ...]]) -> dict[str, set[str]]:
    """The states entered from outside their flow's start, by flow: the ones the core enters
    by itself and the `flow: X, at: S` targets of other flows."""
    entries: dict[str, set[str]] = {k: set(v) for k, v in core_entries.items()}
    for flow in flows:
        for state in flow.states.values():
            for route in routes_of(state):
                if route.target.kind == "flow" and route.target.state:
                    entries.setdefault(route.target.flow or "", set()).add(route.target.state)
    return entries


def reachable(flow: FlowSpec, entered_at: set[str]) -> set[str]:
    """The states something leads to, from the start and the states entered from outside."""
    if flow.start not in flow.states:
        return set()
    seen: set[str] = set()
    todo = [flow.start, *sorted(entered_at & set(flow.states))]
    while todo:
        name = todo.pop()
        if name in seen or name not in flow.states:
            continue
        seen.add(name)
        for route in routes_of(flow.states[name]):
            if route.target.kind in ("state", "call") and route.target.state:
                todo.append(route.target.state)
    return seen


def no_way_on(state: StateSpec) -> bool:
    """A state with nothing after it: no buttons or ask and no `next`, or text kept with no
    `next` to follow."""
    return (not state.interactive and not state.next) or bool(state.keeps_text and not
                                                               state.next)


def trapped_groups(flow: FlowSpec, reached: set[str], home: str) -> list[list[str]]:
    """The groups of reached states whose every way on stays inside the group, so the flow
    can never be left from there (a choice that only loops back to its own state, two states
    that only lead to each other), each in file order. Ways out are other flows, `return` and
    `resume`; in the home flow, its start too. States with no way on are not included."""
    edges: dict[str, set[str]] = {}
    escapes: set[str] = set()
    for name in reached:
        state = flow.states[name]
        if no_way_on(state):
            escapes.add(name)  # a dead end of its own
            continue
        edges[name] = set()
        for route in routes_of(state):
            target = route.target
            if target.kind != "state" or target.state not in flow.states or (
                    flow.id == home and target.state == flow.start):
                escapes.add(name)
            else:
                edges[name].add(target.state or "")
    can_leave = set(escapes)
    changed = True
    while changed:
        changed = False
        for name, following in edges.items():
            if name not in can_leave and following & can_leave:
                can_leave.add(name)
                changed = True
    trapped = {name for name in edges if name not in can_leave}
    order = list(flow.states)
    return [sorted(group, key=order.index) for group in _closed_groups(trapped, edges)]


def dead_ends(flow: FlowSpec, reached: set[str], home: str) -> list[str]:
    """Every state from which the flow can never be left, in file order: states with no way
    on, and the states of trapped groups (self-moving loops included)."""
    found = {name for name, state in flow.states.items() if no_way_on(state)}
    for group in trapped_groups(flow, reached, home):
        found.update(group)
    return [name for name in flow.states if name in found]


def _closed_groups(nodes: set[str], edges: dict[str, set[str]]) -> list[set[str]]:
    """The groups of `nodes` that nothing leads out of: each node's every path stays in
    its group (strongly connected components with no edge to another component)."""
    reach: dict[str, set[str]] = {}
    for node in nodes:
        seen, todo = {node}, [node]
        while todo:
            for following in edges.get(todo.pop(), set()):
                if following in nodes and following not in seen:
                    seen.add(following)
                    todo.append(following)
        reach[node] = seen
    groups: list[set[str]] = []
    for node in sorted(nodes):
        group = {other for other in reach[node] if node in reach[other]}
        if group == reach[node] and group not in groups:
            groups.append(group)
    return groups
