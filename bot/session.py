"""A person's place in the conversation: plain data, stored as JSON (never pickle)."""

from __future__ import annotations

import copy
import json
import time
from dataclasses import dataclass, field
from typing import Any

SEEN_UPDATES_KEPT = 64
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))  # built once, not per save
BACK_STACK_KEPT = 12  # /back this many steps; every save writes them, so keep it modest
# Characters of step text kept with the back stack. Older steps beyond this are shown again
# from their `say` (without their actions' output) instead of exactly as they were.
BACK_TEXT_KEPT = 1500


@dataclass(frozen=True)
class Position:
    """A state of a flow. `shown` is what that step displayed when the person left it, so
    /back, `return` and `resume` can repeat it exactly instead of running its actions again;
    it takes no part in comparing positions."""

    flow: str
    state: str
    shown: tuple[str, ...] | None = field(default=None, compare=False, repr=False)

    @property
    def place(self) -> Position:
        """The same position without its text."""
        return Position(self.flow, self.state) if self.shown is not None else self


@dataclass
class Session:
    """One person's session.

    `step` counts every step shown, so a button can say which step it belongs to;
    `version` counts saves, so a store can refuse a save based on an old read.
    `shown` is the current step's messages as they were sent (action output included), for
    /resume, a stale button and the greeting after a restart.
    `held` keeps an answer while the coach checks in on the person's safety; it is used
    only if they say they are safe, and dropped otherwise.
    `wanted` is a flow asked for (`/start FLOW`) before the age question was answered; it
    opens once it has been.
    `asked` names, for each answer, the step that asked for it ("flow.state"), so /export
    and /plan show the question the person actually saw.
    `checkins` holds the check-ins the person asked for and the weeks they answered
    (bot/checkins/record.py); `due` is when the earliest is next due, which stores keep
    beside the sealed data so the core can find whose check-ins are due.
    `pair` is the id of the pairing this person is in (couple mode, bot/pairing/); `invite`
    the hash of the invite they made and that is still open; `joining` the hash of the
    invite they are accepting, until they have said they are 18+ and feel safe.
    `lang` is the language the coach speaks with this person (a shipped catalog's code,
    bot/i18n/); None until it is first chosen, from the platform or /language.
    `record` is used instead of all the above by the records two people share, stored under
    keys of their own (`pair:<id>`, `invite:<hash>`): their data, never a person's place.
    """

    user_key: str
    flow: str
    state: str
    slots: dict[str, str] = field(default_factory=dict)
    back: list[Position] = field(default_factory=list)
    calls: list[Position] = field(default_factory=list)
    last: Position | None = None
    step: int = 0
    version: int = 0
    seen: list[str] = field(default_factory=list)
    pending: str | None = None
    held: str | None = None
    shown: tuple[str, ...] | None = None
    wanted: str | None = None
    asked: dict[str, str] = field(default_factory=dict)
    checkins: dict[str, Any] = field(default_factory=dict)
    due: float | None = None
    pair: str | None = None
    invite: str | None = None
    joining: str | None = None
    lang: str | None = None
    record: dict[str, Any] | None = None
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)

    @property
    def position(self) -> Position:
        return Position(self.flow, self.state)

    @property
    def here(self) -> Position:
        """The current position with what it showed, to come back to later."""
        return Position(self.flow, self.state, self.shown)

    def move_to(self, position: Position) -> None:
        self.flow, self.state = position.flow, position.state

    def remember_update(self, update_id: str) -> None:
        self.seen.append(update_id)
        del self.seen[:-SEEN_UPDATES_KEPT]

    def push_back(self, position: Position) -> None:
        if not self.back or self.back[-1] != position:
            self.back.append(position)
            del self.back[:-BACK_STACK_KEPT]
        self._trim_back_text()

    def _trim_back_text(self) -> None:
        budget = BACK_TEXT_KEPT
        for index in range(len(self.back) - 1, -1, -1):
            shown = self.back[index].shown
            if shown is None:
                continue
            budget -= sum(len(part) for part in shown)
            if budget < 0:
                self.back[index] = self.back[index].place

    def json_as_saved(self, version: int, updated_at: float) -> str:
        """The JSON a store writes for this session at `version` and `updated_at`, leaving
        the session as it is: a save that does not commit must not change it."""
        kept = self.version, self.updated_at
        self.version, self.updated_at = version, updated_at
        try:
            return self.to_json()
        finally:
            self.version, self.updated_at = kept

    def to_json(self) -> str:
        """Positions are written as [flow, state] pairs (with their text as a third item when
        kept): compact, and fast on every save."""
        data = {name: getattr(self, name) for name in _PLAIN_FIELDS}
        data["back"] = [_pair(p) for p in self.back]
        data["calls"] = [_pair(p) for p in self.calls]
        last = self.last
        if last is not None and last == self.position and last.shown == self.shown:
            last = last.place  # the current step's text is written once, as `shown`
        data["last"] = _pair(last) if last else None
        return _ENCODER.encode(data)

    def copy(self) -> Session:
        """A copy that shares nothing mutable (positions and texts are frozen). Made field
        by field rather than with dataclasses.replace, which re-runs __init__: this runs on
        every load and save."""
        twin = object.__new__(Session)
        twin.__dict__.update(self.__dict__)
        twin.slots, twin.back = dict(self.slots), list(self.back)
        twin.asked = dict(self.asked)
        twin.calls, twin.seen = list(self.calls), list(self.seen)
        twin.checkins = copy.deepcopy(self.checkins) if self.checkins else {}
        if self.record is not None:  # a shared record: nested, and rarely copied
            twin.record = json.loads(_ENCODER.encode(self.record))
        return twin

    @classmethod
    def from_json(cls, raw: str) -> Session:
        data: dict[str, Any] = json.loads(raw)
        session = cls(**{k: data[k] for k in _PLAIN_FIELDS if k in data})
        session.shown = tuple(session.shown) if session.shown is not None else None
        session.back = [_position(p) for p in data.get("back", [])]
        session.calls = [_position(p) for p in data.get("calls", [])]
        last = _position(data["last"]) if data.get("last") else None
        if last is not None and last.shown is None and last == session.position:
            last = session.here
        session.last = last
        return session


def _pair(position: Position) -> list[Any]:
    if position.shown is None:
        return [position.flow, position.state]
    return [position.flow, position.state, list(position.shown)]


def _position(raw: list[Any]) -> Position:
    shown = tuple(raw[2]) if len(raw) > 2 and raw[2] is not None else None
    return Position(raw[0], raw[1], shown)


_PLAIN_FIELDS = ("user_key", "flow", "state", "slots", "step", "version", "seen", "pending",
                 "held", "shown", "wanted", "asked", "checkins", "due", "pair", "invite",
                 "joining", "lang", "record", "created_at", "updated_at")
