"""adapters/discord_locale.py: slash-command descriptions in every shipped language
(`description_localizations`), and a client in Spanish answered in Spanish the first time."""

from __future__ import annotations

import discord

from adapters.discord_locale import DescriptionTranslator
from bot.app import load_flows
from tests import test_discord_adapter as adapter_tests
from tests.test_discord_adapter import ALICE, Harness, labels, texts

FLOWS = load_flows()
server, dc = adapter_tests.server, adapter_tests.dc  # the running bot on the fake, as there


async def test_descriptions_are_localized_for_spanish_clients(dc: Harness) -> None:
    [sync] = dc.server.calls_to("sync_global_commands", ok_only=True)
    commands = {c["name"]: c for c in sync.json}
    help_ = commands["help"]["description_localizations"]
    assert help_["es-ES"] == help_["es-419"] == "Lo que puedes hacer aquí"
    assert "en-US" not in help_ and commands["help"]["description"] == "What you can do here"
    assert commands["language"]["description_localizations"]["es-ES"] == (
        "Cambiar el idioma en que te hablo")
    [flow] = commands["start"]["options"]
    assert flow["description_localizations"]["es-ES"].startswith("El tema que abrir")
    assert not commands["start"].get("name_localizations")


async def test_a_spanish_client_is_answered_in_spanish(dc: Harness) -> None:
    mark = len(dc.server.calls)
    dc.server.push_slash(ALICE, "start", locale="es-ES")
    reply = await dc.reply_after(mark)
    assert "¿Tienes 18 años o más?" in "\n".join(texts(reply))
    assert labels(reply[-1]) == ["Sí, tengo 18 años o más", "No, tengo menos de 18"]
    again = await dc.slash(ALICE, "help")  # the session keeps Spanish (this client is en-US)
    assert "/language – el idioma en que te hablo" in "\n".join(texts(again))


async def test_only_descriptions_are_translated() -> None:
    translator = DescriptionTranslator({"en": FLOWS.texts, "es": FLOWS.languages["es"].texts})
    context = discord.app_commands.TranslationContext(
        discord.app_commands.TranslationContextLocation.command_name, None)
    name = discord.app_commands.locale_str("help")
    assert await translator.translate(name, discord.Locale.spain_spanish, context) is None
