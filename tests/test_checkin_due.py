"""When a due check-in goes out: on time, late with a word, after quiet hours, or not."""

from __future__ import annotations

from bot.checkins.due import Decision, decide, take_due
from bot.checkins.record import CheckinBook
from bot.session import Session
from tests.checkin_steps import DAY, HOUR, london

QUIET = (21 * 60, 8 * 60)
ZONE = "Europe/London"


def test_on_time_late_and_too_late() -> None:
    due = london(11, 18)
    assert decide(due, due, ZONE, QUIET) == Decision("send")
    assert decide(due, due + HOUR, ZONE, QUIET) == Decision("send", late=True)
    assert decide(due, due + DAY + 1, ZONE, QUIET) == Decision("skip")


def test_quiet_hours_wait_unless_that_makes_it_more_than_a_day_late() -> None:
    due = london(11, 18)
    assert decide(due, london(11, 22), ZONE, QUIET) == Decision("wait", until=london(12, 8))
    assert decide(london(11, 7), london(12, 7), ZONE, QUIET) == Decision("skip")


def test_one_sent_per_pass_and_a_weekly_one_moves_to_next_week() -> None:
    session = Session("test:a", "menu", "welcome")
    book = CheckinBook(session, QUIET)
    book.set_zone(ZONE, london(10, 10))
    book.schedule("talk", london(11, 18), (18, 0))
    book.schedule("weekly", london(11, 18), (18, 0), weekday=1)
    first = take_due(book, london(11, 18))
    assert first.send == "talk" and "weekly" in first.waited
    assert "talk" not in book.items and session.due == london(11, 19)
    second = take_due(book, london(11, 19))
    assert second.send == "weekly" and second.late
    assert session.due == london(18, 18)
