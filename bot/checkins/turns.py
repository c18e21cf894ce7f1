"""The turns a check-in takes without a message from the person: one falls due, all of
them stop (the person blocked the bot), or their partner's "ready to compare" note is set.

Why apart from bot/stages.py: these turns begin with no message and run none of the
message's stages; they share only `Stages.begin` and the engine with it.

Couple mode's kinds (`SHARED_KINDS`) are checked against the pair record when they fall
due, not only when the pairing ends: a partner's /unpair or /delete never touches this
person's session, so a reminder about shared agreements, or the note that the partner is
ready, is let go unsent once the record is gone (or while this person has a safety concern
on record: sharing is paused for them, see docs/couples.md).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from bot.checkins.actions import PARTNER_TOPIC
from bot.checkins.due import take_due
from bot.checkins.flow import CHECKIN_FLOW, ENTRY_STATES
from bot.checkins.record import OURS, PARTNER, SHARED_KINDS, CheckinBook, hour_minute
from bot.checkins.schedule import local, week_of, weekly
from bot.checkins.texts import SERVICE as CHECKIN_TEXTS
from bot.checkins.texts import CheckinTexts
from bot.messages import Incoming
from bot.pairing import couple
from bot.pairing.shared import Shared, blocked
from bot.pairing.together import SERVICE as TOGETHER
from bot.pairing.together import Together
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

    def together(self) -> Together | None:
        found = self.stages.catalog.services.get(TOGETHER)
        return found if isinstance(found, Together) else None

    def due(self, stored: Session, user: Incoming, now: float,
            shared: Shared | None = None) -> Turn | None:
        """Move the person's due check-ins on (sent, waiting for the end of their quiet
        hours, or let go past a day) and, for the one sent, take them to its step, as a
        `call`, so its last step goes back where they were. None when nothing is due (another
        process sent it first): nothing is saved. The caller commits before anything is sent:
        that commit is the claim."""
        if stored.due is None or stored.due > now:
            return None
        stages = self.stages
        turn = stages.begin(stored, user, None, shared)
        texts = self.texts()
        book = CheckinBook(turn.session, texts.default_quiet if texts else None)
        session = turn.session
        topic = self._shared_kinds_due(book, shared, now)
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
        if outcome.send == PARTNER and topic is not None:
            self._told_partner_ready(turn, shared, topic)
        turn.controls = True
        turn.event = f"checkin_sent_{outcome.send}" + ("_late" if outcome.late else "")
        if outcome.late and texts is not None and outcome.send != PARTNER:  # no time promised
            turn.notes.append(texts.get("late"))
        session.calls.append(session.here)  # its last step goes back here, even from within
        turn.shown = stages.engine.enter(turn.ctx, Position(CHECKIN_FLOW, entry))
        return turn

    def _shared_kinds_due(self, book: CheckinBook, shared: Shared | None,
                          now: float) -> str | None:
        """Let couple mode's due check-ins go, unsent, when the pairing has ended or sharing
        is paused for this person; the topic of a "partner ready" note still to send."""
        session = book.session
        rec = couple.record(shared, session) if shared is not None else None
        paused = blocked(session)
        for kind in SHARED_KINDS:
            item = book.items.get(kind)
            if item is None or item["due"] > now:
                continue
            if kind == OURS and rec is not None and paused:
                # Paused, not ended: this week is let go, the next one stands.
                item["due"] = weekly(now, item["weekday"], hour_minute(item),
                                     item.get("zone") or book.zone or "UTC")
                book.sync()
                log.info("event=checkin_skipped kind=%s reason=paused", kind)
            elif rec is None or (kind == PARTNER and (paused or not _still_ready(
                    rec, item.get("topic") or "", session.user_key))):
                book.stop(kind)
                log.info("event=checkin_skipped kind=%s reason=not_shared", kind)
        item = book.items.get(PARTNER)
        return item.get("topic") if item is not None and item["due"] <= now else None

    def _told_partner_ready(self, turn: Turn, shared: Shared | None, topic: str) -> None:
        """The note names the topic, and counts as the next-message "you've both
        finished" note, which is then not said again."""
        together = self.together()
        spec = together.topics.get(topic) if together is not None else None
        turn.session.checkins[PARTNER_TOPIC] = spec.title if spec is not None else topic
        rec = couple.record(shared, turn.session) if shared is not None else None
        if shared is not None and rec is not None:
            couple.mark_told(rec, turn.session.user_key, f"ready:{topic}")
            shared.put(f"pair:{turn.session.pair}", rec)

    def partner_ready(self, stored: Session | None, user: Incoming, topic: str,
                      now: float) -> Turn | None:
        """Their partner tapped "Show us both" on `topic` and they have not: one note,
        due now (it waits for the end of their quiet hours), sent by the check-ins' loop.
        None, with nothing saved, for someone no longer paired or with a concern on record."""
        if stored is None or not stored.pair or blocked(stored):
            return None
        turn = self.stages.begin(stored, user, None)
        texts = self.texts()
        book = CheckinBook(turn.session, texts.default_quiet if texts else None)
        moment = local(now, book.zone or "UTC")
        book.schedule(PARTNER, now, (moment.hour, moment.minute))
        book.items[PARTNER]["topic"] = topic
        turn.event, turn.controls = "partner_ready_set", False
        return turn

    def stop(self, stored: Session, user: Incoming, reason: str) -> Turn | None:
        """Every check-in stopped (the weeks answered stay); None when none was set."""
        if not CheckinBook(stored).scheduled():
            return None
        turn = self.stages.begin(stored, user, None)
        CheckinBook(turn.session).stop()
        turn.event, turn.controls = f"checkins_stopped_{reason}", False
        return turn


def _still_ready(rec: dict[str, Any], topic: str, me: str) -> bool:
    """The partner has shown their answers on `topic` and this person has not yet."""
    partner = couple.partner_of(rec, me)
    return (couple.side(rec, topic, partner)["shown"] is not None
            and couple.side(rec, topic, me)["shown"] is None)
