"""The path of one message: screen, command or step, commit, then reply.

Adapters call `Coach.handle` with an Incoming and send the Reply it returns. A user's
messages are handled one at a time in arrival order; the session is committed before the
reply exists, so a reply is never sent for a step that was not saved.
"""

from __future__ import annotations

import asyncio
import logging
import time
import unicodedata
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from bot.config import retention_days
from bot.confirm import Answer, ConfirmWords
from bot.engine import BUTTON_ID, MENU, Engine, EngineContext
from bot.export import export_attachment, export_data, export_text
from bot.flowlang.catalog import Catalog
from bot.locks import KeyedLocks
from bot.messages import Attachment, Choice, Incoming, Reply
from bot.safety.actions import APPLY_HELD
from bot.safety.screen import ScreenResult, screen
from bot.session import Position, Session
from bot.store.base import Store, StoreClosed, StoreUnavailable, VersionConflict

log = logging.getLogger("coach.core")

COMMANDS = ("start", "menu", "help", "back", "restart", "resume", "export", "delete", "sos",
            "privacy")
DELETE_YES = "delete.yes"
DELETE_NO = "delete.no"
SAVE_ATTEMPTS = 5
# The menu asks adults to confirm their age; until they have, deep links lead to the menu.
CONSENT_SLOT, CONSENT_VALUE = "adult", "yes"
PURGE_EVERY_S = 3600.0
GROUP_UPDATES_KEPT = 4096
# The safety flow and the states the core enters in it when the screen flags a message.
SAFETY_FLOW = "safety"
SAFETY_ENTRY_STATES = ("violence", "coercive_control", "self_harm", "unsure")
Screen = Callable[[str], ScreenResult]


@dataclass
class Turn:
    """The outcome of one message before it is committed."""

    ctx: EngineContext
    controls: bool = True
    notice: str | None = None
    attachments: list[Attachment] = field(default_factory=list)
    choices: list[Choice] | None = None
    erase: bool = False
    event: str = "text"


