"""Stage two: checks across states and flows (targets, reachability, slots, registry names)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from bot.config import CONFIG_ENV, TEMPLATE_PREFIX
from bot.flowlang.errors import FlowProblem, did_you_mean
from bot.flowlang.model import Call, FlowSpec, Route, StateSpec, home_flow
from bot.flowlang.parse import NAME, node_at
from bot.flowlang.reach import cross_flow_entries, reachable, trapped_groups
from bot.flowlang.registry import Registered, Registry
from bot.flowlang.source import PathKey, SourceDoc
from bot.templates import placeholders

MAX_CHOICES = 25
CONFIG_TEMPLATE_NAMES = frozenset(TEMPLATE_PREFIX + key for key in CONFIG_ENV)


class FlowSetChecker:
    """Checks a whole set of flows at once; flows refer to each other."""

    def __init__(
        self,
        flows: list[tuple[FlowSpec, SourceDoc]],
        registry: Registry,
        core_entries: Mapping[str, tuple[str, ...]] | None = None,
    ) -> None:
        """`core_entries`: states the core enters by itself, which count as reachable."""
        self.flows = flows
        self.core_entries = core_entries or {}
        self.by_id: dict[str, tuple[FlowSpec, SourceDoc]] = {}
        self.registry = registry
        self.problems: list[FlowProblem] = []

    def check(self) -> list[FlowProblem]:
        for flow, doc in self.flows:
            if flow.id in self.by_id:
                other = self.by_id[flow.id][1].path
                self.problems.append(doc.problem(("id",), f"duplicate flow id '{flow.id}' "
                                                          f"(also in {other})"))
            else:
                self.by_id[flow.id] = (flow, doc)
        self.home = home_flow(self.by_id)
        defined = self._defined_slots()
        entries = self._cross_flow_entries()
        for flow, doc in self.flows:  # duplicates too: their other problems still count
            self._check_flow(flow, doc, defined, entries.get(flow.id, set()))
        return self.problems

    # -- per flow -------------------------------------------------------------------------

    def _check_flow(
        self, flow: FlowSpec, doc: SourceDoc, defined: set[str], entered_at: set[str]
    ) -> None:
        if flow.start not in flow.states:
            self._fail(doc, ("start",), f"start state '{flow.start}' does not exist"
                                        f"{did_you_mean(flow.start, flow.states)}")
        for state in flow.states.values():
            base: PathKey = ("states", state.name)
            self._check_shape(flow, doc, state, base)
            for where, route in self._routes(doc, state):
                self._check_route(flow, doc, route, where, defined)
            for index, text in enumerate(state.say):
                where = (*base, "say", index) if isinstance(_raw(doc, base, "say"), list) else (
                    *base, "say")
                self._check_template(doc, where, text, defined)
            for index, choice in enumerate(state.choices):
                self._check_template(doc, (*base, "choices", index, "label"), choice.label, defined)
            self._check_calls(doc, (*base, "do"), state.actions, self.registry.actions, "action",
                              defined)
            if state.ask and state.ask.skip_label:
                self._check_template(doc, (*base, "ask", "skip"), state.ask.skip_label, defined)
            if state.ask and state.ask.address:
                self._check_address(doc, (*base, "ask", "address"), state.ask.address)
            if state.on_text and state.on_text.address:
                self._check_address(doc, (*base, "on_text", "address"), state.on_text.address)
        reached = self._check_reachable(flow, doc, entered_at)
        self._check_auto_cycles(flow, doc)
        self._check_trapped(flow, doc, reached)

    def _check_shape(self, flow: FlowSpec, doc: SourceDoc, state: StateSpec,
                     base: PathKey) -> None:
        name = state.name
        if not state.interactive and not state.next:
            self._fail(doc, base, f"state '{name}' is a dead end: give it choices, an ask, or "
                                  "'next'", key=True)
        kept = state.keeps_text
        if state.ask and not state.next:
            self._fail(doc, (*base, "ask"), f"state '{name}' asks for '{state.ask.slot}' but "
                                            "has no 'next' to go to after the answer")
        elif kept and not state.next:
            self._fail(doc, (*base, "on_text"), f"state '{name}' keeps text in '{kept.slot}' "
                                                "but has no 'next' to go to after it")
        if state.choices and state.next and not kept:
            self._fail(doc, (*base, "next"), f"state '{name}' has choices, so its 'next' is "
                                             "never used (next follows an ask, or a state "
                                             "with no choices)")
        if state.next and state.next[-1].when:
            where = (*base, "next", len(state.next) - 1) if isinstance(
                _raw(doc, base, "next"), list) else (*base, "next")
            self._fail(doc, where, f"the last route of '{name}' has a condition; end with a "
                                   "route without 'if'/'unless' so there is always a way on")
        buttons = len(state.choices) + (1 if state.ask and state.ask.skip_label else 0) + (
            1 if self._gets_menu_button(flow, state) else 0)
        if buttons > MAX_CHOICES:
            self._fail(doc, (*base, "choices"), f"state '{name}' offers more than "
                                                f"{MAX_CHOICES} choices (counting the Menu "
                                                "button the core adds)")
        if state.choices and not state.ask and all(c.route.when for c in state.choices):
            self._fail(doc, base, f"state '{name}' may show no buttons: every choice has "
                                  "'if' or 'unless'. Add a choice without a condition, so "
                                  "there is always a way on", key=True)
        if not state.say and state.interactive:
            self._fail(doc, base, f"state '{name}' waits for the person but says nothing; "
                                  "add 'say'", key=True)

    def _gets_menu_button(self, flow: FlowSpec, state: StateSpec) -> bool:
        """The core adds a Menu button unless the flow opts out, is the menu itself, or the
        state has its own way to the menu (counted as if always shown)."""
        if not flow.menu_button or flow.id == self.home or not state.interactive:
            return False
        return not any(c.route.target.kind == "flow" and c.route.target.flow == self.home
                       for c in state.choices)

    def _routes(self, doc: SourceDoc, state: StateSpec) -> Iterator[tuple[PathKey, Route]]:
        base: PathKey = ("states", state.name)
        for index, choice in enumerate(state.choices):
            yield (*base, "choices", index), choice.route
        listed = isinstance(_raw(doc, base, "next"), list)
        for index, route in enumerate(state.next):
            yield ((*base, "next", index) if listed else (*base, "next")), route

    def _check_route(
        self, flow: FlowSpec, doc: SourceDoc, route: Route, where: PathKey, defined: set[str]
    ) -> None:
        target = route.target
        if target.kind == "state" and target.state not in flow.states:
            self._fail(doc, (*where, "to") if _raw_is_map(doc, where) else where,
                       f"'{target.state}' is not a state of flow '{flow.id}'"
                       f"{did_you_mean(target.state or '', flow.states)}")
        if target.kind in ("flow", "call"):
            key = "flow" if target.kind == "flow" else "call"
            other = self.by_id.get(target.flow or "")
            if other is None:
                self._fail(doc, (*where, key), f"there is no flow '{target.flow}'"
                                               f"{did_you_mean(target.flow or '', self.by_id)}")
            elif target.kind == "flow" and target.state and target.state not in other[0].states:
                self._fail(doc, (*where, "at"), f"'{target.state}' is not a state of flow "
                                                f"'{target.flow}'")
        if target.kind == "call" and target.state not in flow.states:
            self._fail(doc, (*where, "then"), f"'{target.state}' is not a state of flow "
                                              f"'{flow.id}'")
        self._check_calls(doc, (*where, "if"), route.when, self.registry.conditions, "condition",
                          defined)
        self._check_calls(doc, (*where, "do"), route.actions, self.registry.actions, "action",
                          defined)
        for slot, value in route.sets:
            self._check_template(doc, (*where, "set", slot), value, defined)

    def _check_calls(
        self,
        doc: SourceDoc,
        where: PathKey,
        calls: Iterable[Call],
        known: dict[str, Registered],
        what: str,
        defined: set[str],
    ) -> None:
        for call in calls:
            at = where if not call.negate else (*where[:-1], "unless")
            entry = known.get(call.name)
            if entry is None:
                self._fail(doc, at, f"unknown {what} '{call.name}'"
                                    f"{did_you_mean(call.name, known)}; known: "
                                    f"{', '.join(sorted(known))}")
                continue
            problem = _arg_problem(entry, call.arg, set(self.by_id))
            if problem:
                self._fail(doc, at, f"{what} '{call.name}': {problem}")
                continue
            for slot in _slots_read(entry, call.arg):
                if slot not in defined:
                    self._fail(doc, at, f"{what} '{call.name}' uses slot '{slot}', which no "
                                        f"flow ever asks for or sets{did_you_mean(slot, defined)}")

    def _check_address(self, doc: SourceDoc, where: PathKey, name: str) -> None:
        known = self.registry.addresses
        if name not in known:
            self._fail(doc, where, f"unknown address '{name}'{did_you_mean(name, known)}; "
                                   f"known: {', '.join(sorted(known)) or 'none'}")

    def _check_template(
        self, doc: SourceDoc, where: PathKey, text: str, defined: set[str]
    ) -> None:
        names, invalid = placeholders(text)
        for bad in invalid:
            self._fail(doc, where, f"stray '$' in \"{bad}\": write ${{slot}} for an answer, "
                                   "or $$ for a dollar sign")
        for name in sorted(names - defined - CONFIG_TEMPLATE_NAMES):
            self._fail(doc, where, f"template uses '${{{name}}}', but no flow ever asks for or "
                                   f"sets slot '{name}'{did_you_mean(name, defined)}")

    def _check_reachable(
        self, flow: FlowSpec, doc: SourceDoc, entered_at: set[str]
    ) -> set[str]:
        """Reports the states nothing leads to; returns the ones something does."""
        if flow.start not in flow.states:
            return set()
        seen = reachable(flow, entered_at)
        for name in flow.states:
            if name not in seen:
                self._fail(doc, ("states", name), f"state '{name}' can never be reached from "
                                                  f"'{flow.start}'", key=True)
        return seen

    def _check_auto_cycles(self, flow: FlowSpec, doc: SourceDoc) -> None:
        """States that move on by themselves must not be able to loop without the person,
        through any of their routes (conditions may change between visits)."""
        auto = {n: s for n, s in flow.states.items() if not s.interactive}
        edges = {n: [r.target.state for r in s.next
                     if r.target.kind == "state" and r.target.state in auto]
                 for n, s in auto.items()}
        reported: set[frozenset[str]] = set()
        for name in auto:
            cycle = _cycle_from(name, edges)
            if cycle and frozenset(cycle) not in reported:
                reported.add(frozenset(cycle))
                self._fail(doc, ("states", name), "states move on by themselves in a "
                                                  f"loop: {' -> '.join(cycle)}", key=True)

    def _check_trapped(self, flow: FlowSpec, doc: SourceDoc, reached: set[str]) -> None:
        """A group of states whose every way on stays inside the group: the flow can never
        be left from there (a choice that only loops back to its own state, say)."""
        for names in trapped_groups(flow, reached, self.home):
            if all(not flow.states[n].interactive for n in names):
                continue  # a loop of self-moving states: reported by _check_auto_cycles
            loop = " -> ".join([*names, names[0]])
            self._fail(doc, ("states", names[0]), f"state '{names[0]}' is a dead end: from "
                                                  f"here the flow only goes round ({loop}) "
                                                  "and can never be left. Give one of these "
                                                  "states a way on: another state that leads "
                                                  "out, another flow, 'return: true' or "
                                                  "'resume: true'", key=True)

    # -- whole set ------------------------------------------------------------------------

    def _defined_slots(self) -> set[str]:
        defined: set[str] = set()
        for flow, _ in self.by_id.values():
            defined |= slots_written(flow, self.registry)
        return defined

    def _cross_flow_entries(self) -> dict[str, set[str]]:
        return cross_flow_entries((flow for flow, _ in self.by_id.values()), self.core_entries)

    def _fail(self, doc: SourceDoc, at: PathKey, message: str, *, key: bool = False) -> None:
        self.problems.append(doc.problem(at, message, key=key, node=node_at(doc, at)))


def _cycle_from(start: str, edges: dict[str, list[str]]) -> list[str] | None:
    """A path start -> ... -> start through `edges`, if there is one."""
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    seen: set[str] = set()
    while stack:
        node, path = stack.pop()
        for following in edges.get(node, []):
            if following == start:
                return [*path, start]
            if following not in seen:
                seen.add(following)
                stack.append((following, [*path, following]))
    return None


def slots_written(flow: FlowSpec, registry: Registry) -> set[str]:
    """Every slot this flow can fill: asks, `set:`, and actions that write slots."""
    slots: set[str] = set()
    for state in flow.states.values():
        if state.keeps_text:
            slots.add(state.keeps_text.slot)
        calls = list(state.actions)
        for route in [c.route for c in state.choices] + list(state.next):
            slots.update(slot for slot, _ in route.sets)
            calls.extend(route.actions)
        for call in calls:
            entry = registry.actions.get(call.name)
            if entry is None:
                continue
            slots.update(entry.writes)
            if entry.arg == "slot_values" and isinstance(call.arg, dict):
                slots.update(str(k) for k in call.arg)
    return slots


def _arg_problem(entry: Registered, arg: Any, flow_ids: set[str]) -> str | None:
    kind = entry.arg
    if kind == "none":
        return None if arg in (None, True) else "takes no argument"
    if arg is None:
        return f"needs an argument ({kind})"
    if kind == "config":
        if arg not in CONFIG_ENV:
            return f"'{arg}' is not a setting; known: {', '.join(sorted(CONFIG_ENV))}"
        return None
    if kind in ("slot", "text", "flow"):
        if not isinstance(arg, str):
            return f"argument must be a {kind} name"
        if kind == "slot" and not NAME.match(arg):
            return f"'{arg}' is not a valid slot name"
        if kind == "flow" and arg not in flow_ids:
            return f"there is no flow '{arg}'{did_you_mean(arg, flow_ids)}"
        return None
    if kind == "slots":
        items = arg if isinstance(arg, list) else [arg]
        if not all(isinstance(i, str) and NAME.match(i) for i in items):
            return "argument must be a slot name or a list of slot names"
        return None
    if kind == "mentions":
        return _mentions_problem(arg)
    if not isinstance(arg, dict) or not arg:
        return "argument must map slot names to values"
    if not all(isinstance(k, str) and NAME.match(k) for k in arg):
        return "keys must be slot names"
    if kind == "slot_cues" and not all(
            isinstance(v, list) and v and all(isinstance(w, str) and w.strip() for w in v)
            for v in arg.values()):
        return "each slot needs a list of cue words, e.g. {reflect_x: [lonely, unseen]}"
    return None


def _mentions_problem(arg: Any) -> str | None:
    """`{slot: name, any: [phrases], and_any: [phrases]}`: and_any is optional."""
    if not isinstance(arg, dict) or not isinstance(arg.get("slot"), str) or not NAME.match(
            arg["slot"]):
        return "argument must be {slot: name, any: [phrases], and_any: [phrases]}"
    unknown = set(arg) - {"slot", "any", "and_any"}
    if unknown:
        return f"unknown key '{sorted(unknown)[0]}'; use slot, any and and_any"
    for key in ("any", "and_any"):
        if key not in arg and key == "and_any":
            continue
        phrases = arg.get(key)
        if not isinstance(phrases, list) or not phrases or not all(
                isinstance(p, str) and p.strip() for p in phrases):
            return f"'{key}' must be a list of phrases"
    return None


def _slots_read(entry: Registered, arg: Any) -> list[str]:
    if entry.arg == "slot" and isinstance(arg, str):
        return [arg]
    if entry.arg == "mentions" and isinstance(arg, dict) and isinstance(arg.get("slot"), str):
        return [arg["slot"]]
    if entry.arg in ("slot_values", "slot_cues") and isinstance(arg, dict) \
            and entry.name != "set_slot":
        return [str(k) for k in arg]
    return []


def _raw(doc: SourceDoc, base: PathKey, key: str) -> Any:
    node: Any = doc.data
    for part in (*base, key):
        if not isinstance(node, dict | list):
            return None
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return None
    return node


def _raw_is_map(doc: SourceDoc, where: PathKey) -> bool:
    node: Any = doc.data
    for part in where:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return False
    return isinstance(node, dict)
