"""`/language`: the question with one button per shipped language, each in its own name
("English", "Español"), and reading the answer, a button or the name typed.

The choice itself only names the language (`Turn.language`); the pipeline then finishes the
turn in it (bot/i18n/speaking.py), so the answer already reads in the language chosen.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from typing import TYPE_CHECKING, ClassVar

from bot.messages import Choice

if TYPE_CHECKING:
    from bot.flowlang.catalog import Catalog
    from bot.texts import Texts
    from bot.turn import Turn

BUTTON_PREFIX = "language."


def language_names(catalog: Catalog) -> dict[str, str]:
    """Each shipped language's code and its own name, the catalog's own language first."""
    catalogs = catalog.languages or {catalog.lang: catalog}
    return {code: (cat.texts.get("language_name") if cat.texts else code)
            for code, cat in catalogs.items()}


def _folded(text: str) -> str:
    """Any capitals, with or without accents: "espanol" is "Español"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold().strip(" .!/"))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def chosen(text: str, names: Mapping[str, str]) -> str | None:
    """The code of the language typed, by its code or its own name; None otherwise."""
    typed = _folded(text)
    for code, name in names.items():
        if typed in (code, _folded(name)):
            return code
    return None


class ChooseLanguage:
    """The pending question of `/language`: a language's button (or its name typed)
    chooses it; anything else lets the question go and is handled as usual."""

    kind: ClassVar[str] = "language"

    def __init__(self, texts: Texts, names: Mapping[str, str]) -> None:
        self.texts = texts
        self.names = dict(names)

    def buttons(self) -> list[Choice]:
        return [Choice(f"{BUTTON_PREFIX}{code}", name) for code, name in self.names.items()]

    def ask(self, turn: Turn) -> None:
        turn.session.pending = self.kind
        turn.event = "command_language"
        turn.notes.append(self.texts.get("language_ask"))
        turn.choices = self.buttons()

    def answer(self, turn: Turn) -> bool:
        """True when the message chose a language (that is all it did)."""
        turn.session.pending = None
        button = turn.message.button
        if button is not None:
            code = button.removeprefix(BUTTON_PREFIX) if button.startswith(BUTTON_PREFIX) else ""
        else:
            code = chosen(turn.text or "", self.names) if turn.command is None else None
        if code not in self.names:
            return False
        turn.language, turn.event = code, "language"
        return True
