"""What a flow's conditions and actions may see and do: the language's side of the contract.

The engine supplies the real thing; features program against this protocol only, so the
flow language needs nothing from the engine, and an action can be tested with any object
that has these few members.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from bot.session import Position, Session


class StepContext(Protocol):
    session: Session
    config: Mapping[str, str]
    # Feature data loaded with the flows (help lines, coaching texts), by name.
    services: Mapping[str, object]
    # The core's clock (Unix time) for this message: "today" and "already passed" read it.
    now: float

    def render(self, text: str) -> str:
        """`text` with `${slot}` filled from the person's answers."""

    def say(self, text: str) -> None:
        """Add a message to what this step shows."""

    def valid(self, position: Position | None) -> bool:
        """Whether a stored position still exists in the flows."""

    def can_resume(self) -> bool:
        """Whether the person has a place outside the menu to go back to."""

    def request(self, effect: str) -> None:
        """Ask the core for a follow-up once this step is taken (see `Effects`)."""
