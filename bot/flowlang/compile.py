"""Stage three: one `transitions` machine per flow, built once and shared by every user.

A person's place lives in their session, not in a machine. To take a step the engine hands
the machine a `Place` made for that one call (the session's state), fires one trigger, and
the machine does the routing: its conditions choose the route, and the state it lands on is
the person's next state. A route that leaves the flow (to another flow, a call, a return) is
an internal transition: the machine records the route and the engine hands over.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from transitions import EventData, Machine

from bot.flowlang.model import FlowSpec, Route
from bot.flowlang.registry import Registry

ANSWER = "answer"
ADVANCE = "advance"
SKIP = "skip"


def pick(index: int) -> str:
    return f"pick_{index}"


class Place:
    """What a machine moves for one trigger: a state, and the route that was taken. Made
    afresh for each call, so no two people ever share it."""

    __slots__ = ("route", "state")

    def __init__(self, state: str) -> None:
        self.state = state
        self.route: Route | None = None


@dataclass(frozen=True)
class Fired:
    """Where a trigger led: the state the machine landed on, by which route."""

    state: str
    route: Route


@dataclass
class CompiledFlow:
    spec: FlowSpec
    machine: Machine

    def fire(self, state: str, trigger: str, ctx: Any) -> Fired | None:
        """Fire one trigger from `state`; None when no route of it holds there now.

        Triggers are the engine's own names (`pick_2`, `answer`); a trigger this flow never
        declared, or one its state does not have, is simply not taken."""
        event = self.machine.events.get(trigger)
        if event is None:
            return None
        place = Place(state)
        if not event.trigger(place, ctx=ctx) or place.route is None:
            return None
        return Fired(place.state, place.route)


def compile_flow(spec: FlowSpec, registry: Registry) -> CompiledFlow:
    machine = Machine(
        model=None,
        states=list(spec.states),
        initial=spec.start,
        auto_transitions=False,
        send_event=True,
        ignore_invalid_triggers=True,
    )
    for name, state in spec.states.items():
        for index, choice in enumerate(state.choices):
            _add(machine, registry, pick(index), name, choice.route)
        after_text = ANSWER if state.keeps_text else ADVANCE
        if state.keeps_text or not state.choices:
            for route in state.next:
                _add(machine, registry, after_text, name, route)
            if state.ask and state.ask.skip_label:
                for route in state.next:
                    _add(machine, registry, SKIP, name, route)
    return CompiledFlow(spec, machine)


def _add(machine: Machine, registry: Registry, trigger: str, source: str, route: Route) -> None:
    dest = route.target.state if route.target.kind == "state" else None
    machine.add_transition(
        trigger,
        source,
        dest,
        conditions=[_holds(registry, route)] if route.when else [],
        after=[_taken(route)],
    )


def _holds(registry: Registry, route: Route) -> Callable[[EventData], bool]:
    """The route's conditions, through the registry's one evaluator (the same that decides
    which buttons show)."""
    when = route.when

    def check(event: EventData) -> bool:
        return registry.holds(event.kwargs["ctx"], when)

    return check


def _taken(route: Route) -> Callable[[EventData], None]:
    def taken(event: EventData) -> None:
        event.model.route = route

    return taken
