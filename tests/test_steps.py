"""A step shown again is the same step: its action output, its buttons; and the smaller
promises around steps: typed labels, the Menu button, deep links before the age question,
prefixes taken off answers, plurals, text that is not valid Unicode."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import pytest

from bot.app import build_registry, load_catalog
from bot.engine import EngineContext
from bot.flowlang.catalog import Catalog
from bot.flowlang.model import AskSpec
from bot.flowlang.registry import Registry
from bot.messages import Incoming, Reply, UserKey
from bot.pipeline import Coach, clean_text
from bot.session import BACK_STACK_KEPT, Position, Session
from bot.store.memory import MemoryStore
from bot.store.sqlite import SQLiteStore
from bot.store.url import open_store
from bot.templates import fill, render
from tests.conftest import CORE_FLOWS, REPO, Chat

# A flow whose actions say something and change something: `tally` counts its own runs in
# a slot and says the count, so a re-show that ran it again would both say and keep "2".
PRACTICE = """\
id: practice
title: Practice
start: intro
states:
  intro:
    do: [tally]
    say: Here we go.
    next: line
  line:
    say: What will you say?
    ask: {slot: line, max_length: 300, strip_prefix: ["I'll say", "I will say"]}
    choices:
      - {label: Not sure yet, set: {line: "not sure"}, to: check}
    next: check
  check:
    do: [tally]
    say: "You'll say: ${line}"
    choices:
      - {label: Again, to: line}
      - {label: Finish, flow: menu}
"""
QUIET = """\
id: quiet
title: Quiet
menu_button: false
start: only
states:
  only:
    say: No menu button here.
    ask: {slot: quiet_note, max_length: 100}
    next: {return: true}
"""
# A menu that asks for the age first, as the shipped one does.
CONSENT_MENU = """\
id: menu
title: Test menu
start: hello
states:
  hello:
    next:
      - {to: pick, if: {slot_is: {adult: "yes"}}}
      - {to: age}
  age:
    say: Are you 18 or older?
    choices:
      - {label: "Yes, I'm 18 or older", set: {adult: "yes"}, to: pick}
      - {label: "No", to: hello}
  pick:
    say: Pick a topic.
    choices:
      - {label: Quiz, flow: quiz}
      - {label: Practice, flow: practice}
      - {label: Hurt role, set: {role: hurt}, flow: quiz, at: colour}
