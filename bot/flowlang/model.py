"""The parsed flow: plain frozen records, independent of YAML and of the state machine."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from bot.quotes import straighten

MENU_FLOW = "menu"
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
    """A free-text answer kept in `slot`.

    `strip_prefix`: phrases taken off the front of the answer before it is kept, for
    questions worded "as if finishing 'I feel…'", where people often type the start too.
    `address`: whom the kept words will be said to (a registered way to readdress them,
    such as `partner`: "he texts" is kept as "you text"), applied after `strip_prefix`.
    """

    slot: str
    max_length: int = 1000
    min_length: int = 1
    skip_label: str | None = None
    strip_prefix: tuple[str, ...] = ()
    address: str | None = None

    def cleaned(self, text: str) -> str:
        """The answer as it will be kept: the first matching prefix (longest first, any
        capitals, straight or curly apostrophes) removed, with the blanks and punctuation
        after it. An answer that is only the prefix is kept as typed."""
        for prefix in sorted(self.strip_prefix, key=len, reverse=True):
            head, rest = text[:len(prefix)], text[len(prefix):]
            if _fold(head) != _fold(prefix):
                continue
            if rest[:1].isalnum() and prefix[-1:].isalnum():
                continue  # "feelings" does not start with the word "feeling"
            rest = rest.lstrip(" \t\n.:,;-–—…")
            return rest if rest else text
        return text


@dataclass(frozen=True)
class StateSpec:
    name: str
    say: tuple[str, ...] = ()
    actions: tuple[Call, ...] = ()
    choices: tuple[ChoiceSpec, ...] = ()
    ask: AskSpec | None = None
    next: tuple[Route, ...] = ()
    context: str | None = None  # where typed text is written (bot/setting.py); else the flow's
    on_text: AskSpec | None = None  # at a step with buttons: where other typed text goes

    @property
    def keeps_text(self) -> AskSpec | None:
        """What typed text (that is no button) fills here: the ask, or `on_text`."""
        return self.ask or self.on_text

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
    menu_button: bool = True
    context: str = "chat"  # the default for its states


def map_id(flow_id: str, state: str) -> str:
    """A state's one name across all flows (`talk.opener`): its node on the flow map, and
    what `coach flows check` names, so an error leads to the node."""
    return f"{flow_id}.{state}"


def home_flow(flow_ids: Iterable[str]) -> str:
    """Where /start lands: the `menu` flow, or the first flow by name when there is none."""
    ids = set(flow_ids)
    return MENU_FLOW if MENU_FLOW in ids or not ids else min(ids)


def _fold(text: str) -> str:
    return straighten(text).casefold()
