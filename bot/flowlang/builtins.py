"""The flow language's own conditions and actions: about answers, places and settings, which
every flow set may use whatever features the coach has. Added to a registry explicitly
(`registry.include(entries)`), like every feature's."""

from __future__ import annotations

import re
from typing import Any

from bot.choice_match import normal
from bot.flowlang.context import StepContext
from bot.flowlang.registry import Registry

entries = Registry()


@entries.condition("slot_filled", "slot", "the answer in this slot is not empty")
def slot_filled(ctx: StepContext, slot: str) -> bool:
    return bool(ctx.session.slots.get(slot))


@entries.condition("slot_empty", "slot", "nothing has been kept in this slot yet")
def slot_empty(ctx: StepContext, slot: str) -> bool:
    return not ctx.session.slots.get(slot)


@entries.condition("slot_is", "slot_values", "every named slot holds exactly this value")
def slot_is(ctx: StepContext, values: dict[str, str]) -> bool:
    return all(ctx.session.slots.get(slot) == str(value) for slot, value in values.items())


@entries.condition("slot_mentions", "slot_cues",
                   "the answer in this slot has one of these cue words (at the start of a word)")
def slot_mentions(ctx: StepContext, cues: dict[str, list[str] | str]) -> bool:
    """Lets a flow answer a typed reflection in kind ("lonely", "bored") without code."""
    return all(mentions(str(ctx.session.slots.get(slot) or ""), words)
               for slot, words in cues.items())


def mentions(text: str, cues: list[str] | str) -> bool:
    """Whether `text` has a cue at the start of a word, ignoring case: "lonel" finds
    "loneliness", "bor" does not find "neighbour". Apostrophes are read straight."""
    text = text.replace("\u2019", "'")
    return any(re.search(r"(?<!\w)" + re.escape(cue.replace("\u2019", "'")), text, re.IGNORECASE)
               for cue in ([cues] if isinstance(cues, str) else cues))


@entries.condition("slot_has_words", "mentions", "the text in the slot has one of the `any` "
                   "phrases (and, if given, one of the `and_any` phrases), as whole words")
def slot_has_words(ctx: StepContext, arg: dict[str, Any]) -> bool:
    text = f" {normal(str(ctx.session.slots.get(arg['slot'], '')))} "
    return all(any(f" {normal(p)} " in text for p in arg[key])
               for key in ("any", "and_any") if key in arg)


@entries.condition("can_continue", "none", "the person has a place to go back to")
def can_continue(ctx: StepContext, _: Any) -> bool:
    return ctx.can_resume()


@entries.condition("config_set", "config", "the operator has set this configuration value")
def config_set(ctx: StepContext, key: str) -> bool:
    return bool(ctx.config.get(key))


@entries.action("set_slot", "slot_values", "keep these values (templates allowed)")
def set_slot(ctx: StepContext, values: dict[str, str]) -> None:
    for slot, value in values.items():
        ctx.session.slots[slot] = ctx.render(str(value))


@entries.action("clear_slots", "slots", "forget these answers")
def clear_slots(ctx: StepContext, slots: list[str] | str) -> None:
    for slot in [slots] if isinstance(slots, str) else slots:
        ctx.session.slots.pop(slot, None)