"""


def _registry() -> Registry:
    registry = build_registry()

    @registry.action("tally", "none", "counts its own runs and says the count",
                     writes=("visits",))
    def tally(ctx: EngineContext, _: Any) -> None:
        visits = int(ctx.session.slots.get("visits", "0")) + 1
        ctx.session.slots["visits"] = str(visits)
        ctx.say(f"Visit {visits}.")

    return registry


REGISTRY_WITH_TALLY = _registry()


def _flows(tmp: Path, *extra: tuple[str, str], base: Path = CORE_FLOWS) -> Path:
    flows = tmp / "flows"
    shutil.copytree(base, flows, dirs_exist_ok=True)
    for name, text in extra:
        (flows / name).write_text(text, encoding="utf-8")
    return flows


@pytest.fixture(scope="module")
def practice_catalog(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    flows = _flows(tmp_path_factory.mktemp("practice"), ("practice.yaml", PRACTICE),
                   ("quiet.yaml", QUIET))
    return load_catalog([flows], REGISTRY_WITH_TALLY)


@pytest.fixture
def coach(practice_catalog: Catalog) -> Coach:
    return Coach(practice_catalog, MemoryStore())


@pytest.fixture
def chat(coach: Coach) -> Chat:
    return Chat(coach)


async def _slots(coach: Coach, chat: Chat) -> dict[str, str]:
    session = await coach.store.load(chat.user.key)
    assert session is not None
    return session.slots


def _same_step(again: Reply, first: Reply) -> None:
    assert again.parts == first.parts
    assert again.choices == first.choices, "the same step keeps its button ids"


# -- 1 and 2: the current step again, exactly, with working buttons ---------------------------


async def test_resume_repeats_action_output_without_running_the_action(
        coach: Coach, chat: Chat) -> None:
    first = await chat.send("/start practice")
    assert first.parts == ["Visit 1.", "Here we go.", "What will you say?"]
    again = await chat.send("/resume")
    _same_step(again, first)
    assert (await _slots(coach, chat))["visits"] == "1"
    checked = await chat.send("hello there")
    assert checked.parts == ["Visit 2.", "You'll say: hello there"]
    again = await chat.send("/resume")
    _same_step(again, checked)
    assert (await _slots(coach, chat))["visits"] == "2"


async def test_buttons_keep_working_after_resume_help_and_a_stale_press(chat: Chat) -> None:
    await chat.send("/start practice")
    line = chat.last
    checked = await chat.send("hello")
    await chat.send("/resume")
    await chat.send("/help")
    stale = await chat.button(line.choices[0].id)  # type: ignore[union-attr]
    assert stale.parts[0].startswith("That step has passed")
    assert stale.parts[1:] == checked.parts and stale.choices == checked.choices
    again = next(c.id for c in checked.choices if c.label == "Again")
    reply = await chat.button(again)  # the button from before all of that
    assert reply.parts == ["What will you say?"]


async def test_the_greeting_after_a_restart_repeats_the_step(coach: Coach, chat: Chat) -> None:
    await chat.send("/start practice")
    checked = await chat.send("hello")
    greeting = await coach.open(Incoming(chat.user))
    assert greeting.parts == ['Welcome back. You were in "Practice". Here\'s where you left off:',
                              *checked.parts]
    assert greeting.choices == checked.choices
    assert (await _slots(coach, chat))["visits"] == "2"
    reply = await chat.button(checked.choices[0].id)
    assert reply.parts == ["What will you say?"]


async def test_back_shows_the_earlier_step_as_it_was(coach: Coach, chat: Chat) -> None:
    await chat.send("/start practice")
    checked = await chat.send("hello")
    await chat.press("Again")
    back = await chat.send("/back")
    assert back.parts == checked.parts == ["Visit 2.", "You'll say: hello"]
    assert (await _slots(coach, chat))["visits"] == "2"
    reply = await chat.press("Again")  # /back is a new step: its own buttons work
    assert reply.parts == ["What will you say?"]


async def test_continue_where_i_left_off_does_not_run_the_step_again(
        coach: Coach, chat: Chat) -> None:
    await chat.send("/start practice")
    checked = await chat.send("hello")
    await chat.send("/menu")
    reply = await chat.press("Continue where I left off")
    assert reply.parts == checked.parts == ["Visit 2.", "You'll say: hello"]
    assert (await _slots(coach, chat))["visits"] == "2"


async def test_sessions_saved_before_steps_kept_their_text_still_resume(coach: Coach) -> None:
    session = Session("test:old", "quiz", "colour", slots={"name": "Sam"}, step=7)
    await coach.store.save(session)
    chat = Chat(coach, "old")
    reply = await chat.send("/resume")
    assert reply.parts == ["Hello Sam. Favourite colour?"]
    assert reply.choices[0].id == "7.0", "a re-show is not a new step"


async def test_step_text_round_trips_through_the_encrypted_store(practice_catalog: Catalog,
                                                                 tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "s.db"))  # encrypted, as in production
    try:
        coach = Coach(practice_catalog, store)
        chat = Chat(coach)
        await chat.send("/start practice")
        checked = await chat.send("a line only I know")
        fresh = Coach(practice_catalog, open_store(str(tmp_path / "s.db")))
        try:
            again = await Chat(fresh).send("/resume")
        finally:
            await fresh.store.close()
        _same_step(again, checked)
        raw = b"".join(p.read_bytes() for p in tmp_path.glob("s.db*"))
        assert b"a line only I know" not in raw and b"You'll say" not in raw
        await chat.send("/delete")
        await chat.press("Yes, delete everything")
        assert await store.load(chat.user.key) is None
    finally:
        await store.close()


def test_back_stack_text_is_bounded() -> None:
    session = Session("k", "f", "s")
    for n in range(40):
        session.push_back(Position("f", f"s{n}", ("x" * 500,)))
    kept = [p for p in session.back if p.shown is not None]
    assert len(session.back) == BACK_STACK_KEPT
    assert 1 <= len(kept) <= 8 and kept == session.back[-len(kept):]
    restored = Session.from_json(session.to_json())
    assert [p.shown for p in restored.back] == [p.shown for p in session.back]


# -- the safety path: help lines on /resume, the step as it was on return ---------------------


@pytest.fixture(scope="module")
def safety_catalog(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    flows = _flows(tmp_path_factory.mktemp("safety"), base=REPO / "flows")
    shutil.copytree(CORE_FLOWS, flows, dirs_exist_ok=True)
    (flows / "practice.yaml").write_text(PRACTICE, encoding="utf-8")
    return load_catalog([flows], REGISTRY_WITH_TALLY)


async def test_help_lines_are_repeated_and_the_step_comes_back_as_it_was(
        safety_catalog: Catalog) -> None:
    coach = Coach(safety_catalog, MemoryStore())
    chat = Chat(coach)
    line = await chat.send("/start practice")
    flagged = await chat.send("he hit me last night and I'm scared of him")
    help_lines = safety_catalog.services["resources"].text("violence", None)  # type: ignore[attr-defined]
    assert help_lines in flagged.parts
    again = await chat.send("/resume")
    _same_step(again, flagged)
    safe = await chat.press(flagged.choices[0].label)  # "I'm safe right now"
    back_label = next(c.label for c in safe.choices if "Back" in c.label)
    returned = await chat.press(back_label)
    assert returned.parts == line.parts == ["Visit 1.", "Here we go.", "What will you say?"]
    assert (await _slots(coach, chat))["visits"] == "1", "intro's action did not run again"


# -- 8: a typed label or number acts as the button, also where text is asked for ------------


async def test_typed_labels_and_numbers_press_buttons_at_a_step_that_asks(
        coach: Coach, chat: Chat) -> None:
    await chat.send("/start practice")
    assert chat.labels == ["Not sure yet", "Menu"]
    reply = await chat.send("  not SURE yet!  ")
    assert reply.parts == ["Visit 2.", "You'll say: not sure"]
    await chat.press("Again")
    reply = await chat.send("1")
    assert reply.parts[-1] == "You'll say: not sure"
    await chat.press("Again")
    reply = await chat.send("Menu.")
    assert reply.parts[-1] == "Pick a topic."
    await chat.send("/start practice")
    reply = await chat.send("not sure yet, but I'll try")
    assert reply.parts[-1] == "You'll say: not sure yet, but I'll try"
    assert (await _slots(coach, chat))["line"] == "not sure yet, but I'll try"


async def test_typed_skip_label_skips(chat: Chat) -> None:
    await chat.send("/start quiz")
    await chat.send("Sam")
    await chat.press("Red")
    reply = await chat.send("skip")
    assert reply.parts == ["No reason needed.", "Want a side trip?"]
    await chat.send("/start quiz")
    await chat.send("Sam")
    await chat.press("Red")
    reply = await chat.send("Skip it, no reason")
    assert reply.parts == ["Want a side trip?"]


async def test_curly_quotes_match_straight_ones(safety_catalog: Catalog) -> None:
    coach = Coach(safety_catalog, MemoryStore())
    chat = Chat(coach)
    await chat.send("/start practice")
    flagged = await chat.send("he hit me last night and I'm scared of him")
    label = flagged.choices[0].label  # "I'm safe right now"
    reply = await chat.send(label.replace("'", "’").upper())
    assert reply.parts != flagged.parts and "Back to where I was" in [
        c.label for c in reply.choices]


# -- 9: a way back to the menu at every step -----------------------------------------------------


async def test_every_step_gets_a_menu_button_except_where_it_has_one(chat: Chat) -> None:
    await chat.send("/start")
    assert "Menu" not in chat.labels, "not in the menu flow itself"
    await chat.press("Quiz")
    assert chat.labels == ["Menu"]
    await chat.send("Sam")
    assert chat.labels == ["Red", "Blue", "Menu"], "its own Menu choice, not a second one"
    await chat.press("Red")
    assert chat.labels == ["Skip", "Menu"]
    await chat.send("warm")
    await chat.press("Side trip")
    assert chat.labels == ["Go back", "Menu"]
    reply = await chat.press("Menu")
    assert reply.parts == ["Welcome to the test menu.", "Pick a topic."]
    reply = await chat.send("/back")
    assert reply.parts == ["This is the side trip."]


async def test_menu_false_turns_the_button_off(chat: Chat) -> None:
    await chat.send("/start quiet")
    assert chat.labels == []


async def test_the_menu_button_is_checked_by_the_server(coach: Coach, chat: Chat) -> None:
    await chat.send("/start quiz")
    name_step = chat.last.choices[0].id.split(".")[0]  # type: ignore[union-attr]
    await chat.send("Sam")
    colour_step = chat.last.choices[0].id.split(".")[0]  # type: ignore[union-attr]
    reply = await chat.button(f"{colour_step}.m")  # not offered here: it has its own
    assert reply.parts[0].startswith("I couldn't read")
    reply = await chat.button(f"{name_step}.m")
    assert reply.parts[0].startswith("That step has passed")
    await chat.send("/start quiet")
    session = await coach.store.load(chat.user.key)
    assert session is not None
    reply = await chat.button(f"{session.step}.m")
    assert reply.parts[0].startswith("I couldn't read"), "menu_button: false"


# -- 4: /start FLOW before the age question --------------------------------------------------


@pytest.fixture(scope="module")
def consent_catalog(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    flows = _flows(tmp_path_factory.mktemp("consent"), ("practice.yaml", PRACTICE),
                   ("menu.yaml", CONSENT_MENU))
    return load_catalog([flows], REGISTRY_WITH_TALLY)


async def test_a_deep_link_opens_after_the_age_question(consent_catalog: Catalog) -> None:
    coach = Coach(consent_catalog, MemoryStore())
    chat = Chat(coach)
    reply = await chat.send("/start quiz")
    assert reply.parts == ["Are you 18 or older?"]
    reply = await chat.send("/help")
    assert chat.labels == ["Yes, I'm 18 or older", "No"]
    reply = await chat.press("Yes, I'm 18 or older")
    assert reply.parts == ["What is your name?"]
    reply = await chat.send("/back")
    assert reply.parts == ["Pick a topic."]
    reply = await chat.send("/start")  # later visits are not sent to quiz again
    assert reply.parts == ["Pick a topic."]


async def test_the_last_deep_link_wins_and_start_forgets_it(consent_catalog: Catalog) -> None:
    coach = Coach(consent_catalog, MemoryStore())
    chat = Chat(coach, "two")
    await chat.send("/start quiz")
    await chat.send("/start practice")
    reply = await chat.press("Yes, I'm 18 or older")
    assert reply.parts == ["Visit 1.", "Here we go.", "What will you say?"]
    chat = Chat(coach, "three")
    await chat.send("/start quiz")
    await chat.send("/start")
    reply = await chat.press("Yes, I'm 18 or older")
    assert reply.parts == ["Pick a topic."]


# -- 10: prefixes people type along with their answer -----------------------------------------


@pytest.mark.parametrize(("typed", "kept"), [
    ("I feel small", "small"),
    ("i FEEL small", "small"),
    ("I’m feeling left out", "left out"),
    ("I'm feeling: uneasy", "uneasy"),
    ("feeling… hurt", "hurt"),
    ("feelings are hard", "feelings are hard"),  # a word that merely starts the same
    ("I feel", "I feel"),  # nothing but the prefix: kept as typed
    ("Small, I feel", "Small, I feel"),
])
def test_strip_prefix(typed: str, kept: str) -> None:
    ask = AskSpec("feeling", strip_prefix=("I feel", "I'm feeling", "feeling"))
    assert ask.cleaned(typed) == kept


async def test_prefixes_are_taken_off_before_the_answer_is_kept(coach: Coach,
                                                                chat: Chat) -> None:
    await chat.send("/start practice")
    reply = await chat.send("I'll say we need to talk")
    assert reply.parts[-1] == "You'll say: we need to talk"
    assert (await _slots(coach, chat))["line"] == "we need to talk"


# -- 11: the greeting reads naturally ----------------------------------------------------------


async def test_greeting_after_the_flow_was_removed(tmp_path: Path) -> None:
    flows = _flows(tmp_path, ("practice.yaml", PRACTICE))
    store = MemoryStore()
    coach = Coach(load_catalog([flows], REGISTRY_WITH_TALLY), store)
    await Chat(coach).send("/start practice")
    (flows / "practice.yaml").unlink()
    coach = Coach(load_catalog([flows], REGISTRY_WITH_TALLY), store)
    reply = await coach.open(Incoming(UserKey("test", "alice")))
    assert reply.parts == [
        "Welcome back.",
        "I've been updated since we last talked, and the part you were in is no longer here."
        "\nLet's carry on from the menu. Your earlier answers are still here.",
        "Welcome to the test menu.", "Pick a topic."]


async def test_greeting_at_the_menu_says_welcome_back_once(consent_catalog: Catalog) -> None:
    coach = Coach(consent_catalog, MemoryStore())
    chat = Chat(coach)
    await chat.send("/start")
    await chat.press("Yes, I'm 18 or older")
    reply = await coach.open(Incoming(chat.user))
    assert reply.parts == ["Welcome back.", "Pick a topic."]


async def test_shipped_menu_greets_once() -> None:
    coach = Coach(load_catalog([REPO / "flows"]), MemoryStore())
    chat = Chat(coach)
    await chat.send("/start")
    await chat.button(chat.last.choices[0].id)  # type: ignore[union-attr]  (the age: yes)
    await chat.send("/start")
    reply = await coach.open(Incoming(chat.user))
    assert reply.parts.count("Welcome back.") == 1
    assert not any("Main menu" in part for part in reply.parts)


# -- 12: plurals --------------------------------------------------------------------------------


def test_plural_forms() -> None:
    assert fill("${n} turn|turns; ${calm} of them calm", {"n": 1, "calm": 2}) == (
        "1 turn; 2 of them calm")
    assert fill("${n} turn|turns.", {"n": 3}) == "3 turns."
    assert fill("${n} answer|answers", {"n": 0}) == "0 answers"
    assert render("${rp_turn} reply|replies", {"rp_turn": "1"}) == "1 reply"
    assert render("$${n} a|b", {"n": "1"}) == "${n} a|b"
    assert render("cats|dogs ${n}", {"n": "1"}) == "cats|dogs 1"


async def test_deleted_message_counts_answers_in_words(chat: Chat) -> None:
    await chat.send("/start quiz")
    await chat.send("Sam")
    await chat.send("/delete")
    reply = await chat.press("Yes, delete everything")
    assert "1 answer and" in reply.text
    await chat.send("/start quiz")
    await chat.send("Sam")
    await chat.press("Red")
    await chat.send("/delete")
    reply = await chat.press("Yes, delete everything")
    assert "2 answers and" in reply.text and "(s)" not in reply.text


# -- 5: text that is not valid Unicode -----------------------------------------------------------


def test_clean_text_replaces_lone_surrogates() -> None:
    assert clean_text("half \ud83d") == "half \ufffd"
    assert clean_text("\udcff\udcfe bad") == "\ufffd\ufffd bad"
    assert clean_text("pair \ud83d\ude00") == "pair 😀"


async def test_broken_unicode_is_kept_safely(practice_catalog: Catalog, tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "u.db")
    try:
        coach = Coach(practice_catalog, store)
        user = UserKey("test", "u")
        await coach.handle(Incoming(user, text="/start practice", update_id="a\udcff"))
        reply = await coach.handle(Incoming(user, text="half \ud83d"))
        assert reply.parts[-1] == "You'll say: half \ufffd"
        again = await coach.handle(Incoming(user, text="/resume", update_id="a\udcff"))
        assert again.duplicate
    finally:
        await store.close()


async def test_a_purge_after_the_store_closed_is_quiet(practice_catalog: Catalog,
                                                       tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "p.db")
    coach = Coach(practice_catalog, store, config={"retention_days": "30"})
    coach._purge_if_due()  # what each message does first; the purge runs in the background
    assert coach._purging is not None
    await store.close()  # shutting down before the purge got its turn
    await asyncio.wait([coach._purging])
    assert coach._purging.exception() is None


async def test_coach_close_waits_for_the_purge(practice_catalog: Catalog, tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "c.db")
    coach = Coach(practice_catalog, store, config={"retention_days": "30"})
    await coach.handle(Incoming(UserKey("test", "c"), text="/start"))
    await coach.close()
    assert coach._purging is not None and coach._purging.done()
    assert coach._purging.exception() is None
