"""Moving a session through the compiled flows: entering states, firing triggers, handovers."""

from __future__ import annotations

import re
import time
import unicodedata
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

from bot.choice_match import KINDS, AnswerWords, match
from bot.config import template_values
from bot.flowlang.catalog import Catalog
from bot.flowlang.compile import ADVANCE, ANSWER, SKIP, CompiledFlow, Fired, pick
from bot.flowlang.model import AskSpec, Call, ChoiceSpec, StateSpec
from bot.flowlang.registry import Registry
from bot.messages import Choice
from bot.quotes import straighten
from bot.session import Position, Session
from bot.templates import render

MAX_AUTO_STEPS = 64
# `<step>.<choice>`, `<step>.s` (skip) or `<step>.m` (the Menu button the core adds).
BUTTON_ID = re.compile(r"^(\d{1,12})\.(\d{1,3}|s|m)$")
MENU = "m"


@dataclass
class EngineContext:
    """The engine's StepContext (bot/flowlang/context.py): what conditions and actions see
    while one message is handled. `effects` are follow-ups actions asked for during this
    message only; they are never stored."""

    session: Session
    catalog: Catalog
    registry: Registry
    config: Mapping[str, str]
    out: list[str] = field(default_factory=list)
    services: Mapping[str, object] = field(default_factory=dict)
    effects: list[str] = field(default_factory=list)
    now: float = field(default_factory=time.time)  # the core's clock, for this message

    def render(self, text: str) -> str:
        missing = self.catalog.texts.get("missing_answer") if self.catalog.texts else "…"
        if "${cfg_" in text:
            return render(text, {**template_values(self.config), **self.session.slots}, missing)
        return render(text, self.session.slots, missing)

    def say(self, text: str) -> None:
        self.out.append(text)

    def request(self, effect: str) -> None:
        self.effects.append(effect)

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


@dataclass(frozen=True)
class ChoiceRead:
    """What typed text at a step with buttons means: the button pressed (`pick`, its id),
    or the buttons it is close to, closest first, to ask "Did you mean …?" about."""

    pick: str | None = None
    close: tuple[Choice, ...] = ()


@contextmanager
def _collecting(ctx: EngineContext) -> Iterator[list[str]]:
    """While one move runs, what is said goes into a fresh list: the move's own output."""
    outer, ctx.out = ctx.out, []
    try:
        yield ctx.out
    finally:
        ctx.out = outer


def typed(text: str) -> str:
    """Text as compared with a label: any capitals, curly or straight quotes, single
    spaces, and no blanks or punctuation around it ("  skip this one. " ~ "Skip this one")."""
    words = " ".join(straighten(text).casefold().split())
    start, end = 0, len(words)
    while start < end and _loose(words[start]):
        start += 1
    while end > start and _loose(words[end - 1]):
        end -= 1
    return words[start:end]


def _loose(ch: str) -> bool:
    return ch.isspace() or unicodedata.category(ch)[0] == "P"


