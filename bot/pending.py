"""Questions the core itself asks and waits on, beside the flows: today, "delete
everything?". Each kind is one type with its own handler; the session keeps only the
kind's name while the question is open.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from bot.confirm import Answer, ConfirmWords
from bot.messages import Choice

if TYPE_CHECKING:
    from bot.engine import Engine
    from bot.texts import Texts
    from bot.turn import Turn

DELETE_YES = "delete.yes"
DELETE_NO = "delete.no"


class ConfirmDelete:
    """`/delete` asks first. A clear yes (button or words) erases everything; a clear no,
    a command or another step's button leaves the question; anything else asks again and
    changes nothing."""

    kind: ClassVar[str] = "delete"

    def __init__(self, texts: Texts, engine: Engine) -> None:
        self.texts = texts
        self.engine = engine
        self.words = ConfirmWords.for_delete(texts)

    def buttons(self) -> list[Choice]:
        return [Choice(DELETE_YES, self.texts.get("delete_yes")),
                Choice(DELETE_NO, self.texts.get("delete_no"))]

    def ask(self, turn: Turn, text_id: str = "delete_confirm") -> None:
        turn.session.pending = self.kind
        turn.event = "command_delete"
        turn.notes.append(self.texts.get(text_id))
        turn.choices = self.buttons()

    def answer(self, turn: Turn) -> bool:
        """Handle the reply to the question; True when that was all this message did."""
        answer = self._read(turn)
        if answer is Answer.UNCLEAR:
            self.ask(turn, "delete_unclear")
            return True
        turn.session.pending = None
        if answer is Answer.YES:
            turn.erase, turn.controls, turn.event = True, False, "delete"
            turn.notes.append(self.texts.get("deleted", answers=len(turn.session.slots)))
            return True
        turn.notes.append(self.texts.get("delete_cancelled"))
        if turn.command is None and turn.message.button in (None, DELETE_NO):
            turn.shown = self.engine.reshow(turn.ctx)
            return True
        return False  # a command or a step's button: it goes on to do what it asked

    def _read(self, turn: Turn) -> Answer:
        button = turn.message.button
        if button == DELETE_YES:
            return Answer.YES
        if button is not None or turn.command is not None:
            return Answer.NO
        return self.words.read(turn.text or "", yes_label=self.texts.get("delete_yes"),
                               no_label=self.texts.get("delete_no"))
