"""A plan to keep: the opener, things to say when it gets heated, the boundaries and the
commitments, in the person's own words, as one message for /plan and the "My plan" button.

What goes in it, and its headings, are in `flows/coach/plan.yaml`, checked with the flows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.flowlang.errors import FlowProblem
from bot.flowlang.registry import Registry
from bot.flowlang.source import SourceDoc, load_source
from bot.setting import ROLE_SLOT, ROLES

if TYPE_CHECKING:
    from bot.flowlang.context import StepContext

PLAN_FILE = Path("coach") / "plan.yaml"
SERVICE = "plan"
MAX_ANSWER = 300  # characters of one answer in the plan; it has to fit a phone screen
# The whole plan stays one message: under Discord's 2,000 characters, with room for the
# step's own line below it. Long answers are shortened evenly, at a word, until it fits.
MAX_PLAN = 1700
SHORTER = (300, 220, 160, 120, 90, 60, 40)
entries = Registry()


@dataclass(frozen=True)
class Section:
    heading: str
    slots: Mapping[str, str]  # slot -> label


@dataclass(frozen=True)
class Plan:
    title: str
    empty: str
    opener_heading: str
    opener_slots: tuple[str, ...]
    heated_heading: str
    heated: Mapping[str, tuple[str, ...]]  # role -> phrases
    sections: tuple[Section, ...]

    def render(self, slots: Mapping[str, str]) -> str:
        """The plan as one message; only parts that have answers, each answer shortened
        just enough for the whole to fit one phone screen (one Discord message)."""
        for most in SHORTER:
            text = self._render(slots, most)
            if len(text) <= MAX_PLAN:
                break
        return text

    def _render(self, slots: Mapping[str, str], most: int) -> str:
        opener = next((slots[s] for s in self.opener_slots if slots.get(s)), "")
        parts = []
        if opener:
            parts.append(f"{self.opener_heading}\n“{_short(opener, most)}”")
        for section in self.sections:
            lines = [f"• {label}: {_short(slots[slot], most)}"
                     for slot, label in section.slots.items() if slots.get(slot)]
            if lines:
                parts.append("\n".join([section.heading, *lines]))
        if not parts:
            return f"{self.title}\n\n{self.empty}"
        phrases = self.heated.get(slots.get(ROLE_SLOT, ""), self.heated.get("hurt", ()))
        if opener and phrases:
            parts.insert(1, "\n".join([self.heated_heading, *(f"• {p}" for p in phrases)]))
        return "\n\n".join([self.title, *parts])


def _short(text: str, most: int = MAX_ANSWER) -> str:
    """At most `most` characters and "…", cut at a word (a single long word is cut)."""
    text = " ".join(text.split())
    if len(text) <= most:
        return text
    cut = text[:most].rsplit(" ", 1)[0] if " " in text[:most] else text[:most]
    return cut.rstrip(",;:.") + "…"


def _text(doc: SourceDoc, at: tuple[Any, ...], problems: list[FlowProblem]) -> str:
    value = doc.value(at)
    if not isinstance(value, str) or not value.strip():
        problems.append(doc.problem(at, f"'{'.'.join(map(str, at))}' must be non-empty text"))
        return ""
    return value.strip()


def _list(doc: SourceDoc, value: Any, at: tuple[Any, ...],
          problems: list[FlowProblem]) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(
            isinstance(v, str) and v.strip() for v in value):
        problems.append(doc.problem(at, f"'{'.'.join(map(str, at))}' needs a list of texts"))
        return ()
    return tuple(v.strip() for v in value)


def _sections(doc: SourceDoc, problems: list[FlowProblem]) -> tuple[Section, ...]:
    raw = doc.data.get("sections")
    if not isinstance(raw, list):
        problems.append(doc.problem(("sections",), "'sections' needs a list of parts"))
        return ()
    sections = []
    for index, part in enumerate(raw):
        at = ("sections", index)
        slots = part.get("slots") if isinstance(part, dict) else None
        if not isinstance(slots, dict) or not slots or not all(
                isinstance(k, str) and isinstance(v, str) and v.strip() for k, v in slots.items()):
            problems.append(doc.problem(at, "a part needs a 'heading' and 'slots' (slot: label)"))
            continue
        sections.append(Section(_text(doc, (*at, "heading"), problems), dict(slots)))
    return tuple(sections)


def load_plan(path: Path) -> tuple[Plan | None, list[FlowProblem]]:
    doc, problems = load_source(path)
    if doc is None:
        return None, problems
    if not isinstance(doc.data, dict):
        return None, [doc.problem((), "the plan file must be a mapping")]
    heated = doc.data.get("heated") if isinstance(doc.data.get("heated"), dict) else {}
    plan = Plan(
        title=_text(doc, ("title",), problems),
        empty=_text(doc, ("empty",), problems),
        opener_heading=_text(doc, ("opener", "heading"), problems),
        opener_slots=_list(doc, (doc.data.get("opener") or {}).get("slots"),
                           ("opener", "slots"), problems),
        heated_heading=_text(doc, ("heated", "heading"), problems),
        heated={role: _list(doc, heated.get(role), ("heated", role), problems)
                for role in ROLES},
        sections=_sections(doc, problems),
    )
    return (None, problems) if problems else (plan, [])


@entries.action("show_plan", "none", "the person's plan as one message (flows/coach/plan.yaml)")
def show_plan(ctx: StepContext, _: Any) -> None:
    plan = ctx.services.get(SERVICE)
    if isinstance(plan, Plan):
        ctx.say(plan.render(ctx.session.slots))
