"""A person's place in the conversation: plain data, stored as JSON (never pickle)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from typing import Any

SEEN_UPDATES_KEPT = 64
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))  # built once, not per save
BACK_STACK_KEPT = 30


@dataclass(frozen=True)
class Position:
    flow: str
    state: str


@dataclass
class Session:
    """One person's session.

    `step` counts every step shown, so a button can say which step it belongs to;
    `version` counts saves, so a store can refuse a save based on an old read.
    `held` keeps an answer while the coach checks in on the person's safety; it is used
    only if they say they are safe, and dropped otherwise.
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
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)

    @property
    def position(self) -> Position:
        return Position(self.flow, self.state)

    def move_to(self, position: Position) -> None:
        self.flow, self.state = position.flow, position.state

    def remember_update(self, update_id: str) -> None:
        self.seen.append(update_id)
        del self.seen[:-SEEN_UPDATES_KEPT]

    def push_back(self, position: Position) -> None:
        if not self.back or self.back[-1] != position:
            self.back.append(position)
            del self.back[:-BACK_STACK_KEPT]

    def to_json(self) -> str:
        """Positions are written as [flow, state] pairs: compact, and fast on every save."""
        data = {name: getattr(self, name) for name in _PLAIN_FIELDS}
        data["back"] = [[p.flow, p.state] for p in self.back]
        data["calls"] = [[p.flow, p.state] for p in self.calls]
        data["last"] = [self.last.flow, self.last.state] if self.last else None
        return _ENCODER.encode(data)

    def copy(self) -> Session:
        """A copy that shares nothing mutable (positions are frozen)."""
        return replace(self, slots=dict(self.slots), back=list(self.back),
                       calls=list(self.calls), seen=list(self.seen))

    @classmethod
    def from_json(cls, raw: str) -> Session:
        data: dict[str, Any] = json.loads(raw)
        session = cls(**{k: data[k] for k in _PLAIN_FIELDS if k in data})
        session.back = [Position(*p) for p in data.get("back", [])]
        session.calls = [Position(*p) for p in data.get("calls", [])]
        session.last = Position(*data["last"]) if data.get("last") else None
        return session


_PLAIN_FIELDS = ("user_key", "flow", "state", "slots", "step", "version", "seen", "pending",
                 "held", "created_at", "updated_at")
