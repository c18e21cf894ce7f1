"""Couple mode's commands: /invite and /together (the pair flow: an invite, or what two
partners share), /pair CODE (also `/start pair-CODE`, a Telegram deep link), /unpair.

A code is checked before anything is kept. Someone new answers the same welcome and age
question as everyone first: the code waits (as its hash) until then, and the pair flow's
join steps follow, with the safety question, before they are joined.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.pairing import couple
from bot.pairing.together import SERVICE as TOGETHER
from bot.pairing.together import Together
from bot.session import Position

if TYPE_CHECKING:
    from bot.commands import Core
    from bot.turn import Turn

PAIR_FLOW = "pair"


def _together(core: Core) -> Together | None:
    found = core.engine.catalog.services.get(TOGETHER)
    return found if isinstance(found, Together) else None


def _open(core: Core, turn: Turn, state: str | None = None) -> None:
    """Enter the pair flow (its start, or a state of it), /back leading to where they were."""
    engine, session = core.engine, turn.session
    start = engine.start_of(PAIR_FLOW)
    if start is None or _together(core) is None:
        turn.notes.append(core.texts.get("unknown_flow", flow=PAIR_FLOW))
        return
    session.push_back(session.here)
    session.calls.clear()
    turn.shown = engine.enter(turn.ctx, Position(PAIR_FLOW, state) if state else start)


def invite(core: Core, turn: Turn, _: str) -> None:
    _open(core, turn)


def pair(core: Core, turn: Turn, args: str) -> None:
    """Accept an invite: a code that cannot be used (unknown, used, expired, cancelled, or
    its maker has a concern on record) is one neutral answer, never the reason."""
    together, shared, session = _together(core), turn.shared, turn.session
    if together is None or shared is None:
        _open(core, turn)
        return
    if not args.strip():
        turn.notes.append(together.text("pair_usage"))
        return
    problem = couple.join_problem(shared, session, shared.typed)
    if problem in (couple.OWN_CODE, couple.ALREADY_PAIRED):
        turn.notes.append(together.text(problem))
        return
    if problem is not None:
        _open(core, turn, None if problem == couple.BLOCKED else "cant_use")
        return
    session.joining = shared.typed
    if core.consented(turn.ctx):
        _open(core, turn)
        return
    session.wanted = PAIR_FLOW  # the join steps open once they have said they are 18+
    session.calls.clear()
    turn.shown = core.engine.enter(turn.ctx, core.engine.home())


def unpair(core: Core, turn: Turn, _: str) -> None:
    together = _together(core)
    if together is not None and not turn.session.pair:
        turn.notes.append(together.text("not_paired"))
        return
    _open(core, turn, "unpair")
