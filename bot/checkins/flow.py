"""The check-ins flow's name and the states the core enters in it (checked with the flows:
a flows folder with a `checkins` flow must have them)."""

from __future__ import annotations

from bot.checkins.record import OURS, PARTNER, TALK, WEEKLY

CHECKIN_FLOW = "checkins"
LIST_STATE = "list"  # where /checkins lands
# The step each kind of check-in opens with when it is sent.
ENTRY_STATES = {TALK: "talk_due", WEEKLY: "weekly_due", OURS: "ours_due",
                PARTNER: "partner_ready"}
CORE_STATES = (LIST_STATE, *ENTRY_STATES.values())