class Engine:
    """Stateless: everything about a person is in their Session."""

    def __init__(self, catalog: Catalog, registry: Registry) -> None:
        self.catalog = catalog
        self.registry = registry
        self.answer_words = answer_words_of(catalog)

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

    # Each public move returns the messages it produced (None: the move was not possible
    # here). Actions say things through the context while a move runs; what they said is
    # collected for that move alone, so callers compose replies from returned values.

    def enter(self, ctx: EngineContext, position: Position, *,
              run_actions: bool = True) -> list[str]:
        """Show a state; states that wait for nobody move on by themselves.

        A position that carries what it showed (a step the person left and comes back to)
        is shown again exactly so, without running its actions a second time."""
        with _collecting(ctx) as out:
            self._enter(ctx, position, run_actions=run_actions)
        return out

    def reshow(self, ctx: EngineContext) -> list[str]:
        """The current step again, exactly as it was sent, with the same buttons (so they
        keep working). A step that said only its own `say` (and sessions stored before
        steps kept their text) is rendered from it again."""
        session = ctx.session
        if session.shown is None:
            return [ctx.render(text) for text in self.state(session).say]
        return list(session.shown)

    def take(self, ctx: EngineContext, trigger: str) -> list[str] | None:
        """Fire a trigger from the current state; None when it is not valid there now."""
        here = ctx.session.here
        with _collecting(ctx) as out:
            fired = self.flow(ctx.session).fire(here.state, trigger, ctx)
            if fired is None:
                return None
            ctx.session.push_back(here)
            ask = self.state(ctx.session).ask
            if ask is not None and any(slot == ask.slot for slot, _ in fired.route.sets):
                ctx.session.asked[ask.slot] = f"{here.flow}.{here.state}"  # a button answered
            # What the route's actions said belongs to the step it leads to.
            self._enter(ctx, self._follow(ctx, fired), start=0)
        return out

    def answer(self, ctx: EngineContext, text: str) -> list[str] | None:
        state = self.state(ctx.session)
        ask = state.keeps_text
        if ask is None:
            return None
        ctx.session.slots[ask.slot] = self._kept(ctx, ask, text)
        ctx.session.asked[ask.slot] = f"{ctx.session.flow}.{ctx.session.state}"
        return self.take(ctx, ANSWER)

    def _kept(self, ctx: EngineContext, ask: AskSpec, text: str) -> str:
        """The answer as kept: cleaned, then readdressed when the ask says to whom (kept as
        cleaned if that would pass its length limit)."""
        kept = ask.cleaned(text)
        entry = ctx.registry.addresses.get(ask.address) if ask.address else None
        if entry is None:
            return kept
        addressed = str(entry.func(ctx, kept))
        return addressed if addressed.strip() and len(addressed) <= ask.max_length else kept

    def skip(self, ctx: EngineContext) -> list[str] | None:
        state = self.state(ctx.session)
        if state.ask is None or not state.ask.skip_label:
            return None
        ctx.session.slots.pop(state.ask.slot, None)
        ctx.session.asked.pop(state.ask.slot, None)
        return self.take(ctx, SKIP)

    def press(self, ctx: EngineContext, index: int) -> list[str] | None:
        return self.take(ctx, pick(index))

    def to_menu(self, ctx: EngineContext) -> list[str] | None:
        """The Menu button the core adds; None when this step does not offer it."""
        if not self.offers_menu(ctx):
            return None
        ctx.session.push_back(ctx.session.here)
        ctx.session.calls.clear()
        return self.enter(ctx, self.home())

    def call(self, ctx: EngineContext, target: Position) -> list[str]:
        """Hand over to another flow from outside the flows (the safety screen does this);
        `return: true` there comes back to this step, shown as it was."""
        if ctx.session.flow != target.flow:
            ctx.session.calls.append(ctx.session.here)
        return self.enter(ctx, target)

    def _enter(self, ctx: EngineContext, position: Position, *, run_actions: bool = True,
               start: int | None = None) -> None:
        """Everything said into `ctx.out` from `start` on (default: from here) is kept as
        the new step's text, unless it is just the state's own `say`: that renders the same
        again, and the stored session stays small."""
        start = len(ctx.out) if start is None else start
        for _ in range(MAX_AUTO_STEPS):
            ctx.session.move_to(position)
            state = self.state(ctx.session)
            if position.shown is not None and state.interactive:
                ctx.out.extend(position.shown)
                self._arrive(ctx, start)
                return
            if run_actions:
                self._run(ctx, state.actions)
            plain = len(ctx.out) == start and not state.actions
            ctx.out.extend(ctx.render(text) for text in state.say)
            if state.interactive:
                self._arrive(ctx, start, plain=plain)
                return
            fired = self.flow(ctx.session).fire(position.state, ADVANCE, ctx)
            if fired is None:  # checked flows always have an unconditional last route
                break
            position = self._follow(ctx, fired)
            run_actions = True
        ctx.session.move_to(self.home())
        self._enter(ctx, self.home(), start=start)

    def _arrive(self, ctx: EngineContext, start: int, *, plain: bool = False) -> None:
        """A new step: its buttons get new ids, and what it said is kept for a re-show
        (None when it said only its own `say`, which renders the same again)."""
        session = ctx.session
        session.step += 1
        session.shown = None if plain else tuple(ctx.out[start:])
        if session.flow != self.catalog.home:
            session.last = session.here

    def _follow(self, ctx: EngineContext, fired: Fired) -> Position:
        """Where the route leads: within the flow, the state the machine landed on; out of
        it, the hand-over the route names."""
        route = fired.route
        session = ctx.session
        for slot, value in route.sets:
            session.slots[slot] = ctx.render(value)
        self._run(ctx, route.actions)
        target = route.target
        if target.kind == "state":
            return Position(session.flow, fired.state)
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

    def _run(self, ctx: EngineContext, calls: tuple[Call, ...]) -> None:
        for call in calls:
            self.registry.actions[call.name].func(ctx, call.arg)

    # -- what the person can do now ---------------------------------------------------------

    def controls(self, ctx: EngineContext) -> Controls:
        state = self.state(ctx.session)
        step = ctx.session.step
        shown = self._shown_choices(ctx, state)
        choices = [Choice(f"{step}.{index}", ctx.render(choice.label)) for index, choice in shown]
        if state.ask and state.ask.skip_label:
            choices.append(Choice(f"{step}.s", ctx.render(state.ask.skip_label)))
        if self._menu_offered(ctx, shown):
            choices.append(Choice(f"{step}.{MENU}", self._menu_label()))
        return Controls(choices, state.ask is not None,
                        state.ask.max_length if state.ask else None)

    def offers_menu(self, ctx: EngineContext) -> bool:
        """Every step gets a last "Menu" button, except in the menu flow, in flows with
        `menu_button: false`, and where one of the step's own buttons leads to the menu."""
        return self._menu_offered(ctx, self._shown_choices(ctx, self.state(ctx.session)))

    def _menu_offered(self, ctx: EngineContext, shown: list[tuple[int, ChoiceSpec]]) -> bool:
        flow = self.flow(ctx.session).spec
        home = self.catalog.home
        if flow.id == home or not flow.menu_button:
            return False
        return not any(choice.route.target.kind == "flow" and choice.route.target.flow == home
                       for _, choice in shown)

    def _menu_label(self) -> str:
        texts = self.catalog.texts
        return texts.get("menu_button") if texts else "Menu"

    def _shown_choices(self, ctx: EngineContext,
                       state: StateSpec) -> list[tuple[int, ChoiceSpec]]:
        holds = self.registry.holds
        return [(index, choice) for index, choice in enumerate(state.choices)
                if not choice.route.when or holds(ctx, choice.route.when)]

    def typed_choice(self, ctx: EngineContext, text: str) -> str | None:
        """A typed label, or a button's number, counts as pressing that button (people type
        what they see)."""
        return self.read_choice(ctx, text).pick

    def read_choice(self, ctx: EngineContext, text: str) -> ChoiceRead:
        """Which button typed text means (bot/choice_match.py). Where the step also asks
        for text, only a label, a number or a yes/no/not-sure word counts: anything else
        is the answer, never a guess at a button."""
        choices = self.controls(ctx).choices
        if not choices or len(text) > 2 * max(len(c.label) for c in choices) + 16:
            return ChoiceRead()  # far longer than any label: an answer, not a press
        found = match(text, [c.label for c in choices], self.answer_words,
                      fuzzy=self.state(ctx.session).ask is None)
        if found.pick is not None:
            return ChoiceRead(pick=choices[found.pick].id)
        return ChoiceRead(close=tuple(choices[i] for i in found.close))


def answer_words_of(catalog: Catalog) -> AnswerWords:
    """The yes / no / not-sure phrases of the core messages (none without them)."""
    texts = catalog.texts
    if texts is None:
        return AnswerWords()
    return AnswerWords.parse({kind: texts.get(f"choice_{kind}_words")
                              for kind in KINDS})
