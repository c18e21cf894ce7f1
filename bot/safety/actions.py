"""Flow actions for the safety path: help lines, and the answer held while we check in."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot.flowlang.registry import Registry
from bot.safety.resources import CATEGORIES

if TYPE_CHECKING:
    from bot.flowlang.context import StepContext

# Added to the coach's registry by the composition root (bot/app.py).
entries = Registry()

APPLY_HELD = "apply_held"


@entries.action("show_resources", "text", f"help lines for one of: {', '.join(CATEGORIES)}")
def show_resources(ctx: StepContext, category: str) -> None:
    resources = ctx.services.get("resources")
    if resources is not None:
        ctx.say(resources.text(category if category in CATEGORIES else "general",
                               ctx.config.get("country")))


@entries.action("keep_held_answer", "none", "use the answer written before the check-in")
def keep_held_answer(ctx: StepContext, _: Any) -> None:
    if ctx.session.held:
        ctx.request(APPLY_HELD)


@entries.action("drop_held_answer", "none", "forget the answer written before the check-in")
def drop_held_answer(ctx: StepContext, _: Any) -> None:
    ctx.session.held = None
