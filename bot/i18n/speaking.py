"""Which language a message is handled in, and a change of language within a turn.

Each shipped language has its own Stages over its own catalog (bot/i18n/languages.py); the
session's language picks them. A session without one takes the platform's (Telegram's
`language_code`, Discord's locale) when it is shipped, else the default, and keeps it. When
`/language` chooses one, the turn is finished in it: the confirmation and the step, re-rendered
from the flows, read in the new language at once.
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Callable
from dataclasses import replace

from bot.flowlang.catalog import Catalog
from bot.i18n.catalog import language_code
from bot.messages import Incoming, Reply
from bot.pairing.shared import SERVICE as SHARED
from bot.pairing.shared import Shared
from bot.session import Session
from bot.stages import Stages
from bot.texts import Texts
from bot.turn import Turn


class ByLanguage:
    def __init__(self, catalog: Catalog, make: Callable[[Catalog], Stages]) -> None:
        # The catalog given speaks for its own language (a test's edited copy included).
        catalogs = {**catalog.languages, catalog.lang: catalog}
        self.default = catalog.lang
        self.stages = {code: make(cat) for code, cat in catalogs.items()}

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(self.stages)

    def of(self, lang: str | None) -> Stages:
        return self.stages.get(lang or "", self.stages[self.default])

    def texts(self, lang: str | None) -> Texts:
        return self.of(lang).texts

    def lang_for(self, stored: Session | None, message: Incoming) -> str:
        if stored is not None and stored.lang in self.stages:
            return stored.lang
        return language_code(message.language, self.codes) or self.default

    def run(self, stored: Session | None, message: Incoming, text: str | None,
            shared: Shared | None = None) -> Turn:
        lang = self.lang_for(stored, message)
        return self._settle(self.of(lang).run(stored, message, text, shared), lang)

    def greet(self, stored: Session | None, message: Incoming,
              shared: Shared | None = None) -> Turn:
        lang = self.lang_for(stored, message)
        return self._settle(self.of(lang).greet(stored, message, shared), lang)

    def reply(self, turn: Turn) -> Reply:
        return self.of(turn.session.lang).reply(turn)

    def still_standing(self, stored: Session, reply: Reply) -> Reply:
        return self.of(stored.lang).still_standing(stored, reply)

    def _settle(self, turn: Turn, lang: str) -> Turn:
        session = turn.session
        if session.lang not in self.stages:
            session.lang = lang
        if turn.language is None:
            return turn
        session.lang, turn.language = turn.language, None
        stages = self.of(session.lang)
        catalog = stages.catalog
        services = (catalog.services if turn.shared is None
                    else ChainMap({SHARED: turn.shared}, catalog.services))
        turn.ctx = replace(turn.ctx, catalog=catalog, registry=catalog.registry,
                           services=services, out=[])
        session.shown = None  # the step is rendered again from the flows, in this language
        turn.notes = [stages.texts.get("language_set")]
        turn.shown = stages.engine.reshow(turn.ctx)
        turn.choices = None
        return turn
