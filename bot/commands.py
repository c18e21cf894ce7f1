"""The commands every step understands, as one table: name, handler, the message that
describes it (`command_<name>` in flows/core/messages.yaml) and whether chat apps list it.

Both platform adapters build their command menus from this table, so a command added here
shows up everywhere at once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from bot.checkins.flow import CHECKIN_FLOW, LIST_STATE
from bot.config import retention_days
from bot.i18n.choose import chosen
from bot.pairing import commands as pairing
from bot.pairing.codes import DEEP_LINK_PREFIX
from bot.plan import SERVICE as PLAN_SERVICE
from bot.plan import Plan
from bot.safety.flow import SAFETY_FLOW
from bot.session import Position

if TYPE_CHECKING:
    from bot.engine import Engine, EngineContext
    from bot.texts import Texts
    from bot.turn import Turn


class Core(Protocol):
    """What command handlers use of the Coach."""

    engine: Engine
    texts: Texts
    config: Mapping[str, str]
    languages: Mapping[str, str]  # the shipped languages: code -> own name

    def consented(self, ctx: EngineContext) -> bool: ...

    def export(self, turn: Turn) -> None: ...

    def ask_to_delete(self, turn: Turn) -> None: ...

    def ask_language(self, turn: Turn) -> None: ...

    def sos_lines(self, category: str) -> list[str]: ...


Handler = Callable[[Core, "Turn", str], None]


@dataclass(frozen=True)
class Command:
    name: str
    run: Handler
    in_menus: bool = True
    # Takes a topic: `/start boundaries` (chat apps offer it as an option).
    takes_topic: bool = False
    # Takes a code: `/pair ABCD-EFGH-JKMN` (chat apps ask for it as an option).
    takes_code: bool = False

    @property
    def help_id(self) -> str:
        return f"command_{self.name}"


def _start(core: Core, turn: Turn, args: str) -> None:
    """The menu, or the part named (`/start talk`); before the age question is answered,
    the part waits until it has been."""
    engine, ctx, session = core.engine, turn.ctx, turn.session
    if args.casefold().startswith(DEEP_LINK_PREFIX):  # t.me/<bot>?start=pair-CODE
        pairing.pair(core, turn, args[len(DEEP_LINK_PREFIX):])
        return
    target = engine.home()
    session.wanted = None
    if args:
        flow_id = args.split()[0].casefold()
        start = engine.start_of(flow_id)
        if start is None:
            turn.notes.append(core.texts.get("unknown_flow", flow=flow_id[:40]))
        else:
            target = start
    if target.flow not in (engine.home().flow, SAFETY_FLOW) and not core.consented(ctx):
        session.wanted = target.flow
        target = engine.home()
    session.calls.clear()
    turn.shown = engine.enter(ctx, target)


def _help(core: Core, turn: Turn, _: str) -> None:
    turn.notes.append(core.texts.get("help"))


def _sos(core: Core, turn: Turn, _: str) -> None:
    turn.notes.append(core.texts.get("sos"))
    turn.notes.extend(core.sos_lines("general"))


def _privacy(core: Core, turn: Turn, _: str) -> None:
    days = retention_days(core.config)
    how_long = (core.texts.get("privacy_kept_for", days=days) if days
                else core.texts.get("privacy_kept_until_deleted"))
    turn.notes.append(core.texts.get("privacy", how_long=how_long))


def _back(core: Core, turn: Turn, _: str) -> None:
    ctx = turn.ctx
    while ctx.session.back:
        previous = ctx.session.back.pop()
        if ctx.valid(previous):
            turn.shown = core.engine.enter(ctx, previous, run_actions=False)
            return
    turn.notes.append(core.texts.get("back_nothing"))


def _restart(core: Core, turn: Turn, _: str) -> None:
    engine, session = core.engine, turn.session
    start = engine.start_of(session.flow) or engine.home()
    turn.notes.append(core.texts.get("restarted", title=engine.title(session)))
    session.push_back(session.here)
    turn.shown = engine.enter(turn.ctx, start)


def _resume(core: Core, turn: Turn, _: str) -> None:
    turn.shown = core.engine.reshow(turn.ctx)


def _plan(core: Core, turn: Turn, _: str) -> None:
    """The plan, shown over the step the person is on, which stays as it was (like /sos):
    nothing is re-run, so a practice or a half-typed step carries on where it was."""
    plan = core.engine.catalog.services.get(PLAN_SERVICE)
    if not isinstance(plan, Plan):
        turn.notes.append(core.texts.get("unknown_flow", flow=PLAN_SERVICE))
        return
    turn.notes.append(plan.render(turn.session.slots))


def _checkins(core: Core, turn: Turn, _: str) -> None:
    """The check-ins: listed, changed or stopped in their flow, which goes back to the step
    the person was on. Before the age question, the menu (as `/start checkins`)."""
    engine, session = core.engine, turn.session
    flow = engine.catalog.flow(CHECKIN_FLOW)
    if flow is None or LIST_STATE not in flow.spec.states or not core.consented(turn.ctx):
        _start(core, turn, CHECKIN_FLOW)
        return
    where = Position(CHECKIN_FLOW, LIST_STATE)
    if session.flow == CHECKIN_FLOW:
        session.push_back(session.here)
        turn.shown = engine.enter(turn.ctx, where)
    else:
        turn.shown = engine.call(turn.ctx, where)


def _export(core: Core, turn: Turn, _: str) -> None:
    core.export(turn)


def _delete(core: Core, turn: Turn, _: str) -> None:
    core.ask_to_delete(turn)


def _language(core: Core, turn: Turn, args: str) -> None:
    """`/language es` (or `Español`) chooses at once; `/language` asks, with buttons."""
    code = chosen(args, core.languages) if args else None
    if code is None:
        core.ask_language(turn)
    else:
        turn.language = code


COMMANDS: tuple[Command, ...] = (
    Command("start", _start, takes_topic=True),
    Command("menu", _start),
    Command("help", _help),
    Command("back", _back),
    Command("restart", _restart),
    Command("resume", _resume),
    Command("plan", _plan),
    Command("checkins", _checkins),
    Command("invite", pairing.invite),
    Command("together", pairing.invite),
    Command("pair", pairing.pair, takes_code=True),
    Command("unpair", pairing.unpair),
    Command("export", _export),
    Command("delete", _delete),
    Command("sos", _sos),
    Command("privacy", _privacy),
    Command("language", _language),
)
BY_NAME: dict[str, Command] = {command.name: command for command in COMMANDS}


def run_command(core: Core, turn: Turn, name: str, args: str) -> None:
    command = BY_NAME.get(name)
    turn.event = f"command_{name}" if command else "command_unknown"
    if command is None:
        turn.notes.append(core.texts.get("unknown_command", command="/" + name[:32]))
        return
    command.run(core, turn, args)


def menu_entries(texts: Texts) -> list[tuple[Command, str]]:
    """The commands chat apps list, each with its description."""
    return [(command, texts.get(command.help_id)) for command in COMMANDS if command.in_menus]