def valid_unicode(text: str) -> str:
    """Text that can be encoded: a lone surrogate (half an emoji, or a byte that was not
    UTF-8, as Python decodes it) becomes U+FFFD; a proper pair becomes its character."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


def clean_text(text: str) -> str:
    """Valid Unicode, without control characters (keeping line breaks) and surrounding
    blanks."""
    if text.isprintable():
        return text.strip()
    return "".join(
        ch for ch in valid_unicode(text) if ch in "\n\t" or unicodedata.category(ch) != "Cc"
    ).strip()


def parse_command(text: str) -> tuple[str, str] | None:
    """`/start@CoachBot talk` -> ("start", "talk"); None when the text is no command."""
    if not text.startswith("/") or len(text) < 2:
        return None
    head, _, rest = text[1:].partition(" ")
    name = head.split("@", 1)[0].casefold()
    if not name or not all(ch.isalnum() or ch == "_" for ch in name):
        return None
    return name, rest.strip()


class Coach:
    """The platform-free core. One instance serves every user of every adapter."""

    def __init__(
        self,
        catalog: Catalog,
        store: Store,
        *,
        config: Mapping[str, str] | None = None,
        screen: Screen = screen,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if catalog.texts is None:
            raise ValueError("the catalog has no core messages")
        self.catalog = catalog
        self.texts = catalog.texts
        self.store = store
        self.registry = catalog.registry
        self.config = dict(config or {})
        self.engine = Engine(catalog, catalog.registry)
        self.locks = KeyedLocks()
        self.screen = screen
        self.clock = clock
        self.delete_words = ConfirmWords.for_delete(self.texts)
        self.services = catalog.services
        self._last_purge = 0.0
        self._group_updates: OrderedDict[str, None] = OrderedDict()
        self._purging: asyncio.Task | None = None

    # -- entry points ---------------------------------------------------------------------

    async def handle(self, message: Incoming) -> Reply:
        self._purge_if_due()
        if not message.private:
            if message.update_id and self._seen_in_groups(message.update_id):
                return Reply(duplicate=True)
            log.info("event=group_chat platform=%s", message.user.platform)
            return Reply(parts=[self.texts.get("group_chat")])
        update_id = valid_unicode(message.update_id) if message.update_id else message.update_id
        if update_id is not message.update_id:
            message = replace(message, update_id=update_id)
        text = clean_text(message.text) if message.text is not None else None
        return await self._commit(message, lambda stored: self._process(stored, message, text))

    async def open(self, user: Incoming) -> Reply:
        """Greet someone opening the chat: where they left off (that step exactly as it was
        sent, buttons still valid), or the menu if new."""

        def greet(stored: Session | None) -> Turn:
            if stored is None:
                return self._process(None, user, None)
            turn = self._process(stored, user, "/resume")
            session = turn.ctx.session
            if turn.event == "flow_changed" or session.flow == self.catalog.home:
                greeting = [self.texts.get("welcome_back_menu")]
            else:
                greeting = [self.texts.get("welcome_back", title=self.engine.title(session))]
            # The menu may greet returning people itself: say "Welcome back." once.
            turn.ctx.out[:] = greeting + [p for p in turn.ctx.out if p not in greeting]
            return turn

        return await self._commit(user, greet)

    async def close(self) -> None:
        """Let a retention purge in progress finish, then close the store."""
        if self._purging is not None and not self._purging.done():
            await self._purging
        await self.store.close()

    async def _commit(self, message: Incoming, step: Callable[[Session | None], Turn]) -> Reply:
        """Under the person's lock: load, take the step, save (compare-and-set), reply.
        A conflict means another process saved first: the step runs again on its version."""
        key = message.user.key
        async with self.locks.hold(key):
            try:
                return await self._take_step(message, step)
            except StoreUnavailable as error:
                return await self._not_saved(key, error)

    async def _take_step(self, message: Incoming,
                         step: Callable[[Session | None], Turn]) -> Reply:
        key = message.user.key
        for _ in range(SAVE_ATTEMPTS):
            stored = await self.store.load(key)
            if stored and message.update_id and message.update_id in stored.seen:
                log.info("event=duplicate user=%s", key)
                return Reply(duplicate=True)
            turn = step(stored)
            if turn.erase:
                await self.store.delete(key)
                log.info("event=deleted user=%s", key)
                return self._reply(turn)
            try:
                await self.store.save(turn.ctx.session)
            except VersionConflict:
                log.info("event=version_conflict user=%s", key)
                continue
            session = turn.ctx.session
            log.info("event=%s user=%s flow=%s state=%s", turn.event, key, session.flow,
                     session.state)
            return self._reply(turn)
        raise VersionConflict(key)

    async def _not_saved(self, key: str, error: StoreUnavailable) -> Reply:
        """Nothing of this step was kept: say so, with the step that still stands (its
        buttons stay valid), so the person can send it again. The adapter confirms the
        message only once this reply has gone out."""
        log.warning("event=store_unavailable reason=%s user=%s", error.reason, key)
        reply = Reply(parts=[self.texts.get("not_saved")], saved=False)
        try:
            stored = await self.store.load(key)  # the last committed step, if still readable
        except StoreUnavailable:
            return reply
        if stored is not None and stored.pending == "delete":
            reply.choices = [Choice(DELETE_YES, self.texts.get("delete_yes")),
                             Choice(DELETE_NO, self.texts.get("delete_no"))]
        elif stored is not None and not stored.pending:
            ctx = EngineContext(stored, self.catalog, self.registry, self.config,
                              services=self.services)
            if ctx.valid(stored.position):
                controls = self.engine.controls(ctx)
                reply.choices = controls.choices
                reply.expects_text = controls.expects_text
                reply.max_length = controls.max_length
        return reply

    # -- one message --------------------------------------------------------------------------

    def _process(self, stored: Session | None, message: Incoming, text: str | None) -> Turn:
        home = self.engine.home()
        session = stored or Session(message.user.key, home.flow, home.state)
        ctx = EngineContext(session, self.catalog, self.registry, self.config,
                          services=self.services)
        turn = Turn(ctx)
        if message.update_id:
            session.remember_update(message.update_id)
        command = parse_command(text) if text else None
        if stored is None:
            self.engine.enter(ctx, home)
            if text and self._safety_check(turn, text, first=True):
                return turn
            if command is None or command[0] in ("start", "menu"):
                if command:
                    ctx.out.clear()
                    self._command(turn, *command)
                return turn
            ctx.out.clear()
        elif not ctx.valid(session.position):
            self._repair(turn)
            return turn
        if session.held and session.flow != SAFETY_FLOW:
            session.held = None
        if text and self._safety_check(turn, text):
            return turn
        if session.pending == "delete":
            answer = self._delete_answer(message, command, text)
            if answer is Answer.UNCLEAR:
                self._ask_delete(turn, "delete_unclear")
                return turn
            session.pending = None
            if answer is Answer.YES:
                turn.erase, turn.controls, turn.event = True, False, "delete"
                ctx.out.append(self.texts.get("deleted", answers=len(session.slots)))
                return turn
            ctx.out.append(self.texts.get("delete_cancelled"))
            if command is None and message.button in (None, DELETE_NO):
                self._reshow(turn)
                return turn
        mark = len(ctx.out)
        if command is not None:
            self._command(turn, *command)
        elif message.button is not None:
            self._button(turn, message.button)
        else:
            self._text(turn, text or "")
        if APPLY_HELD in ctx.effects:
            self._apply_held(turn)
        if session.wanted and session.flow == self.catalog.home and self._consented(ctx):
            self._open_wanted(turn, mark)
        return turn

    def _seen_in_groups(self, update_id: str) -> bool:
        """Group updates touch no session, so their ids are remembered here (the last
        GROUP_UPDATES_KEPT of them) to answer a repeated delivery once."""
        if update_id in self._group_updates:
            return True
        self._group_updates[update_id] = None
        if len(self._group_updates) > GROUP_UPDATES_KEPT:
            self._group_updates.popitem(last=False)
        return False

    def _consented(self, ctx: EngineContext) -> bool:
        if CONSENT_SLOT not in self.catalog.slots:
            return True
        return ctx.session.slots.get(CONSENT_SLOT) == CONSENT_VALUE

    def _open_wanted(self, turn: Turn, mark: int) -> None:
        """They have just confirmed their age: open the flow their `/start FLOW` asked for,
        instead of the menu this step landed on."""
        ctx = turn.ctx
        start = self.engine.start_of(ctx.session.wanted or "")
        ctx.session.wanted = None
        if start is None:  # the flows changed in between
            return
        del ctx.out[mark:]
        ctx.session.push_back(ctx.session.here)
        ctx.session.calls.clear()
        self.engine.enter(ctx, start)

    # -- safety -------------------------------------------------------------------------------

    def _safety_check(self, turn: Turn, text: str, *, first: bool = False) -> bool:
        """Screen the message before anything else uses it. A flagged message is never
        stored as an answer, echoed or logged; the person is taken to the safety flow."""
        result = self.screen(text)
        if not result.is_flagged:
            return False
        ctx = turn.ctx
        turn.event = f"safety_{result.risk}_{result.category}"
        ctx.out.clear()
        entry = "unsure" if result.risk == "unsure" else result.category
        safety = self.catalog.flow(SAFETY_FLOW)
        if safety is None or entry not in safety.spec.states:
            ctx.out.append(self.texts.get("sos"))
            self._sos_lines(ctx, result.category)
            self._reshow(turn)
            return True
        state = self.engine.state(ctx.session)
        keep = result.risk == "unsure" and state.ask is not None and not first
        ctx.session.held = text if keep else None
        ctx.session.pending = None
        self.engine.call(ctx, Position(SAFETY_FLOW, entry))
        return True

    def _apply_held(self, turn: Turn) -> None:
        """They said they are safe: the answer written before the check-in counts."""
        ctx = turn.ctx
        held, ctx.session.held = ctx.session.held, None
        if held and self.engine.state(ctx.session).ask is not None:
            ctx.out.clear()
            ctx.out.append(self.texts.get("held_answer_kept"))
            self.engine.answer(ctx, held)

    def _sos_lines(self, ctx: EngineContext, category: str) -> None:
        resources = self.catalog.services.get("resources")
        if resources is not None:
            category = category if category in ("violence", "coercive_control",
                                                 "self_harm") else "general"
            ctx.out.append(resources.text(category, self.config.get("country")))

    def _purge_if_due(self) -> None:
        """Retention: sessions untouched for COACH_RETENTION_DAYS are erased, checked at
        most hourly, in the background."""
        days = retention_days(self.config)
        now = self.clock()
        if not days or now - self._last_purge < PURGE_EVERY_S:
            return
        if self._purging is not None and not self._purging.done():
            return
        self._last_purge = now
        self._purging = asyncio.get_running_loop().create_task(self._purge_quietly())

    async def _purge_quietly(self) -> None:
        """The background purge: its failure is logged, never left for the event loop to
        report at shutdown."""
        try:
            await self.purge_expired()
        except StoreClosed:
            log.info("event=retention_purge_skipped reason=store_closed")
        except Exception as error:  # a purge must never take the bot down
            log.warning("event=retention_purge_failed error=%s", type(error).__name__)

    async def purge_expired(self) -> int:
        days = retention_days(self.config)
        if not days:
            return 0
        count = await self.store.purge(self.clock() - days * 86400)
        if count:
            log.info("event=retention_purge sessions=%d", count)
        return count

    def _command(self, turn: Turn, name: str, args: str) -> None:
        ctx, texts, engine = turn.ctx, self.texts, self.engine
        turn.event = f"command_{name}" if name in COMMANDS else "command_unknown"
        if name in ("start", "menu"):
            target = engine.home()
            ctx.session.wanted = None
            if args:
                flow_id = args.split()[0].casefold()
                start = engine.start_of(flow_id)
                if start is None:
                    ctx.out.append(texts.get("unknown_flow", flow=flow_id[:40]))
                else:
                    target = start
            if target.flow not in (engine.home().flow, SAFETY_FLOW) and not self._consented(ctx):
                ctx.session.wanted = target.flow  # opened once they have confirmed their age
                target = engine.home()
            ctx.session.calls.clear()
            engine.enter(ctx, target)
        elif name == "privacy":
            days = retention_days(self.config)
            how_long = (texts.get("privacy_kept_for", days=days) if days
                        else texts.get("privacy_kept_until_deleted"))
            ctx.out.append(texts.get(name, how_long=how_long))
        elif name in ("help", "sos"):
            ctx.out.append(texts.get(name))
            if name == "sos":
                self._sos_lines(ctx, "general")
        elif name == "back":
            while ctx.session.back:
                previous = ctx.session.back.pop()
                if ctx.valid(previous):
                    engine.enter(ctx, previous, run_actions=False)
                    return
            ctx.out.append(texts.get("back_nothing"))
        elif name == "restart":
            start = engine.start_of(ctx.session.flow) or engine.home()
            ctx.out.append(texts.get("restarted", title=engine.title(ctx.session)))
            ctx.session.push_back(ctx.session.here)
            engine.enter(ctx, start)
        elif name == "resume":
            self._reshow(turn)
        elif name == "export":
            self._export(turn)
        elif name == "delete":
            self._ask_delete(turn, "delete_confirm")
        else:
            ctx.out.append(texts.get("unknown_command", command="/" + name[:32]))

    def _button(self, turn: Turn, button: str) -> None:
        ctx = turn.ctx
        turn.event = "button"
        match = BUTTON_ID.match(button)
        step = int(match.group(1)) if match else -1
        if match and step == ctx.session.step:
            which = match.group(2)
            if which == "s":
                done = self.engine.skip(ctx)
            elif which == MENU:
                done = self.engine.to_menu(ctx)
            else:
                done = self.engine.press(ctx, int(which))
            if done:
                return
        stale = (match is not None and step < ctx.session.step) or button in (DELETE_YES,
                                                                             DELETE_NO)
        notice = self.texts.get("stale_button" if stale else "bad_button")
        turn.event = "button_stale" if stale else "button_invalid"
        turn.notice = notice
        ctx.out.append(notice)
        self._reshow(turn)

    def _text(self, turn: Turn, text: str) -> None:
        """A button's label or number acts as the button, also where free text is asked
        for; any other text is the answer (or, with no question, a gentle nudge)."""
        ctx, texts, engine = turn.ctx, self.texts, self.engine
        chosen = engine.typed_choice(ctx, text) if text else None
        if chosen is not None:
            self._button(turn, chosen)
            return
        state = engine.state(ctx.session)
        if state.ask is not None:
            ask = state.ask
            kept = ask.cleaned(text)
            if not text:
                ctx.out.append(texts.get("empty_text"))
            elif len(kept) > ask.max_length:
                ctx.out.append(texts.get("too_long", max=ask.max_length, length=len(kept)))
            elif len(kept) < ask.min_length:
                ctx.out.append(texts.get("too_short", min=ask.min_length))
            else:
                turn.event = "answer"
                engine.answer(ctx, text)
            return
        ctx.out.append(texts.get("empty_text" if not text else "pick_a_choice"))

    # -- helpers ------------------------------------------------------------------------------

    def _ask_delete(self, turn: Turn, text_id: str) -> None:
        turn.ctx.session.pending = "delete"
        turn.event = "command_delete"
        turn.ctx.out.append(self.texts.get(text_id))
        turn.choices = [Choice(DELETE_YES, self.texts.get("delete_yes")),
                        Choice(DELETE_NO, self.texts.get("delete_no"))]

    def _delete_answer(self, message: Incoming, command: tuple[str, str] | None,
                       text: str | None) -> Answer:
        """The person's answer to "delete everything?": the buttons, or words that clearly
        say yes or no. A command or another step's button leaves the question (a no)."""
        if message.button == DELETE_YES:
            return Answer.YES
        if message.button is not None or command is not None:
            return Answer.NO
        return self.delete_words.read(text or "", yes_label=self.texts.get("delete_yes"),
                                      no_label=self.texts.get("delete_no"))

    def _reshow(self, turn: Turn) -> None:
        self.engine.reshow(turn.ctx)

    def _repair(self, turn: Turn) -> None:
        """The flows changed under this session: keep what still fits, restart the flow."""
        ctx, session = turn.ctx, turn.ctx.session
        flow = self.catalog.flow(session.flow)
        target = Position(flow.spec.id, flow.spec.start) if flow else self.engine.home()
        session.slots = {k: v for k, v in session.slots.items() if k in self.catalog.slots}
        session.back = [p for p in session.back if ctx.valid(p)]
        session.calls = [p for p in session.calls if ctx.valid(p)]
        session.last = session.last if ctx.valid(session.last) else None
        session.pending = None
        session.shown = None
        if flow is None:
            ctx.out.append(self.texts.get("flow_removed"))
        else:
            ctx.out.append(self.texts.get("flow_changed", title=flow.spec.title))
        turn.event = "flow_changed"
        self.engine.enter(ctx, target)

    def _export(self, turn: Turn) -> None:
        ctx = turn.ctx
        data = export_data(ctx.session, self.catalog)
        ctx.out.append(export_text(data, self.texts))
        turn.attachments.append(export_attachment(data))

    def _reply(self, turn: Turn) -> Reply:
        reply = Reply(parts=list(turn.ctx.out), notice=turn.notice,
                      attachments=list(turn.attachments))
        if turn.choices is not None:
            reply.choices = turn.choices
        elif turn.controls:
            controls = self.engine.controls(turn.ctx)
            reply.choices = controls.choices
            reply.expects_text = controls.expects_text
            reply.max_length = controls.max_length
        return reply
