"""bot/i18n/speaking.py: a session speaks its language: Spanish where translated, English
elsewhere, placeholders filled in both; the platform's language counts the first time only;
/language switches at once and the choice survives a restart."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.app import load_flows
from bot.flowlang.catalog import Catalog
from bot.messages import Incoming, UserKey
from bot.pipeline import Coach
from bot.store.memory import MemoryStore
from bot.store.sqlite import SQLiteStore
from tests.conftest import Chat

ADULT_ES = "Sí, tengo 18 años o más"


@pytest.fixture(scope="module")
def shipped() -> Catalog:
    return load_flows()


@pytest.fixture
def coach(shipped: Catalog) -> Coach:
    return Coach(shipped, MemoryStore())


async def test_a_spanish_app_speaks_spanish_from_the_first_step(
        coach: Coach) -> None:
    chat = Chat(coach)
    first = await chat.send("/start", language="es-MX")
    assert "¿Tienes 18 años o más?" in first.text
    assert chat.labels == [ADULT_ES, "No, tengo menos de 18"]
    await chat.press(ADULT_ES)
    assert "¿Cuál de estas opciones va contigo hoy?" in chat.last.text
    learn = await chat.send("/start learn")
    assert "microengaño" in learn.text.casefold() and learn.parts
    assert chat.labels[-1] == "Menú"  # the core's own button is translated


async def test_placeholders_are_filled_in_both_languages(coach: Coach) -> None:
    chat = Chat(coach)
    await chat.send("/start", language="es")
    unknown = await chat.send("/volar")
    assert unknown.text.startswith("No conozco /volar.")
    await chat.press(ADULT_ES)
    await chat.send("/delete")
    done = await chat.press("Sí, borrar todo")
    assert "1 respuesta y tu lugar" in done.text and "${" not in done.text
    english = Chat(coach, "bob")
    await english.send("/start")
    assert (await english.send("/volar")).text.startswith("I don't know /volar.")


async def test_the_platform_language_counts_only_the_first_time(coach: Coach) -> None:
    chat = Chat(coach)
    await chat.send("/start", language="fr")  # not shipped: English
    assert "Are you 18 or older?" in chat.last.text
    again = await chat.send("/menu", language="es")  # the session keeps its own
    assert "Are you 18 or older?" in again.text


async def test_typed_spanish_answers_count_as_buttons(coach: Coach) -> None:
    chat = Chat(coach)
    await chat.send("/start", language="es")
    await chat.send("sí")
    assert "¿Cuál de estas opciones va contigo hoy?" in chat.last.text


async def test_language_switches_at_once_and_survives_a_restart(shipped: Catalog,
                                                               tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "coach.db")
    chat = Chat(Coach(shipped, store))
    await chat.send("/start")
    asked = await chat.send("/language")
    assert "Which language shall I speak with you?" in asked.text
    assert chat.labels == ["English", "Español"]
    switched = await chat.press("Español")
    assert switched.parts[0].startswith("A partir de ahora te hablo en español")
    assert "¿Tienes 18 años o más?" in switched.text  # the step, now in Spanish
    assert chat.labels == [ADULT_ES, "No, tengo menos de 18"]
    exported = await chat.send("/export")
    assert '"lang": "es"' in exported.attachments[0].data.decode("utf-8")
    await store.close()

    store = SQLiteStore(tmp_path / "coach.db")
    coach = Coach(shipped, store)
    try:
        back = await coach.open(Incoming(UserKey("test", "alice"), language="en"))
        assert back.parts[0] == "Qué bueno que volviste."
        chat = Chat(coach)
        await chat.send("/language english")
        assert chat.last.parts[0].startswith("From now on I'll speak English")
    finally:
        await store.close()


async def test_the_screen_and_the_coach_know_the_language(coach: Coach) -> None:
    chat = Chat(coach)
    await chat.send("/start", language="es")
    session = await coach.store.load(chat.user.key)
    assert session is not None and session.lang == "es"
    assert coach.speaking.of("es").setting(session).language == "es"
