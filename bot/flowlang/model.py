"""The parsed flow: plain frozen records, independent of YAML and of the state machine."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

TargetKind = Literal["state", "flow", "call", "return", "resume"]


@dataclass(frozen=True)
class Call:
    """A registered condition or action by name, with its argument from YAML."""

    name: str
    arg: Any = None
    negate: bool = False


@dataclass(frozen=True)
class Target:
    """Where a choice or route leads.

    state: a state of this flow; flow: another flow (its start, or `state` in it);
    call: another flow, coming back to `state` of this flow when it returns;
    return: back to whoever called this flow (the menu if nobody did);
    resume: back to where the person last was outside the menu.
    """

    kind: TargetKind
    state: str | None = None
    flow: str | None = None


@dataclass(frozen=True)
class Route:
    """One way out of a state: taken when all its conditions hold."""

    target: Target
    when: tuple[Call, ...] = ()
    actions: tuple[Call, ...] = ()
    sets: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ChoiceSpec:
    label: str
    route: Route


@dataclass(frozen=True)
class AskSpec:
    """A free-text answer kept in `slot`."""

    slot: str
    max_length: int = 1000
    min_length: int = 1
    skip_label: str | None = None


@dataclass(frozen=True)
class StateSpec:
    name: str
    say: tuple[str, ...] = ()
    actions: tuple[Call, ...] = ()
    choices: tuple[ChoiceSpec, ...] = ()
    ask: AskSpec | None = None
    next: tuple[Route, ...] = ()

    @property
    def interactive(self) -> bool:
        """A state that waits for the person (buttons or free text)."""
        return bool(self.choices or self.ask)


@dataclass(frozen=True)
class FlowSpec:
    id: str
    title: str
    start: str
    states: dict[str, StateSpec]
    path: str
    description: str = ""
    slots: frozenset[str] = field(default_factory=frozenset)
