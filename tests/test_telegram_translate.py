"""Telegram's shapes and the core's (adapters/telegram/translate.py): updates as Incoming,
replies as plain-text messages under Telegram's limits with buttons on the last, and every
word from the flows."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from telegram import Message, Update

from adapters.telegram import TelegramBot, TelegramConfig
from adapters.telegram.translate import (
    MAX_TEXT_UNITS,
    PRIVATE_CHAT_BUTTON,
    TelegramMessage,
    addressed,
    keyboard,
    split_text,
    telegram_messages,
    to_incoming,
    toast,
)
from adapters.text_split import utf16_len
from bot.commands import COMMANDS as COMMAND_TABLE
from bot.messages import Attachment, Choice, Incoming, Reply, UserKey
from bot.pipeline import Coach
from bot.store.memory import MemoryStore
from bot.texts import Texts
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.telegram_harness import (
    ALICE,
    FAST,
    FLOWS,
    GROUP,
    TEXTS,
    TOKEN,
    Harness,
    labels,
    texts,
)

pytest_plugins = ["tests.telegram_fixtures"]

BOT_ID = 123456789
ME = {"id": BOT_ID, "is_bot": True, "first_name": "Coach", "username": "coach_test_bot"}


def _user(user_id: int) -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": f"User{user_id}"}


def _message(text: str | None, chat: int = ALICE, chat_type: str = "private",
             **extra: Any) -> dict[str, Any]:
    return {"message_id": 7, "date": 0, "text": text, "chat": {"id": chat, "type": chat_type},
            "from": _user(ALICE), **extra}


async def test_menu_and_button_words_come_from_the_flows(server: FakeTelegramAPI) -> None:
    """The command menu and the group button are core messages, like every other sentence:
    change them in the messages file and the bot says the new words."""
    entries = {**TEXTS.entries, PRIVATE_CHAT_BUTTON: "Schreib mir privat"}
    names = [command.name for command in COMMAND_TABLE if command.in_menus]
    entries.update({f"command_{name}": f"Beschreibung von /{name}" for name in names})
    catalog = dataclasses.replace(FLOWS, texts=Texts(entries))
    coach = Coach(catalog, MemoryStore())
    bot = TelegramBot(coach, TelegramConfig(token=TOKEN, base_url=server.base_url,
                                            poll_timeout=1, pacing=FAST))
    await bot.start()
    try:
        calls = server.calls_to("setMyCommands", ok_only=True)
        [call] = [c for c in calls if not c.params.get("language_code")]
        assert [(c["command"], c["description"]) for c in call.params["commands"]] == [
            (name, f"Beschreibung von /{name}") for name in names]
        server.push_command(GROUP, "start", chat_type="supergroup", user_id=ALICE)
        await server.wait_until(lambda: bool(server.sent_messages(GROUP)))
        [notice] = server.sent_messages(GROUP)
        assert notice.reply_markup["inline_keyboard"][0][0]["text"] == "Schreib mir privat"
    finally:
        await bot.stop()


async def test_markup_arrives_unchanged_and_long_text_is_split_or_refused(
        tg: Harness) -> None:
    await tg.boundaries(ALICE)
    await tg.press(ALICE, "Let's start")

    refused = await tg.send(ALICE, "x" * 5000)
    assert texts(refused)[0] == TEXTS.get("too_long", length=5000, max=1000)
    assert "Skip this one" in labels(refused[-1])  # still on the same question

    await tg.send(ALICE, "<b>&</b> & <i>")
    # 1000 emoji: 1000 characters for the core, 2000 UTF-16 units for Telegram.
    for _ in range(3):
        await tg.send(ALICE, "😀" * 1000)
    summary = next(m.text for m in tg.messages(ALICE) if "<b>&</b>" in (m.text or ""))
    assert ": <b>&</b> & <i>\n" in summary  # exactly as typed, no markup parsed
    assert all(utf16_len(m.text or "") <= MAX_TEXT_UNITS for m in tg.messages(ALICE))
    chunks = [m.text for m in tg.messages(ALICE) if "😀" * 1000 in (m.text or "")]
    assert len(chunks) == 2, "the 6,000-unit summary is split at a line break"
    assert all(c.ok for c in tg.server.calls_to("sendMessage"))


def test_keyboards_drop_oversized_callback_data_and_pair_short_labels(
        caplog: pytest.LogCaptureFixture) -> None:
    markup = keyboard([Choice("é" * 33, "Too long"), Choice("1.0", "Yes"), Choice("1.1", "No"),
                       Choice("1.2", "Maybe")])
    assert markup is not None
    assert [[b.text for b in row] for row in markup.inline_keyboard] == [["Yes", "No"],
                                                                         ["Maybe"]]
    assert "event=button_dropped reason=callback_data_size bytes=66" in caplog.text
    long = keyboard([Choice("1.0", "Continue where I left off"), Choice("1.1", "Menu")])
    assert long is not None and [len(row) for row in long.inline_keyboard] == [1, 1]
    assert keyboard([]) is None


def test_split_text_counts_utf16_and_prefers_paragraphs_then_sentences() -> None:
    paragraphs = "\n\n".join(["a" * 3000, "b" * 3000])
    assert split_text(paragraphs) == ["a" * 3000, "b" * 3000]
    sentences = ("One sentence here. " * 400).strip()
    chunks = split_text(sentences)
    assert len(chunks) == 2 and all(c.endswith(".") for c in chunks)
    assert " ".join(chunks) == sentences
    emoji = "😀" * 3000  # 6000 units, no boundary at all: a hard cut between characters
    chunks = split_text(emoji)
    assert [utf16_len(c) for c in chunks] == [4096, 1904]
    assert "".join(chunks) == emoji
    assert split_text("  ") == [] and split_text("short") == ["short"]


def test_updates_become_the_cores_messages() -> None:
    text = Update.de_json({"update_id": 5, "message": _message("hello")}, None)
    assert to_incoming(text) == Incoming(UserKey("telegram", str(ALICE)), text="hello",
                                         private=True, update_id="5")
    press = Update.de_json({"update_id": 6, "callback_query": {
        "id": "q1", "from": _user(ALICE), "chat_instance": "c", "data": "1.0",
        "message": _message("step", chat=GROUP, chat_type="supergroup")}}, None)
    assert to_incoming(press) == Incoming(UserKey("telegram", str(ALICE)), button="1.0",
                                          private=False, update_id="6")
    edited = Update.de_json({"update_id": 7, "edited_message": _message("again")}, None)
    assert to_incoming(edited) is None  # not a person's new message


def test_in_a_group_only_what_is_meant_for_the_bot_is_answered() -> None:
    def group(text: str, **extra: Any) -> Message:
        return Message.de_json(_message(text, chat=GROUP, chat_type="supergroup", **extra), None)

    def meant(message: Message) -> bool:
        return addressed(message, "coach_test_bot", BOT_ID)

    assert meant(group("/start"))
    assert meant(group("/start@Coach_Test_Bot boundaries"))
    assert not meant(group("/start@other_bot"))
    assert meant(group("hey @coach_test_bot, help"))
    assert not meant(group("just the group talking"))
    assert meant(group("yes", reply_to_message=_message("a question", chat=GROUP,
                                                        chat_type="supergroup", **{"from": ME})))


def test_a_reply_becomes_one_message_where_it_fits_with_the_buttons_on_the_last() -> None:
    export = Attachment("export.json", "application/json", b"{}")
    reply = Reply(parts=["One.", "Two."], choices=[Choice("1.0", "Yes")], attachments=[export])
    markup = keyboard(reply.choices)
    private = telegram_messages(reply, markup, private=True)
    assert [(m.text, m.document) for m in private] == [("One.\n\nTwo.", None), (None, export)]
    assert [m.markup for m in private] == [None, markup]
    group = telegram_messages(reply, markup, private=False)
    assert [m.text for m in group] == ["One.\n\nTwo."] and group[-1].markup == markup
    long = telegram_messages(Reply(parts=["a" * 3000, "b" * 3000]), None, private=True)
    assert [m.text for m in long] == ["a" * 3000, "b" * 3000]  # over 4,096 together
    assert telegram_messages(Reply(parts=[]), markup, private=True) == []  # logged, not sent
    assert TelegramMessage() == TelegramMessage(text=None, document=None, markup=None)


def test_a_toast_is_cut_to_what_telegram_takes() -> None:
    assert toast(None) is None and toast("") is None
    assert toast("Saved.") == "Saved."
    cut = toast("x" * 300)
    assert cut is not None and len(cut) == 200 and cut.endswith("…")


def test_the_apps_language_goes_with_each_message() -> None:
    message = _message("hola")
    message["from"] = {**_user(ALICE), "language_code": "es"}
    update = Update.de_json({"update_id": 8, "message": message}, None)
    assert to_incoming(update) == Incoming(UserKey("telegram", str(ALICE)), text="hola",
                                           private=True, update_id="8", language="es")


async def test_a_spanish_app_gets_spanish_the_first_time_and_a_spanish_menu(
        tg: Harness) -> None:
    """setMyCommands once for everyone and once with language_code for each other shipped
    language; a person whose Telegram is in Spanish is answered in Spanish from /start."""
    calls = tg.server.calls_to("setMyCommands", ok_only=True)
    by_language = {c.params.get("language_code"): c.params["commands"] for c in calls}
    assert set(by_language) == {None, "es"}
    spanish = {c["command"]: c["description"] for c in by_language["es"]}
    assert spanish["language"] == "Cambiar el idioma en que te hablo"
    assert spanish["help"] == "Lo que puedes hacer aquí"
    tg.server.user(ALICE, language_code="es")
    reply = await tg.send(ALICE, "/start")
    assert "¿Tienes 18 años o más?" in texts(reply)[-1]
    assert labels(reply[-1]) == ["Sí, tengo 18 años o más", "No, tengo menos de 18"]
    tg.server.user(ALICE, language_code="en")  # changed later in the app: the session keeps es
    again = await tg.press(ALICE, "Sí, tengo 18 años o más")
    assert "¿Cuál de estas opciones va contigo hoy?" in texts(again)[0]
