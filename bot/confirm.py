"""Reading a typed answer to a yes/no question such as "delete everything?".

People answer in words ("yes delete", "no, keep it", "don't delete") as often as with the
buttons. A wrong guess here erases someone's notes or leaks their "yes" into the step that
was open, so only a clear answer counts; anything mixed or unknown asks again. The words
themselves are content (flows/core/messages.yaml), so an editor or translator can widen them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from bot.quotes import straighten
from bot.texts import Texts

_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?")


class Answer(Enum):
    YES = "yes"
    NO = "no"
    UNCLEAR = "unclear"


@dataclass(frozen=True)
class ConfirmWords:
    """The word lists of one yes/no question: `topic` words name what is asked about (saying
    only that is a yes), `filler` words may stand beside any answer."""

    yes: frozenset[str]
    no: frozenset[str]
    topic: frozenset[str]
    filler: frozenset[str]

    @classmethod
    def for_delete(cls, texts: Texts) -> ConfirmWords:
        return cls(_words(texts.get("confirm_yes_words")), _words(texts.get("confirm_no_words")),
                   _words(texts.get("delete_words")), _words(texts.get("confirm_filler_words")))

    def read(self, text: str, *, yes_label: str, no_label: str) -> Answer:
        """YES or NO only when the words say one and not the other; the buttons' own
        labels, typed, count too."""
        said = _words(text)
        if not said:
            return Answer.UNCLEAR
        if said == _words(yes_label):
            return Answer.YES
        if said == _words(no_label):
            return Answer.NO
        if said - self.yes - self.no - self.topic - self.filler:
            return Answer.UNCLEAR  # a word we don't know may change the meaning
        says_yes, says_no = bool(said & self.yes), bool(said & self.no)
        if says_no and not says_yes:
            return Answer.NO  # "no", "cancel", "don't delete it"
        if says_yes and not says_no:
            return Answer.YES  # "yes", "ok delete it", "go ahead"
        if not says_yes and not says_no and said & self.topic:
            return Answer.YES  # only the deletion named: "delete everything"
        return Answer.UNCLEAR  # "yes... no", or only small words ("it", "please")


def _words(text: str) -> frozenset[str]:
    return frozenset(_WORD.findall(straighten(text).casefold()))
