"""The stages of one message, in the order they run.

Each stage is a small method with one job; it returns True when the message needs nothing
more. `Stages.run` is the whole path, readable top to bottom in `order`:

1. welcome a new person (the menu, or straight to a deep link's part once they are 18+)
2. repair a session whose step no longer exists in the edited flows
3. release an answer held for a safety check-in the person has left
4. screen the message (a flagged one goes to the safety flow and nowhere else)
5. news from couple mode: an invite accepted, the pairing ended, both finished a topic
6. answer an open question of the core's own (`/delete`'s confirmation)
7. route it: a command, a button, or text (an answer, or a typed button label)
8. follow-ups the step's actions asked for (the held answer, once they are safe; the
   picture of the weeks kept)
9. open the part a deep link asked for, now that the age question is answered

A check-in that falls due is a turn of its own, taken without a message
(`Stages.checkins`, bot/checkins/turns.py).
"""

from __future__ import annotations

import time
from collections import ChainMap
from collections.abc import Callable, Mapping

from bot.checkins.actions import PICTURE
from bot.checkins.progress import progress_picture
from bot.checkins.record import CheckinBook
from bot.checkins.turns import CheckinTurns
from bot.command_text import parse_command
from bot.commands import run_command
from bot.engine import BUTTON_ID, MENU, ChoiceRead, Engine, EngineContext
from bot.export import export_attachment, export_data, export_text
from bot.flowlang.catalog import Catalog
from bot.i18n.choose import BUTTON_PREFIX as LANGUAGE_BUTTON
from bot.i18n.choose import ChooseLanguage, language_names
from bot.messages import Choice, Incoming, Reply
from bot.pairing import view as pairing_view
from bot.pairing.shared import SERVICE as SHARED
from bot.pairing.shared import Shared
from bot.pairing.together import SERVICE as TOGETHER
from bot.pairing.together import Together
from bot.pending import DELETE_NO, DELETE_YES, ConfirmDelete
from bot.safety import screen as safety_screen
from bot.safety import screen_rules
from bot.safety.actions import APPLY_HELD
from bot.safety.flow import SAFETY_FLOW
from bot.safety.screen import ScreenResult
from bot.session import Position, Session
from bot.setting import Setting, setting_for
from bot.turn import Turn
from bot.understanding.learned import LearnedReader

# The menu asks adults to confirm their age; until they have, deep links lead to the menu.
CONSENT_SLOT, CONSENT_VALUE = "adult", "yes"
# The step (flow) where the coach last asked directly about safety because the screen could
# not read the person's language (kept, and shown in /export as a note).
ASKED_DIRECTLY = "safety_asked_directly"
UNREAD_MIN_WORDS = 4  # fewer, where a step takes no text, is a choice typed, not a story
Screen = Callable[[str, Setting], ScreenResult]
Stage = Callable[[Turn], bool]
__all__ = ["CONSENT_SLOT", "CONSENT_VALUE", "Screen", "Stages", "parse_command"]


