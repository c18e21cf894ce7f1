"""Discord in the person's language: what their client's locale says, and the slash commands'
descriptions in each shipped language (`description_localizations`, through discord.py's
Translator), from the core's messages like every other word the bot says."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands

from bot.i18n.catalog import language_code
from bot.texts import TEXT_IDS, Texts

# What Discord shows beside commands and their options: the core's `command_*` messages.
DESCRIBED = tuple(text_id for text_id in TEXT_IDS if text_id.startswith("command_"))


def locale_of(interaction: discord.Interaction[Any]) -> str | None:
    """The client's language (`es-ES`), a hint the core takes the first time."""
    locale = getattr(interaction, "locale", None)
    return str(locale.value) if isinstance(locale, discord.Locale) else None


class DescriptionTranslator(app_commands.Translator):
    """Each command description (given in the default language) in every other shipped
    language; Discord's Spanish locales (es-ES, es-419) all get the `es` text."""

    def __init__(self, by_language: dict[str, Texts]) -> None:
        super().__init__()
        codes = tuple(by_language)
        self.default = codes[0] if codes else "en"
        self.codes = codes
        english = by_language.get(self.default)
        self.table: dict[str, dict[str, str]] = {}
        for code, texts in by_language.items():
            if code == self.default or english is None:
                continue
            for text_id in DESCRIBED:
                self.table.setdefault(english.get(text_id), {})[code] = texts.get(text_id)

    async def translate(self, string: app_commands.locale_str, locale: discord.Locale,
                        context: app_commands.TranslationContextTypes) -> str | None:
        if context.location not in (app_commands.TranslationContextLocation.command_description,
                                    app_commands.TranslationContextLocation.parameter_description):
            return None
        code = language_code(locale.value, self.codes)
        if code is None or code == self.default:
            return None
        return self.table.get(string.message, {}).get(code)
