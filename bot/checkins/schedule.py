"""Local wall-clock times in a person's timezone, as Unix times: reading what people type
(a time, a timezone), the next weekly or one-off moment, and quiet hours.

Why local wall-clock: "every Sunday at 18:00" stays 18:00 across daylight-saving changes,
so each next moment is computed from the local date, never by adding seven days of seconds.
Pure functions of their arguments (no clock of their own), so tests pass any `now`.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAY_S = 86400.0
_OFFSET = re.compile(r"^(?:utc|gmt)?\s*([+\-\u2212])\s*(\d{1,2})(?:[:.h]?(\d{2}))?$")
_TIME = re.compile(r"^(\d{1,2})(?:\s*[:.h]\s*(\d{2}))?\s*(am|pm|a\.m\.|p\.m\.)?$")
_ZONE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_+\-]*(?:/[A-Za-z0-9_+\-]+){0,2}$")


def parse_zone(text: str) -> str | None:
    """A timezone as stored: an IANA name as the tz database spells it ("Europe/Paris"), or
    a fixed offset "UTC+05:30". None for anything else."""
    typed = " ".join(text.split())
    if not typed:
        return None
    if typed.casefold() in ("utc", "gmt", "z"):
        return "UTC"
    offset = _OFFSET.match(typed.casefold())
    if offset:
        hours, minutes = int(offset.group(2)), int(offset.group(3) or 0)
        if hours > 14 or minutes >= 60 or hours * 60 + minutes > 14 * 60:
            return None
        sign = "-" if offset.group(1) in "-\u2212" else "+"
        return "UTC" if hours == minutes == 0 else f"UTC{sign}{hours:02d}:{minutes:02d}"
    name = typed.replace(" ", "_")
    if not _ZONE_NAME.match(name):
        return None
    for candidate in (name, "/".join(part[:1].upper() + part[1:] for part in name.split("/"))):
        try:
            ZoneInfo(candidate)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            continue
        return candidate
    return None


def zone(name: str) -> tzinfo:
    """The tzinfo of a stored zone (parse_zone's spelling); UTC for one no longer known."""
    if name.startswith("UTC") and len(name) > 3:
        sign = -1 if name[3] == "-" else 1
        hours, minutes = int(name[4:6]), int(name[7:9])
        return timezone(sign * timedelta(hours=hours, minutes=minutes))
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return UTC


def parse_time(text: str) -> tuple[int, int] | None:
    """(hour, minute) from "18:30", "18.30", "6pm", "6:30 pm", "9"; None otherwise."""
    found = _TIME.match(" ".join(text.casefold().split()))
    if not found:
        return None
    hour, minute, half = int(found.group(1)), int(found.group(2) or 0), found.group(3)
    if half:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if half.startswith("p") else 0)
    if hour > 23 or minute > 59:
        return None
    return hour, minute


def clock(hour_minute: tuple[int, int]) -> str:
    return f"{hour_minute[0]:02d}:{hour_minute[1]:02d}"


def local(now: float, zone_name: str) -> datetime:
    return datetime.fromtimestamp(now, zone(zone_name))


def at(day: date, hour_minute: tuple[int, int], zone_name: str) -> float:
    """That local wall-clock time on that day, as a Unix time (a time skipped by a DST
    change is read as zoneinfo reads it: shifted by the gap)."""
    moment = datetime.combine(day, time(*hour_minute), zone(zone_name))
    return moment.timestamp()


def once(now: float, days_ahead: int, hour_minute: tuple[int, int], zone_name: str) -> float:
    """`days_ahead` local days from today, at that time."""
    today = local(now, zone_name).date()
    return at(today + timedelta(days=days_ahead), hour_minute, zone_name)


def weekly(after: float, weekday: int, hour_minute: tuple[int, int], zone_name: str) -> float:
    """The first moment after `after` that is `weekday` (0 Monday) at that local time."""
    today = local(after, zone_name).date()
    for ahead in range(8):
        day = today + timedelta(days=ahead)
        if day.weekday() == weekday:
            moment = at(day, hour_minute, zone_name)
            if moment > after:
                return moment
    return at(today + timedelta(days=7 + (weekday - today.weekday()) % 7), hour_minute,
              zone_name)


def week_of(now: float, zone_name: str) -> str:
    """The ISO week a moment falls in, locally: "2025-W03"."""
    year, week, _ = local(now, zone_name).isocalendar()
    return f"{year}-W{week:02d}"


# -- quiet hours ------------------------------------------------------------------------------

Quiet = tuple[int, int] | None  # (start, end) in minutes after local midnight; None: none


def parse_quiet(text: str) -> Quiet | str:
    """"21:00-08:00" -> (1260, 480); "off" -> None; "" for text that is neither."""
    if text.strip().casefold() in ("off", "none", "no"):
        return None
    start, sep, end = text.replace("\u2013", "-").partition("-")
    first, last = parse_time(start), parse_time(end)
    if not sep or first is None or last is None or first == last:
        return ""
    return first[0] * 60 + first[1], last[0] * 60 + last[1]


def _minutes(moment: datetime) -> int:
    return moment.hour * 60 + moment.minute


def in_quiet(now: float, zone_name: str, quiet: Quiet) -> bool:
    if quiet is None:
        return False
    start, end = quiet
    minute = _minutes(local(now, zone_name))
    return start <= minute < end if start < end else minute >= start or minute < end


def quiet_end(now: float, zone_name: str, quiet: Quiet) -> float:
    """When the quiet hours around `now` end (now, if it is not in them)."""
    if quiet is None or not in_quiet(now, zone_name, quiet):
        return now
    moment = local(now, zone_name)
    end = divmod(quiet[1], 60)
    day = moment.date() if _minutes(moment) < quiet[1] else moment.date() + timedelta(days=1)
    return at(day, end, zone_name)


def clock_in_quiet(hour_minute: tuple[int, int], quiet: Quiet) -> bool:
    """Whether a wall-clock time falls in the quiet hours."""
    if quiet is None:
        return False
    start, end = quiet
    minute = hour_minute[0] * 60 + hour_minute[1]
    return start <= minute < end if start < end else minute >= start or minute < end
