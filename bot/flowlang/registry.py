"""Named conditions and actions: the only behaviour a YAML flow can ask for.

YAML names an entry here; it never names Python code. A registry starts empty: the
composition root (bot/app.py) adds the language's own entries and each feature's,
explicitly, so a test can build exactly the registry it needs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from bot.flowlang.model import Call

if TYPE_CHECKING:
    from bot.flowlang.context import StepContext

ArgKind = Literal["none", "slot", "slots", "slot_values", "slot_cues", "text", "flow", "config",
                  "mentions"]


@dataclass(frozen=True)
class Registered:
    name: str
    func: Callable[..., Any]
    arg: ArgKind
    doc: str
    writes: tuple[str, ...] = ()
    needs: str | None = None  # a data file (service) it cannot work without


@dataclass
class Registry:
    conditions: dict[str, Registered] = field(default_factory=dict)
    actions: dict[str, Registered] = field(default_factory=dict)
    # Ways to readdress a typed answer (`ask: {address: partner}`): text in, text out.
    addresses: dict[str, Registered] = field(default_factory=dict)

    def condition(self, name: str, arg: ArgKind = "none", doc: str = "") -> Callable:
        def register(func: Callable[[StepContext, Any], bool]) -> Callable:
            self.conditions[name] = Registered(name, func, arg, doc)
            return func

        return register

    def include(self, other: Registry) -> Registry:
        """Add another registry's entries (a feature's); a name taken twice is a mistake in
        the code, not something to resolve silently."""
        for mine, theirs in ((self.conditions, other.conditions),
                             (self.actions, other.actions),
                             (self.addresses, other.addresses)):
            clash = set(mine) & set(theirs)
            if clash:
                raise ValueError(f"registered twice: {', '.join(sorted(clash))}")
            mine.update(theirs)
        return self

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

    def address(self, name: str, doc: str = "", needs: str | None = None) -> Callable:
        """`needs`: the data file (by service name) the flows folder must then carry."""

        def register(func: Callable[[StepContext, str], str]) -> Callable:
            self.addresses[name] = Registered(name, func, "none", doc, needs=needs)
            return func

        return register
