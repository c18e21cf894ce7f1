"""Stage three: one `transitions` machine per flow, built once and shared by every user.

A person's place lives in their session, not in a machine. To take a step the engine puts
the shared cursor on the session's state, fires one trigger, and reads where it landed; all of
that is synchronous, so no other coroutine can move the cursor in between.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from transitions import EventData, Machine

from bot.flowlang.model import Call, FlowSpec, Route
from bot.flowlang.registry import Registry

ANSWER = "answer"
ADVANCE = "advance"
SKIP = "skip"


def pick(index: int) -> str:
    return f"pick_{index}"


class _Cursor:
    """The single model object a flow's machine moves; never holds anyone's data."""

    state: str


@dataclass
class CompiledFlow:
    spec: FlowSpec
    machine: Machine
    cursor: _Cursor
    triggers: dict[str, frozenset[str]] = field(default_factory=dict)

    def fire(self, state: str, trigger: str, ctx: Any) -> tuple[str, Route] | None:
        """Fire one trigger from `state`; the route taken and the state reached, or None.

        Only triggers declared for this state can fire: arbitrary text never reaches the
        machine as a method name.
        """
        if trigger not in self.triggers.get(state, frozenset()):
            return None
        self.machine.set_state(state, model=self.cursor)
        ctx.taken = None
        if not self.machine.events[trigger].trigger(self.cursor, ctx=ctx):
            return None
        return self.cursor.state, ctx.taken


def compile_flow(spec: FlowSpec, registry: Registry) -> CompiledFlow:
    cursor = _Cursor()
    machine = Machine(
        model=cursor,
        states=list(spec.states),
        initial=spec.start,
        auto_transitions=False,
        send_event=True,
        ignore_invalid_triggers=False,
    )
    triggers: dict[str, set[str]] = {name: set() for name in spec.states}
    for name, state in spec.states.items():
        for index, choice in enumerate(state.choices):
            _add(machine, registry, pick(index), name, choice.route)
            triggers[name].add(pick(index))
        after_text = ANSWER if state.ask else ADVANCE
        if state.ask or not state.choices:
            for route in state.next:
                _add(machine, registry, after_text, name, route)
                triggers[name].add(after_text)
            if state.ask and state.ask.skip_label:
                for route in state.next:
                    _add(machine, registry, SKIP, name, route)
                triggers[name].add(SKIP)
    return CompiledFlow(spec, machine, cursor, {k: frozenset(v) for k, v in triggers.items()})


def _add(machine: Machine, registry: Registry, trigger: str, source: str, route: Route) -> None:
    dest = route.target.state if route.target.kind == "state" else None
    machine.add_transition(
        trigger,
        source,
        dest,
        conditions=[_condition(registry, call) for call in route.when],
        after=[_record(route)],
    )


def _condition(registry: Registry, call: Call) -> Callable[[EventData], bool]:
    func = registry.conditions[call.name].func

    def check(event: EventData) -> bool:
        return bool(func(event.kwargs["ctx"], call.arg)) != call.negate

    return check


def _record(route: Route) -> Callable[[EventData], None]:
    def record(event: EventData) -> None:
        event.kwargs["ctx"].taken = route

    return record
