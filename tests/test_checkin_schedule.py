"""Local wall-clock times for check-ins: what people type, the next moment, quiet hours."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.checkins.schedule import (
    clock_in_quiet,
    in_quiet,
    once,
    parse_quiet,
    parse_time,
    parse_zone,
    quiet_end,
    week_of,
    weekly,
)
from tests.checkin_steps import MONDAY_10AM, london


@pytest.mark.parametrize(("typed", "kept"), [
    ("Europe/Paris", "Europe/Paris"), ("europe/paris", "Europe/Paris"),
    ("America/New York", "America/New_York"), ("UTC", "UTC"), ("gmt", "UTC"),
    ("UTC+2", "UTC+02:00"), ("+5:30", "UTC+05:30"), ("utc-0300", "UTC-03:00"),
    ("UTC+0", "UTC"), ("Mars/Olympus", None), ("UTC+15", None), ("", None),
    ("../etc/passwd", None), ("18:00", None),
])
def test_timezones_as_people_type_them(typed: str, kept: str | None) -> None:
    assert parse_zone(typed) == kept


@pytest.mark.parametrize(("typed", "read"), [
    ("18:30", (18, 30)), ("18.30", (18, 30)), ("6pm", (18, 0)), ("6:15 pm", (18, 15)),
    ("12am", (0, 0)), ("9", (9, 0)), ("24:00", None), ("13pm", None), ("soon", None),
])
def test_times_as_people_type_them(typed: str, read: tuple[int, int] | None) -> None:
    assert parse_time(typed) == read


def test_weekly_keeps_the_local_time_across_a_clock_change() -> None:
    """British clocks go forward on 30 March 2025: Sunday 18:00 stays 18:00 local."""
    first = weekly(MONDAY_10AM, 6, (18, 0), "Europe/London")
    assert first == london(16, 18)
    later = weekly(london(23, 18), 6, (18, 0), "Europe/London")
    assert datetime.fromtimestamp(later, UTC).hour == 17  # 18:00 BST
    assert once(MONDAY_10AM, 1, (18, 0), "Europe/London") == london(11, 18)


def test_quiet_hours_over_midnight_and_their_end() -> None:
    quiet = parse_quiet("21:00-08:00")
    assert quiet == (21 * 60, 8 * 60)
    assert parse_quiet("off") is None and parse_quiet("soon") == ""
    assert in_quiet(london(11, 22), "Europe/London", quiet)
    assert not in_quiet(london(11, 20, 59), "Europe/London", quiet)
    assert quiet_end(london(11, 22), "Europe/London", quiet) == london(12, 8)
    assert quiet_end(london(12, 7), "Europe/London", quiet) == london(12, 8)
    assert clock_in_quiet((7, 59), quiet) and not clock_in_quiet((8, 0), quiet)
    assert week_of(MONDAY_10AM, "Europe/London") == "2025-W11"
