"""The turns a check-in takes without a message from the person: one falls due, or all of
them stop (the person blocked the bot).

Why apart from bot/stages.py: these turns begin with no message and run none of the
message's stages; they share only `Stages.begin` and the engine with it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from bot.checkins.due import take_due
from bot.checkins.flow import CHECKIN_FLOW, ENTRY_STATES
from bot.checkins.record import CheckinBook
from bot.checkins.schedule import week_of
from bot.checkins.texts import SERVICE as CHECKIN_TEXTS
from bot.checkins.texts import CheckinTexts
from bot.messages import Incoming
from bot.safety.flow import SAFETY_FLOW
from bot.session import Position, Session
from bot.turn import Turn

if TYPE_CHECKING:
    from bot.stages import Stages

log = logging.getLogger("coach.core")


class CheckinTurns:
    """Check-in turns over the message stages' engine and catalog."""

    def __init__(self, stages: Stages) -> None:
        self.stages = stages

    def texts(self) -> CheckinTexts | None:
        texts = self.stages.catalog.services.get(CHECKIN_TEXTS)
        return texts if isinstance(texts, CheckinTexts) else None

    def due(self, stored: Session, user: Incoming, now: float) -> Turn | None:
        """Move the person's due check-ins on (sent, waiting for the end of their quiet
        hours, or let go past a day) and, for the one sent, take them to its step, as a
        `call`, so its last step goes back where they were. None when nothing is due (another
        process sent it first): nothing is saved. The caller commits before anything is sent:
        that commit is the claim."""
        if stored.due is None or stored.due > now:
            return None
        stages = self.stages
        turn = stages.begin(stored, user, None)
        texts = self.texts()
        book = CheckinBook(turn.session, texts.default_quiet if texts else None)
        session = turn.session
        busy = bool(session.pending) or session.flow == SAFETY_FLOW
        outcome = take_due(book, now, busy=busy)
        for kind in outcome.skipped:
            log.info("event=checkin_skipped kind=%s user=%s", kind, session.user_key)
        turn.event, turn.controls = "checkin_waits", False
        flow = stages.catalog.flow(CHECKIN_FLOW)
        entry = ENTRY_STATES.get(outcome.send or "")
        if outcome.send is None or flow is None or entry not in flow.spec.states:
            if outcome.send is not None:
                log.warning("event=checkin_skipped kind=%s reason=no_flow", outcome.send)
            return turn
        book.data["week"] = week_of(now, book.zone or "UTC")
        turn.controls = True
        turn.event = f"checkin_sent_{outcome.send}" + ("_late" if outcome.late else "")
        if outcome.late and texts is not None:
            turn.notes.append(texts.get("late"))
        session.calls.append(session.here)  # its last step goes back here, even from within
        turn.shown = stages.engine.enter(turn.ctx, Position(CHECKIN_FLOW, entry))
        return turn

    def stop(self, stored: Session, user: Incoming, reason: str) -> Turn | None:
        """Every check-in stopped (the weeks answered stay); None when none was set."""
        if not CheckinBook(stored).scheduled():
            return None
        turn = self.stages.begin(stored, user, None)
        CheckinBook(turn.session).stop()
        turn.event, turn.controls = f"checkins_stopped_{reason}", False
        return turn
