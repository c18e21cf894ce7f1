"""When a due check-in goes out: now, a little late, after the person's quiet hours, or
not at all.

Why these rules: a reminder the bot could not send on time (it was down, or busy) is still
worth sending within a day, once, with a kind word that it is late; past a day it would only
confuse, so it is let go and the next one (a weekly check-in's next week) stands. Quiet
hours are the person's: nothing is sent in them; a check-in that falls in them waits for
their end, and the one-day rule counts from the time first due.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from bot.checkins.record import CheckinBook, hour_minute
from bot.checkins.schedule import DAY_S, in_quiet, quiet_end, weekly

LATE_AFTER_S = 15 * 60  # later than this, the message says it is late
SKIP_AFTER_S = DAY_S  # later than this, it is not sent at all
BUSY_WAIT_S = 3600.0  # the person is in the safety flow or answering a check-in: wait


@dataclass(frozen=True)
class Decision:
    action: Literal["send", "wait", "skip"]
    late: bool = False
    until: float | None = None


def decide(due: float, now: float, zone_name: str, quiet: tuple[int, int] | None, *,
           busy: bool = False) -> Decision:
    """What to do with one check-in due at `due`, at `now`."""
    if now - due > SKIP_AFTER_S:
        return Decision("skip")
    if busy or in_quiet(now, zone_name, quiet):
        until = quiet_end(now, zone_name, quiet) if not busy else now + BUSY_WAIT_S
        until = max(until, quiet_end(until, zone_name, quiet))
        return Decision("skip") if until - due > SKIP_AFTER_S else Decision("wait", until=until)
    return Decision("send", late=now - due > LATE_AFTER_S)


@dataclass
class Outcome:
    """One pass over a person's check-ins: the one to send (if any), whether it is late,
    and those let go."""

    send: str | None = None
    late: bool = False
    skipped: list[str] = field(default_factory=list)
    waited: list[str] = field(default_factory=list)


def take_due(book: CheckinBook, now: float, *, busy: bool = False) -> Outcome:
    """Decide every check-in due by `now` and move each one on (sent, waiting or let go),
    in the book: the caller commits the session, which is the claim. At most one is sent
    per pass; another due at the same moment waits for the next pass."""
    outcome = Outcome()
    zone_name = book.zone or "UTC"
    for kind, item in sorted(book.items.items(), key=lambda pair: pair[1]["due"]):
        if item["due"] > now:
            continue
        first_due = item.get("was_due", item["due"])  # lateness counts from the time first due
        decision = decide(first_due, now, item.get("zone") or zone_name, book.quiet,
                          busy=busy or outcome.send is not None)
        if decision.action == "wait":
            item["was_due"], item["due"] = first_due, decision.until
            outcome.waited.append(kind)
            continue
        item.pop("was_due", None)
        if decision.action == "send":
            outcome.send, outcome.late = kind, decision.late
        else:
            outcome.skipped.append(kind)
        _move_on(book, kind, now)
    book.sync()
    return outcome


def _move_on(book: CheckinBook, kind: str, now: float) -> None:
    """A weekly check-in's next week; a one-off is done."""
    item = book.items[kind]
    if item.get("weekday") is None:
        del book.items[kind]
        return
    item["due"] = weekly(max(now, item["due"]), item["weekday"], hour_minute(item),
                         item.get("zone") or book.zone or "UTC")
