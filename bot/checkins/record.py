"""What a person's session keeps about their check-ins: their timezone, quiet hours, each
scheduled check-in (when it is next due, at what local time), and the weeks they answered.

Why a view over a plain dict: the session stays JSON (sealed with everything else), and
every change goes through here, which keeps `Session.due`, the one time the store indexes
(unsealed, so due check-ins can be found without opening every session), in step.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.checkins.schedule import Quiet, at, local, weekly
from bot.session import Session

TALK, WEEKLY = "talk", "weekly"
# Couple mode's: a weekly check-in on the agreements two partners made (each partner's own,
# answered privately), and the one note that the partner is ready to compare a topic.
OURS, PARTNER = "ours", "partner"
KINDS = (TALK, WEEKLY, OURS)  # the ones a person picks a day and time for
SHARED_KINDS = (OURS, PARTNER)  # only while the pairing lasts: /unpair and /delete stop them
WEEKS_KEPT = 26  # the weeks of answers kept per commitment (half a year)


class CheckinBook:
    """The check-ins in one session; changes write through to it."""

    def __init__(self, session: Session, default_quiet: Quiet = None) -> None:
        self.session = session
        self.data: dict[str, Any] = session.checkins
        self.default_quiet = default_quiet

    @property
    def zone(self) -> str | None:
        return self.data.get("zone")

    def set_zone(self, name: str, now: float) -> None:
        """A new timezone keeps every check-in at the same local time, now in that zone:
        a weekly one at its next weekday after `now`, a one-off on the same local day."""
        for item in self.items.values():
            if item.get("weekday") is not None:
                item["due"] = weekly(now, item["weekday"], _hm(item), name)
            else:
                day = local(item["due"], item.get("zone") or self.zone or name).date()
                item["due"] = at(day, _hm(item), name)
            item["zone"] = name
        self.data["zone"] = name
        self.sync()

    @property
    def quiet(self) -> Quiet:
        if "quiet" not in self.data:
            return self.default_quiet
        value = self.data["quiet"]
        return (int(value[0]), int(value[1])) if value else None

    @quiet.setter
    def quiet(self, value: Quiet) -> None:
        self.data["quiet"] = list(value) if value else None

    @property
    def items(self) -> dict[str, dict[str, Any]]:
        return self.data.setdefault("items", {})

    def scheduled(self, kind: str | None = None) -> bool:
        items = self.data.get("items") or {}
        return bool(items) if kind is None else kind in items

    def schedule(self, kind: str, due: float, hour_minute: tuple[int, int],
                 weekday: int | None = None) -> None:
        self.items[kind] = {"due": due, "at": f"{hour_minute[0]:02d}:{hour_minute[1]:02d}",
                            "weekday": weekday, "zone": self.zone}
        self.sync()

    def stop(self, kind: str | None = None) -> list[str]:
        """Stop one kind, or all; the kinds stopped. The weeks answered are kept."""
        items = self.data.get("items") or {}
        stopped = [k for k in list(items) if kind in (None, k)]
        for name in stopped:
            del items[name]
        self.sync()
        return stopped

    def mark(self, slot: str, week: str, value: str) -> None:
        weeks = self.data.setdefault("weeks", {}).setdefault(slot, {})
        weeks[week] = value
        for old in sorted(weeks)[:-WEEKS_KEPT]:
            del weeks[old]

    @property
    def weeks(self) -> Mapping[str, Mapping[str, str]]:
        return self.data.get("weeks") or {}

    def sync(self) -> None:
        """`Session.due` is the earliest check-in due (None: none)."""
        dues = [item["due"] for item in (self.data.get("items") or {}).values()]
        self.session.due = min(dues) if dues else None


def _hm(item: Mapping[str, Any]) -> tuple[int, int]:
    hour, _, minute = str(item["at"]).partition(":")
    return int(hour), int(minute)


def hour_minute(item: Mapping[str, Any]) -> tuple[int, int]:
    return _hm(item)
