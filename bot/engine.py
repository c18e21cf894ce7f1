"""Moving a session through the compiled flows: entering states, firing triggers, handovers."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from bot.config import template_values
from bot.flowlang.catalog import Catalog
from bot.flowlang.compile import ADVANCE, ANSWER, SKIP, CompiledFlow, pick
from bot.flowlang.model import Call, Route, StateSpec
from bot.flowlang.registry import Registry
from bot.messages import Choice
from bot.session import Position, Session
from bot.templates import render

MAX_AUTO_STEPS = 64
BUTTON_ID = re.compile(r"^(\d{1,12})\.(\d{1,3}|s)$")


@dataclass
class StepContext:
    """What conditions and actions see while one message is handled."""

    session: Session
    catalog: Catalog
    registry: Registry
    config: Mapping[str, str]
    out: list[str] = field(default_factory=list)
    taken: Route | None = None
    services: Mapping[str, object] = field(default_factory=dict)

    def render(self, text: str) -> str:
        missing = self.catalog.texts.get("missing_answer") if self.catalog.texts else "…"
        if "${cfg_" in text:
            return render(text, {**template_values(self.config), **self.session.slots}, missing)
        return render(text, self.session.slots, missing)

    def say(self, text: str) -> None:
        self.out.append(text)

    def valid(self, position: Position | None) -> bool:
        if position is None:
            return False
        flow = self.catalog.flow(position.flow)
        return flow is not None and position.state in flow.spec.states

    def can_resume(self) -> bool:
        last = self.session.last
        return self.valid(last) and last is not None and last.flow != self.catalog.home


@dataclass(frozen=True)
class Controls:
    """The current step's buttons and whether it waits for free text."""

    choices: list[Choice]
    expects_text: bool
    max_length: int | None


class Engine:
    """Stateless: everything about a person is in their Session."""

    def __init__(self, catalog: Catalog, registry: Registry) -> None:
        self.catalog = catalog
        self.registry = registry

    # -- where things are -----------------------------------------------------------------

    def flow(self, session: Session) -> CompiledFlow:
        flow = self.catalog.flow(session.flow)
        assert flow is not None, "positions are checked when a session is loaded"
        return flow

    def state(self, session: Session) -> StateSpec:
        return self.flow(session).spec.states[session.state]

    def home(self) -> Position:
        flow = self.catalog.flows[self.catalog.home]
        return Position(flow.spec.id, flow.spec.start)

    def start_of(self, flow_id: str) -> Position | None:
        flow = self.catalog.flow(flow_id)
        return Position(flow_id, flow.spec.start) if flow else None

    def title(self, session: Session) -> str:
        flow = self.catalog.flow(session.flow)
        return flow.spec.title if flow else session.flow

    # -- moving -----------------------------------------------------------------------------

    def enter(self, ctx: StepContext, position: Position, *, run_actions: bool = True) -> None:
        """Show a state; states that wait for nobody move on by themselves."""
        for _ in range(MAX_AUTO_STEPS):
            ctx.session.move_to(position)
            state = self.state(ctx.session)
            if run_actions:
                self._run(ctx, state.actions)
            ctx.out.extend(ctx.render(text) for text in state.say)
            if state.interactive:
                ctx.session.step += 1
                if position.flow != self.catalog.home:
                    ctx.session.last = position
                return
            taken = self.flow(ctx.session).fire(position.state, ADVANCE, ctx)
            if taken is None:  # checked flows always have an unconditional last route
                break
            position = self._follow(ctx, taken[1])
            run_actions = True
        ctx.session.move_to(self.home())
        self.enter(ctx, self.home())

    def take(self, ctx: StepContext, trigger: str) -> bool:
        """Fire a trigger from the current state; False when it is not valid there now."""
        here = ctx.session.position
        taken = self.flow(ctx.session).fire(here.state, trigger, ctx)
        if taken is None:
            return False
        ctx.session.push_back(here)
        self.enter(ctx, self._follow(ctx, taken[1]))
        return True

    def answer(self, ctx: StepContext, text: str) -> bool:
        state = self.state(ctx.session)
        if state.ask is None:
            return False
        ctx.session.slots[state.ask.slot] = text
        return self.take(ctx, ANSWER)

    def skip(self, ctx: StepContext) -> bool:
        state = self.state(ctx.session)
        if state.ask is None or not state.ask.skip_label:
            return False
        ctx.session.slots.pop(state.ask.slot, None)
        return self.take(ctx, SKIP)

    def press(self, ctx: StepContext, index: int) -> bool:
        return self.take(ctx, pick(index))

    def call(self, ctx: StepContext, target: Position) -> None:
        """Hand over to another flow from outside the flows (the safety screen does this);
        `return: true` there comes back to this step."""
        if ctx.session.flow != target.flow:
            ctx.session.calls.append(ctx.session.position)
        self.enter(ctx, target)

    def _follow(self, ctx: StepContext, route: Route) -> Position:
        for slot, value in route.sets:
            ctx.session.slots[slot] = ctx.render(value)
        self._run(ctx, route.actions)
        target = route.target
        session = ctx.session
        if target.kind == "state":
            return Position(session.flow, target.state or "")
        if target.kind == "flow":
            session.calls.clear()
            start = self.start_of(target.flow or "")
            assert start is not None
            return Position(start.flow, target.state or start.state)
        if target.kind == "call":
            session.calls.append(Position(session.flow, target.state or ""))
            start = self.start_of(target.flow or "")
            assert start is not None
            return start
        if target.kind == "return":
            while session.calls:
                back = session.calls.pop()
                if ctx.valid(back):
                    return back
            return self.home()
        return session.last if ctx.can_resume() and session.last else self.home()

    def _run(self, ctx: StepContext, calls: tuple[Call, ...]) -> None:
        for call in calls:
            self.registry.actions[call.name].func(ctx, call.arg)

    # -- what the person can do now ---------------------------------------------------------

    def controls(self, ctx: StepContext) -> Controls:
        state = self.state(ctx.session)
        step = ctx.session.step
        choices = [
            Choice(f"{step}.{index}", ctx.render(choice.label))
            for index, choice in enumerate(state.choices)
            if self._holds(ctx, choice.route.when)
        ]
        if state.ask and state.ask.skip_label:
            choices.append(Choice(f"{step}.s", ctx.render(state.ask.skip_label)))
        return Controls(choices, state.ask is not None,
                        state.ask.max_length if state.ask else None)

    def _holds(self, ctx: StepContext, conditions: tuple[Call, ...]) -> bool:
        return all(
            bool(self.registry.conditions[c.name].func(ctx, c.arg)) != c.negate
            for c in conditions
        )

    def label_choice(self, ctx: StepContext, text: str) -> str | None:
        """A typed label counts as pressing that button (people type what they see)."""
        wanted = text.casefold().strip()
        for choice in self.controls(ctx).choices:
            if choice.label.casefold().strip() == wanted:
                return choice.id
        return None
