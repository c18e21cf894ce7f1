"""The core end to end on the test flows: steps, global commands, odd input, buttons."""

from __future__ import annotations

import json

import pytest

from bot.flowlang.catalog import Catalog
from bot.messages import Incoming, UserKey
from bot.pipeline import Coach, clean_text, parse_command
from bot.session import Session
from bot.store.base import StoreUnavailable
from bot.store.memory import MemoryStore
from tests.conftest import Chat


async def test_first_message_shows_the_menu(chat: Chat) -> None:
    reply = await chat.send("hello?")
    assert reply.parts[0] == "Welcome to the test menu."
    assert chat.labels == ["Quiz", "Hurt role"]


async def test_a_whole_flow_with_templates_and_handover(chat: Chat) -> None:
    await chat.send("/start")
    reply = await chat.press("Quiz")
    assert reply.parts == ["What is your name?"] and reply.expects_text
    assert reply.max_length == 20
    reply = await chat.send("Sam")
    assert reply.parts == ["Hello Sam. Favourite colour?"]
    assert "Secret door" not in chat.labels  # its condition does not hold
    await chat.press("Blue")
    reply = await chat.send("calm")
    assert reply.parts == ["Want a side trip?"]
    reply = await chat.press("Side trip")
    assert reply.parts == ["This is the side trip."]
    reply = await chat.press("Go back")
    assert reply.parts == ["Done: Sam likes blue because calm."]


async def test_skip_and_conditional_route(chat: Chat) -> None:
    await chat.send("/start quiz")
    await chat.send("Sam")
    await chat.press("Red")
    reply = await chat.press("Skip")
    assert reply.parts == ["No reason needed.", "Want a side trip?"]
    reply = await chat.press("Finish")
    assert "because (not answered yet)" in reply.parts[0]


async def test_set_and_condition_from_another_flow(chat: Chat) -> None:
    await chat.send("/start")
    reply = await chat.press("Hurt role")
    assert reply.parts[0].startswith("Hello (not answered yet)")
    assert "Secret door" in chat.labels


async def test_typed_label_counts_as_a_press(chat: Chat) -> None:
    await chat.send("/start quiz")
    await chat.send("Sam")
    reply = await chat.send("  blue ")
    assert reply.parts == ["Why blue?"]


async def test_global_commands_mid_flow(chat: Chat) -> None:
    await chat.send("/start quiz")
    await chat.send("Sam")
    before = chat.labels
    for command, expected in (("/help", "/menu"), ("/privacy", "/export"),
                              ("/sos", "emergency")):
        reply = await chat.send(command)
        assert expected in reply.text
        assert chat.labels == before, f"{command} must keep the current step"
    reply = await chat.send("/resume")
    assert reply.parts == ["Hello Sam. Favourite colour?"]
    reply = await chat.send("/back")
    assert reply.parts == ["What is your name?"]
    await chat.send("Alex")
    reply = await chat.send("/restart")
    assert reply.parts[0] == 'Starting "Quiz" again from the beginning.'
    assert reply.parts[1] == "What is your name?"
    reply = await chat.send("/export")
    assert "Alex" in reply.text and "What is your name?" in reply.text
    data = json.loads(reply.attachments[0].data)
    assert {"slot": "name", "question": "What is your name?", "answer": "Alex"} in data["answers"]
    reply = await chat.send("/menu")
    assert reply.parts[0] == "Welcome to the test menu."
    assert chat.labels[0] == "Continue where I left off"
    reply = await chat.press("Continue where I left off")
    assert reply.parts == ["What is your name?"]


async def test_start_with_an_unknown_flow_and_unknown_command(chat: Chat) -> None:
    reply = await chat.send("/start nowhere")
    assert 'topic called "nowhere"' in reply.parts[0]
    assert "Welcome to the test menu." in reply.parts
    reply = await chat.send("/dance")
    assert reply.parts == ["I don't know /dance. Type /help to see what I can do."]
    assert chat.labels == ["Quiz", "Hurt role"]


async def test_back_with_nothing_to_go_back_to(chat: Chat) -> None:
    await chat.send("/start")
    reply = await chat.send("/back")
    assert reply.parts == ["There's no earlier step to go back to."]


async def test_delete_asks_then_erases(coach: Coach, chat: Chat) -> None:
    await chat.send("/start quiz")
    await chat.send("Sam")
    reply = await chat.send("/delete")
    assert chat.labels == ["Yes, delete everything", "No, keep it"]
    reply = await chat.press("No, keep it")
    assert reply.parts[0] == "Okay, nothing was deleted."
    assert await coach.store.load(chat.user.key) is not None
    await chat.send("/delete")
    reply = await chat.press("Yes, delete everything")
    assert "erased everything" in reply.text and "1 answer" in reply.text
    assert reply.choices == []
    assert await coach.store.load(chat.user.key) is None
    reply = await chat.send("hi again")
    assert reply.parts[0] == "Welcome to the test menu."


