"""One message on its way through the pipeline's stages, until it is committed.

Stages add to `notes` (what the core itself says first: "nothing was deleted", "that
button has passed") and set `shown` (what the step shows, as the engine returned it); the
reply is the two in that order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.engine import EngineContext
from bot.messages import Attachment, Choice, Incoming
from bot.pairing.shared import Shared
from bot.session import Session


@dataclass
class Turn:
    ctx: EngineContext
    message: Incoming
    text: str | None  # cleaned; None for a button press or an opened chat
    command: tuple[str, str] | None  # ("start", "talk") for "/start talk"
    new: bool  # no stored session: the person's first message
    notes: list[str] = field(default_factory=list)
    shown: list[str] = field(default_factory=list)
    screened: bool = False
    controls: bool = True  # False: no buttons (after /delete, nothing is left to press)
    choices: list[Choice] | None = None  # buttons of the core's own (a confirmation)
    notice: str | None = None
    attachments: list[Attachment] = field(default_factory=list)
    erase: bool = False
    event: str = "text"
    shared: Shared | None = None  # the records shared with a partner, as this message sees them
    language: str | None = None  # a language chosen in this turn (/language): it ends in it

    @property
    def session(self) -> Session:
        return self.ctx.session

    @property
    def parts(self) -> list[str]:
        return [*self.notes, *self.shown]

    def show(self, parts: list[str] | None) -> bool:
        """The step's messages; False (nothing changes) when the move was not possible."""
        if parts is None:
            return False
        self.shown = parts
        return True
