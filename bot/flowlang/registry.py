"""Named conditions and actions: the only behaviour a YAML flow can ask for.

YAML names an entry here; it never names Python code. Core features register their own
entries at import time (the coach registers `coach_feedback`, for instance).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from bot.flowlang.model import Call

if TYPE_CHECKING:
    from bot.engine import StepContext

ArgKind = Literal["none", "slot", "slots", "slot_values", "text", "flow", "config"]


@dataclass(frozen=True)
class Registered:
    name: str
    func: Callable[..., Any]
    arg: ArgKind
    doc: str
    writes: tuple[str, ...] = ()


@dataclass
class Registry:
    conditions: dict[str, Registered] = field(default_factory=dict)
    actions: dict[str, Registered] = field(default_factory=dict)

    def condition(self, name: str, arg: ArgKind = "none", doc: str = "") -> Callable:
        def register(func: Callable[[StepContext, Any], bool]) -> Callable:
            self.conditions[name] = Registered(name, func, arg, doc)
            return func

        return register

    def holds(self, ctx: StepContext, conditions: tuple[Call, ...]) -> bool:
        """Whether every condition holds: the one evaluator, used both to choose a route and
        to decide which buttons show."""
        return all(bool(self.conditions[c.name].func(ctx, c.arg)) != c.negate
                   for c in conditions)

    def action(
        self, name: str, arg: ArgKind = "none", doc: str = "", writes: tuple[str, ...] = ()
    ) -> Callable:
        """`writes` names slots the action fills itself, so templates may use them."""

        def register(func: Callable[[StepContext, Any], None]) -> Callable:
            self.actions[name] = Registered(name, func, arg, doc, writes)
            return func

        return register


REGISTRY = Registry()


@REGISTRY.condition("slot_filled", "slot", "the answer in this slot is not empty")
def _slot_filled(ctx: StepContext, slot: str) -> bool:
    return bool(ctx.session.slots.get(slot))


@REGISTRY.condition("slot_empty", "slot", "nothing has been kept in this slot yet")
def _slot_empty(ctx: StepContext, slot: str) -> bool:
    return not ctx.session.slots.get(slot)


@REGISTRY.condition("slot_is", "slot_values", "every named slot holds exactly this value")
def _slot_is(ctx: StepContext, values: dict[str, str]) -> bool:
    return all(ctx.session.slots.get(slot) == str(value) for slot, value in values.items())


@REGISTRY.condition("can_continue", "none", "the person has a place to go back to")
def _can_continue(ctx: StepContext, _: Any) -> bool:
    return ctx.can_resume()


@REGISTRY.condition("config_set", "config", "the operator has set this configuration value")
def _config_set(ctx: StepContext, key: str) -> bool:
    return bool(ctx.config.get(key))


@REGISTRY.action("set_slot", "slot_values", "keep these values (templates allowed)")
def _set_slot(ctx: StepContext, values: dict[str, str]) -> None:
    for slot, value in values.items():
        ctx.session.slots[slot] = ctx.render(str(value))


@REGISTRY.action("clear_slots", "slots", "forget these answers")
def _clear_slots(ctx: StepContext, slots: list[str] | str) -> None:
    for slot in [slots] if isinstance(slots, str) else slots:
        ctx.session.slots.pop(slot, None)