async def test_unclear_text_at_the_delete_question_asks_again_and_changes_nothing(
        coach: Coach, chat: Chat) -> None:
    await chat.send("/start quiz")
    await chat.send("/delete")
    before = await coach.store.load(chat.user.key)
    reply = await chat.send("Sam")
    assert reply.parts == ["I want to be sure before I erase anything. Should I delete "
                           "everything I keep about you?\nTap a button, or type yes or no."]
    assert chat.labels == ["Yes, delete everything", "No, keep it"]
    after = await coach.store.load(chat.user.key)
    assert after is not None and before is not None
    assert (after.slots, after.state, after.pending) == (before.slots, before.state, "delete")
    reply = await chat.send("yes")
    assert "erased everything" in reply.text
    assert await coach.store.load(chat.user.key) is None


@pytest.mark.parametrize("typed", ["yes", "Yes!", "yes delete", "yes, delete everything",
                                   "ok delete it", "delete everything", "go ahead",
                                   "Yes, delete everything", "YEP", "y"])
async def test_a_typed_yes_erases(coach: Coach, chat: Chat, typed: str) -> None:
    await chat.send("/start quiz")
    await chat.send("Sam")
    await chat.send("/delete")
    reply = await chat.send(typed)
    assert "erased everything" in reply.text and "1 answer" in reply.text
    assert await coach.store.load(chat.user.key) is None


@pytest.mark.parametrize("typed", ["no", "No.", "cancel", "no, keep it", "don't delete it",
                                   "nope", "No, keep it", "keep"])
async def test_a_typed_no_keeps_everything_and_shows_the_step_again(
        coach: Coach, chat: Chat, typed: str) -> None:
    await chat.send("/start quiz")
    await chat.send("/delete")
    reply = await chat.send(typed)
    assert reply.parts == ["Okay, nothing was deleted.", "What is your name?"]
    stored = await coach.store.load(chat.user.key)
    assert stored is not None and stored.pending is None and stored.state == "name"
    reply = await chat.send("Sam")  # the step was not answered by the "no"
    assert reply.parts[0] == "Hello Sam. Favourite colour?"


@pytest.mark.parametrize("typed", ["yes no", "maybe", "delete my notes but not my answers",
                                   "it", "please", "🙂"])
async def test_a_mixed_or_unknown_answer_asks_again(coach: Coach, chat: Chat, typed: str) -> None:
    await chat.send("/start quiz")
    await chat.send("/delete")
    reply = await chat.send(typed)
    assert reply.parts[0].startswith("I want to be sure")
    assert await coach.store.load(chat.user.key) is not None


async def test_a_command_at_the_delete_question_leaves_it(coach: Coach, chat: Chat) -> None:
    await chat.send("/start quiz")
    await chat.send("/delete")
    reply = await chat.send("/help")
    assert reply.parts[0] == "Okay, nothing was deleted."
    stored = await coach.store.load(chat.user.key)
    assert stored is not None and stored.pending is None


async def test_odd_input_keeps_the_session(coach: Coach, chat: Chat) -> None:
    await chat.send("/start quiz")
    await chat.send("Sam")
    await chat.press("Red")
    before = await coach.store.load(chat.user.key)
    assert before is not None
    huge = "x" * 100_000
    for text, expected in (("", "didn't catch"), ("\x00\x07 \x1b", "didn't catch"),
                           (huge, "100000 characters")):
        reply = await chat.send(text)
        assert expected in reply.text
        assert reply.expects_text and chat.labels == ["Skip", "Menu"]
    reply = await chat.send("😢 <b>because</b> & $name ${name}")
    assert reply.parts == ["Want a side trip?"]
    after = await coach.store.load(chat.user.key)
    assert after is not None
    assert after.slots["why"] == "😢 <b>because</b> & $name ${name}"
    await chat.press("Finish")
    assert chat.last is not None
    assert "because 😢 <b>because</b> & $name ${name}." in chat.last.parts[0]


async def test_too_short_and_control_characters_removed(chat: Chat, coach: Coach) -> None:
    await chat.send("/start quiz")
    reply = await chat.send("S")
    assert "At least 2 characters" in reply.text
    await chat.send("S\x00am\x1b")
    session = await coach.store.load(chat.user.key)
    assert session is not None and session.slots["name"] == "Sam"