class Stages:
    def __init__(self, catalog: Catalog, config: Mapping[str, str],
                 screen: Screen | None = None, *,
                 on_flag: Callable[[str, str], None] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        """`screen` replaces the safety screen (tests); by default it runs with the rules
        loaded with these flows. `on_flag(category, risk)` hears of each flagged message
        (the metrics; never the text). `clock` is the core's (a simulated one in tests)."""
        self.clock = clock
        if catalog.texts is None:
            raise ValueError("the catalog has no core messages")
        self.catalog = catalog
        self.texts = catalog.texts
        self.config = config
        self.screen = screen or self._screen_with_flows_rules(catalog)
        self.on_flag = on_flag
        self.engine = Engine(catalog, catalog.registry)
        self.confirm_delete = ConfirmDelete(self.texts, self.engine)
        self.languages = language_names(catalog)
        self.choose_language = ChooseLanguage(self.texts, self.languages)
        self.pending = {ConfirmDelete.kind: self.confirm_delete,
                        ChooseLanguage.kind: self.choose_language}
        self.checkins = CheckinTurns(self)
        self.order: tuple[Stage, ...] = (
            self.welcome_new_person,
            self.repair_moved_flows,
            self.release_safety_hold,
            self.screen_message,
            self.pairing_news,
            self.answer_pending,
            self.route,
            self.apply_effects,
            self.open_wanted,
        )

    @staticmethod
    def _screen_with_flows_rules(catalog: Catalog) -> Screen:
        rules = catalog.services.get(screen_rules.SERVICE)
        own = rules if isinstance(rules, screen_rules.RuleSet) else None
        learned = catalog.services.get(safety_screen.LEARNED)
        reader = learned if isinstance(learned, LearnedReader) else safety_screen.shipped_learned()
        return lambda text, setting: safety_screen.screen(text, own, setting, reader)

    # -- the path -----------------------------------------------------------------------------

    def run(self, stored: Session | None, message: Incoming, text: str | None,
            shared: Shared | None = None) -> Turn:
        turn = self.begin(stored, message, text, shared)
        for stage in self.order:
            if stage(turn):
                break
        return turn

    def begin(self, stored: Session | None, message: Incoming, text: str | None,
              shared: Shared | None = None) -> Turn:
        home = self.engine.home()
        session = stored or Session(message.user.key, home.flow, home.state)
        if message.update_id:
            session.remember_update(message.update_id)
        # This message's shared records are offered to the flows beside the feature data.
        services = (self.catalog.services if shared is None
                    else ChainMap({SHARED: shared}, self.catalog.services))
        ctx = EngineContext(session, self.catalog, self.catalog.registry, self.config,
                            services=services, now=self.clock())
        command = parse_command(text) if text else None
        return Turn(ctx, message, text, command, new=stored is None, shared=shared)

    def greet(self, stored: Session | None, user: Incoming,
              shared: Shared | None = None) -> Turn:
        """Someone opens the chat: the menu if new; else "welcome back" and the step they
        left, exactly as it was sent (its buttons still work)."""
        if stored is None:
            return self.run(None, user, None, shared)
        if stored.pending in self.pending and self.catalog.flow(stored.flow) is not None:
            # The question they left open is asked again, not silently dropped.
            turn = self.begin(stored, user, None, shared)
            turn.notes.append(self.texts.get("welcome_back", title=self.engine.title(stored)))
            self.pending[stored.pending].ask(turn)
            return turn
        turn = self.run(stored, user, "/resume", shared)
        if turn.event == "flow_changed" or turn.session.flow == self.catalog.home:
            greeting = self.texts.get("welcome_back_menu")
        else:
            greeting = self.texts.get("welcome_back", title=self.engine.title(turn.session))
        # The menu may greet returning people itself: say it once.
        turn.notes = [greeting, *(note for note in turn.notes if note != greeting)]
        turn.shown = [part for part in turn.shown if part != greeting]
        return turn

    # -- the stages ---------------------------------------------------------------------------

    def welcome_new_person(self, turn: Turn) -> bool:
        if not turn.new:
            return False
        turn.shown = self.engine.enter(turn.ctx, self.engine.home())
        if turn.text and not self._code(turn) and self._screen(turn, first=True):
            return True
        command = turn.command
        if command is None or command[0] in ("start", "menu"):
            if command:
                turn.shown = []
                run_command(self, turn, *command)
            return True
        turn.shown = []  # another command (/help, /privacy): its answer, under the menu's buttons
        return False

    def repair_moved_flows(self, turn: Turn) -> bool:
        """The flows changed under this session: keep what still fits, restart the flow."""
        ctx, session = turn.ctx, turn.session
        if turn.new or ctx.valid(session.position):
            return False
        flow = self.catalog.flow(session.flow)
        target = Position(flow.spec.id, flow.spec.start) if flow else self.engine.home()
        session.slots = {k: v for k, v in session.slots.items() if k in self.catalog.slots}
        session.back = [p for p in session.back if ctx.valid(p)]
        session.calls = [p for p in session.calls if ctx.valid(p)]
        session.last = session.last if ctx.valid(session.last) else None
        session.pending = None
        session.shown = None
        if flow is None:
            turn.notes.append(self.texts.get("flow_removed"))
        else:
            turn.notes.append(self.texts.get("flow_changed", title=flow.spec.title))
        turn.event = "flow_changed"
        turn.shown = self.engine.enter(ctx, target)
        return True

    def release_safety_hold(self, turn: Turn) -> bool:
        if turn.session.held and turn.session.flow != SAFETY_FLOW:
            turn.session.held = None
        return False

    def screen_message(self, turn: Turn) -> bool:
        return bool(turn.text) and not turn.screened and not self._code(turn) \
            and self._screen(turn)

    @staticmethod
    def _code(turn: Turn) -> bool:
        """An invite code (`/pair CODE`) is twelve random letters, not words to screen."""
        return turn.shared is not None and turn.shared.typed is not None

    def pairing_news(self, turn: Turn) -> bool:
        """What changed in couple mode since their last message, said first: an invite
        accepted or expired, the pairing ended, both finished or showed a topic."""
        together = self.catalog.services.get(TOGETHER)
        if turn.shared is not None and isinstance(together, Together):
            turn.notes.extend(pairing_view.news(turn.shared, turn.session, together))
        return False

    def answer_pending(self, turn: Turn) -> bool:
        question = self.pending.get(turn.session.pending or "")
        if question is None:
            turn.session.pending = None  # a kind this version does not know: let it go
            return False
        return question.answer(turn)

    def route(self, turn: Turn) -> bool:
        if turn.command is not None:
            run_command(self, turn, *turn.command)
        elif turn.message.button is not None:
            self._button(turn, turn.message.button)
        else:
            self._text(turn, turn.text or "")
        return False

    def apply_effects(self, turn: Turn) -> bool:
        """They said they are safe: the answer written before the check-in counts. They
        asked for their weeks: the picture comes with the step."""
        ctx = turn.ctx
        self._attach_pictures(turn)
        if APPLY_HELD not in ctx.effects:
            return False
        held, ctx.session.held = ctx.session.held, None
        if held and self.engine.state(ctx.session).keeps_text is not None:
            turn.notes = [self.texts.get("held_answer_kept")]
            turn.shown = self.engine.answer(ctx, held) or []
        return False

    def _attach_pictures(self, turn: Turn) -> None:
        """The weeks kept, as a picture (with the same in words, for the console)."""
        texts = self.checkins.texts()
        if PICTURE in turn.ctx.effects and texts is not None:
            picture = progress_picture(CheckinBook(turn.session).weeks, texts)
            if picture is not None:
                turn.attachments.append(picture)

    def open_wanted(self, turn: Turn) -> bool:
        """They have just confirmed their age: open the part their `/start FLOW` asked for,
        instead of the menu this step landed on."""
        ctx, session = turn.ctx, turn.session
        if not (session.wanted and session.flow == self.catalog.home and self.consented(ctx)):
            return False
        start = self.engine.start_of(session.wanted)
        session.wanted = None
        if start is None:  # the flows changed in between
            return False
        session.push_back(session.here)
        session.calls.clear()
        turn.shown = self.engine.enter(ctx, start)
        return True

    # -- what stages and commands share -----------------------------------------------------

    def consented(self, ctx: EngineContext) -> bool:
        if CONSENT_SLOT not in self.catalog.slots:
            return True
        return ctx.session.slots.get(CONSENT_SLOT) == CONSENT_VALUE

    def export(self, turn: Turn) -> None:
        data = export_data(turn.session, self.catalog)
        text = export_text(data, self.texts)
        together = self.catalog.services.get(TOGETHER)
        if turn.shared is not None and isinstance(together, Together):
            data["shared"], lines = pairing_view.export(turn.shared, turn.session, together)
            text = "\n\n".join([text, *(["\n".join(lines)] if lines else [])])
        turn.notes.append(text)
        turn.attachments.append(export_attachment(data))

    def ask_to_delete(self, turn: Turn) -> None:
        self.confirm_delete.ask(turn)

    def ask_language(self, turn: Turn) -> None:
        self.choose_language.ask(turn)

    def sos_lines(self, category: str) -> list[str]:
        resources = self.catalog.services.get("resources")
        if resources is None:
            return []
        if category not in ("violence", "coercive_control", "self_harm"):
            category = "general"
        return [resources.text(category, self.config.get("country"))]  # type: ignore[attr-defined]

    def reply(self, turn: Turn, *, saved: bool = True) -> Reply:
        reply = Reply(parts=turn.parts, notice=turn.notice, attachments=list(turn.attachments),
                      saved=saved)
        code = turn.shared.new_code if turn.shared is not None else None
        together = self.catalog.services.get(TOGETHER)
        if code and isinstance(together, Together):
            # Shown once, never kept: not part of the step's text that /resume repeats.
            reply.parts.append(together.text("code", code=code))
            reply.invite_code = code
        if turn.choices is not None:
            reply.choices = turn.choices
        elif turn.controls:
            controls = self.engine.controls(turn.ctx)
            reply.choices = controls.choices
            reply.expects_text = controls.expects_text
            reply.max_length = controls.max_length
        return reply

    def still_standing(self, stored: Session, reply: Reply) -> Reply:
        """A reply that changes nothing, with the buttons of the step that still stands."""
        pending = self.pending.get(stored.pending or "")
        if pending is not None:
            reply.choices = pending.buttons()
            return reply
        ctx = EngineContext(stored, self.catalog, self.catalog.registry, self.config,
                            services=self.catalog.services, now=self.clock())
        if ctx.valid(stored.position):
            controls = self.engine.controls(ctx)
            reply.choices = controls.choices
            reply.expects_text = controls.expects_text
            reply.max_length = controls.max_length
        return reply

    # -- routing ------------------------------------------------------------------------------

    def _screen(self, turn: Turn, *, first: bool = False) -> bool:
        """Screen the message before anything else uses it. A flagged message is never
        stored as an answer, echoed or logged; the person is taken to the safety flow."""
        turn.screened = True
        session = turn.ctx.session
        result = self.screen(turn.text or "", self.setting(session))
        if not result.is_flagged:
            return False
        if safety_screen.unread(result):
            # Asked directly once in each step: words it cannot read are no sign of
            # safety, but asking at every line would drown the conversation.
            if (turn.command is not None or session.flow == SAFETY_FLOW
                    or session.slots.get(ASKED_DIRECTLY) == session.flow
                    or not self._writing(turn)):
                return False  # a command, a button's words, or already asked here
            session.slots[ASKED_DIRECTLY] = session.flow
        if self.on_flag is not None:
            self.on_flag(result.category, result.risk)
        ctx = turn.ctx
        turn.event = f"safety_{result.risk}_{result.category}"
        turn.notes, turn.shown = [], []
        entry = "unsure" if result.risk == "unsure" else result.category
        safety = self.catalog.flow(SAFETY_FLOW)
        if safety is None or entry not in safety.spec.states:
            turn.notes = [self.texts.get("sos"), *self.sos_lines(result.category)]
            turn.shown = self.engine.reshow(ctx)
            return True
        state = self.engine.state(ctx.session)
        keep = result.risk == "unsure" and state.keeps_text is not None and not first
        ctx.session.held = turn.text if keep else None
        ctx.session.pending = None
        turn.shown = self.engine.call(ctx, Position(SAFETY_FLOW, entry))
        if safety_screen.unread(result):
            turn.notes = [self.texts.get("unread_language")]
        return True

    def _writing(self, turn: Turn) -> bool:
        """Words the person wrote, not a button's answer typed ("sí", "vale", a label typed
        out): where the step keeps what is typed, or four words or more anywhere."""
        text = turn.text or ""
        if self.engine.typed_choice(turn.ctx, text) is not None:
            return False
        return (self.engine.state(turn.ctx.session).keeps_text is not None
                or len(text.split()) >= UNREAD_MIN_WORDS)

    def setting(self, session: Session) -> Setting:
        """Who speaks (the `role` slot) and where they type (the state's or flow's context)."""
        flow = self.catalog.flow(session.flow)
        state = flow.spec.states.get(session.state) if flow is not None else None
        context = (state.context if state is not None else None) or (
            flow.spec.context if flow is not None else None)
        return setting_for(session.slots, context, session.lang)

    def _button(self, turn: Turn, button: str) -> None:
        ctx = turn.ctx
        turn.event = "button"
        match = BUTTON_ID.match(button)
        step = int(match.group(1)) if match else -1
        if match and step == ctx.session.step:
            which = match.group(2)
            if which == "s":
                shown = self.engine.skip(ctx)
            elif which == MENU:
                shown = self.engine.to_menu(ctx)
            else:
                shown = self.engine.press(ctx, int(which))
            if turn.show(shown):
                return
        stale = (match is not None and step < ctx.session.step) or button in (
            DELETE_YES, DELETE_NO) or button.startswith(LANGUAGE_BUTTON)
        notice = self.texts.get("stale_button" if stale else "bad_button")
        turn.event = "button_stale" if stale else "button_invalid"
        turn.notice = notice
        turn.notes.append(notice)
        turn.shown = self.engine.reshow(ctx)

    def _text(self, turn: Turn, text: str) -> None:
        """A button's label, number or a clear like of it acts as the button, also where
        free text is asked for; text close to buttons asks which was meant; any other text
        is the answer, goes where the step's `on_text` says, or gets a gentle nudge."""
        ctx, texts, engine = turn.ctx, self.texts, self.engine
        read = engine.read_choice(ctx, text) if text else ChoiceRead()
        if read.pick is not None:
            self._button(turn, read.pick)
            return
        state = engine.state(ctx.session)
        if read.close and state.ask is None:
            self._did_you_mean(turn, read.close)
            return
        ask = state.ask or state.on_text
        if ask is None:
            turn.notes.append(texts.get("empty_text" if not text else "pick_a_choice"))
            return
        kept = ask.cleaned(text)
        if not text:
            turn.notes.append(texts.get("empty_text"))
        elif len(kept) > ask.max_length:
            turn.notes.append(texts.get("too_long", max=ask.max_length, length=len(kept)))
        elif len(kept) < ask.min_length:
            turn.notes.append(texts.get("too_short", min=ask.min_length))
        else:
            turn.event = "answer"
            turn.show(engine.answer(ctx, text))

    def _did_you_mean(self, turn: Turn, close: tuple[Choice, ...]) -> None:
        """Ask, never guess: the step stays, its closest buttons first, the others after."""
        labels = [choice.label for choice in close]
        turn.event = "did_you_mean"
        turn.notes.append(self.texts.get("did_you_mean", first=labels[0], second=labels[1])
                          if len(labels) > 1 else
                          self.texts.get("did_you_mean_one", first=labels[0]))
        ids = {choice.id for choice in close}
        others = [c for c in self.engine.controls(turn.ctx).choices if c.id not in ids]
        turn.choices = [*close, *others]