async def test_stray_text_at_a_choice_step(chat: Chat) -> None:
    await chat.send("/start quiz")
    await chat.send("Sam")
    reply = await chat.send("green, obviously")
    assert reply.parts == ["Please pick one of the options below, or type /help."]
    assert chat.labels == ["Red", "Blue", "Menu"]


async def test_stale_and_forged_buttons(chat: Chat) -> None:
    await chat.send("/start quiz")
    reply = await chat.send("Sam")
    old_red = next(c.id for c in reply.choices if c.label == "Red")
    await chat.press("Blue")
    reply = await chat.button(old_red)
    assert reply.notice == reply.parts[0]
    assert "That step has passed" in reply.parts[0]
    assert reply.parts[1] == "Why blue?"
    for forged in ("99999.0", "x", "", "1.2.3", "0.999", "delete.yes", "🙂" * 30):
        reply = await chat.button(forged)
        assert any(p.startswith(("I couldn't read", "That step has passed"))
                   for p in reply.parts), forged
        assert reply.parts[-1] == "Why blue?"
    current = reply.choices[0].id
    hidden = current.split(".")[0] + ".2"  # "Secret door" exists but is hidden
    await chat.send("/back")
    step = chat.last.choices[0].id.split(".")[0]  # type: ignore[union-attr]
    reply = await chat.button(f"{step}.2")
    assert reply.parts[0].startswith("I couldn't read"), hidden


async def test_group_chat_shows_no_content(coach: Coach) -> None:
    reply = await coach.handle(Incoming(UserKey("test", "g"), text="/start talk", private=False))
    assert "one to one" in reply.text and reply.choices == []
    assert await coach.store.load("test:g") is None


async def test_duplicate_update_is_handled_once(coach: Coach) -> None:
    chat = Chat(coach)
    await chat.send("/start quiz")
    first = await chat.send("Sam", update_id="u-1")
    again = await chat.send("Sam", update_id="u-1")
    assert first.parts == ["Hello Sam. Favourite colour?"]
    assert again.duplicate and again.parts == []
    session = await coach.store.load(chat.user.key)
    assert session is not None and session.state == "colour"


async def test_open_greets_new_and_returning_people(coach: Coach) -> None:
    user = Incoming(UserKey("test", "r"))
    reply = await coach.open(user)
    assert reply.parts[0] == "Welcome to the test menu."
    chat = Chat(coach, "r")
    await chat.send("/start quiz")
    reply = await coach.open(user)
    assert reply.parts == ['Welcome back. You were in "Quiz". Here\'s where you left off:',
                           "What is your name?"]


def test_command_parsing() -> None:
    assert parse_command("/start@CoachBot talk") == ("start", "talk")
    assert parse_command("/HELP") == ("help", "")
    assert parse_command("/") is None
    assert parse_command("/ not") is None
    assert parse_command("and/or") is None
    assert parse_command("/rm -rf") == ("rm", "-rf")


def test_clean_text_keeps_emoji_and_newlines() -> None:
    assert clean_text(" a\x00b\nc\u200d😀 ") == "ab\nc\u200d😀"


async def test_clear_slots_takes_one_name_or_a_list(chat: Chat, coach: Coach) -> None:
    from bot.engine import EngineContext

    await chat.send("/start quiz")
    await chat.send("Sam")
    session = await coach.store.load(chat.user.key)
    assert session is not None
    session.slots.update(colour="red", why="x")
    ctx = EngineContext(session, coach.catalog, coach.catalog.registry, {})
    coach.catalog.registry.actions["clear_slots"].func(ctx, "name")
    assert "name" not in session.slots and session.slots["colour"] == "red"
    coach.catalog.registry.actions["clear_slots"].func(ctx, ["colour", "why"])
    assert session.slots == {}


async def test_a_message_in_flight_cannot_bring_deleted_data_back(coach: Coach) -> None:
    import asyncio

    chat = Chat(coach)
    await chat.send("/start quiz")
    await chat.send("Sam")
    await chat.send("/delete")
    assert chat.last is not None
    yes = next(c.id for c in chat.last.choices if c.label.startswith("Yes"))
    user = chat.user
    replies = await asyncio.gather(
        coach.handle(Incoming(user, button=yes)),
        coach.handle(Incoming(user, text="Red")),
        coach.handle(Incoming(user, text="/export")),
    )
    assert "erased everything" in replies[0].text
    assert "Sam" not in replies[1].text + replies[2].text
    session = await coach.store.load(user.key)
    assert session is not None and "name" not in session.slots


async def test_a_repeated_group_update_gets_one_notice(coach: Coach) -> None:
    user = UserKey("test", "grp")
    first = await coach.handle(Incoming(user, text="/start", private=False, update_id="g1"))
    again = await coach.handle(Incoming(user, text="/start", private=False, update_id="g1"))
    assert "one to one" in first.text and again.duplicate and again.parts == []


class FailingStore(MemoryStore):
    """A real memory store whose next writes (or reads) fail as a busy or full disk would."""

    def __init__(self) -> None:
        super().__init__()
        self.failing_saves = 0
        self.failing_loads = 0

    async def save(self, session: Session) -> None:
        if self.failing_saves:
            self.failing_saves -= 1
            raise StoreUnavailable("full")
        await super().save(session)

    async def delete(self, user_key: str) -> bool:
        if self.failing_saves:
            self.failing_saves -= 1
            raise StoreUnavailable("busy")
        return await super().delete(user_key)

    async def load(self, user_key: str) -> Session | None:
        if self.failing_loads:
            self.failing_loads -= 1
            raise StoreUnavailable("io")
        return await super().load(user_key)


async def test_a_step_that_cannot_be_saved_is_reported_and_nothing_changes(
        catalog: Catalog) -> None:
    store = FailingStore()
    chat = Chat(Coach(catalog, store))
    await chat.send("/start quiz")
    before = await store.load(chat.user.key)
    store.failing_saves = 1
    reply = await chat.send("Sam")
    assert not reply.saved
    assert reply.parts == ["That didn't go through, and nothing of it was saved. Please send "
                           "it again in a moment."]
    assert reply.expects_text  # the step still stands: it asks for the name again
    after = await store.load(chat.user.key)
    assert before is not None and after is not None
    assert (after.version, after.slots, after.state) == (before.version, before.slots, "name")
    reply = await chat.send("Sam")
    assert reply.saved and reply.parts[0] == "Hello Sam. Favourite colour?"


async def test_buttons_stay_valid_after_a_failed_save(catalog: Catalog) -> None:
    store = FailingStore()
    chat = Chat(Coach(catalog, store))
    await chat.send("/start quiz")
    await chat.send("Sam")
    store.failing_saves = 1
    reply = await chat.press("Red")
    assert not reply.saved and [c.label for c in reply.choices][:2] == ["Red", "Blue"]
    reply = await chat.press("Red")
    assert reply.saved and reply.parts[0] == "Why red?"


async def test_an_unreadable_store_and_a_failed_delete_lose_nothing(catalog: Catalog) -> None:
    store = FailingStore()
    chat = Chat(Coach(catalog, store))
    await chat.send("/start quiz")
    await chat.send("Sam")
    store.failing_loads = 2
    reply = await chat.send("/help")
    assert not reply.saved and reply.choices == []
    await chat.send("/delete")
    store.failing_saves = 1
    reply = await chat.send("yes")
    assert not reply.saved and chat.labels == ["Yes, delete everything", "No, keep it"]
    assert await store.load(chat.user.key) is not None
    reply = await chat.press("Yes, delete everything")
    assert "erased everything" in reply.text and await store.load(chat.user.key) is None


async def test_a_superscript_digit_is_text_not_a_button_number(chat: Chat) -> None:
    await chat.send("/start quiz")
    await chat.send("Sam")
    reply = await chat.send("²")
    assert reply.saved and reply.parts  # an answer, never a crash
    reply = await chat.send("١")  # an Arabic-Indic one is a real decimal: the first button
    assert reply.parts[0] == "Why red?"


async def test_greeting_someone_returning_shows_their_step_and_never_starts_a_session(
        catalog: Catalog) -> None:
    """`greet_returning`, for an adapter that answers unasked after a restart: the step again
    after "Welcome back"; nothing, and nothing saved, for someone without a session."""
    store = FailingStore()
    coach = Coach(catalog, store)
    chat = Chat(coach)
    assert await coach.greet_returning(chat.user) is None
    assert await store.load(chat.user.key) is None  # greeting them would have made one
    await chat.send("/start quiz")
    reply = await coach.greet_returning(chat.user)
    assert reply is not None and reply.saved
    assert reply.parts[0].startswith("Welcome back") and reply.parts[-1] == "What is your name?"
    store.failing_saves = 1
    reply = await coach.greet_returning(chat.user)
    assert reply is not None and not reply.saved  # the store is busy: nothing was kept
    await chat.send("/delete")
    await chat.press("Yes, delete everything")
    assert await coach.greet_returning(chat.user) is None


async def test_the_data_folder_is_the_stores(catalog: Catalog, tmp_path) -> None:
    from bot.store.sqlite import SQLiteStore

    assert Coach(catalog, MemoryStore()).data_folder() is None
    coach = Coach(catalog, SQLiteStore(tmp_path / "data" / "coach.db"))
    try:
        assert coach.data_folder() == tmp_path / "data"
    finally:
        await coach.close()
