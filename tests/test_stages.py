"""The stages of one message: the order is the documented one, and a stage that finishes
the message stops the rest."""

from __future__ import annotations

from bot.app import load_catalog
from bot.flowlang.catalog import Catalog
from bot.messages import Incoming
from bot.pipeline import Coach
from bot.safety.screen import ScreenResult
from bot.setting import Setting
from bot.stages import parse_command
from bot.store.memory import MemoryStore
from tests.conftest import REPO, Chat


def test_the_order_is_the_one_the_module_documents(coach: Coach) -> None:
    names = [stage.__name__ for stage in coach.stages.order]
    assert names == ["welcome_new_person", "repair_moved_flows", "release_safety_hold",
                     "screen_message", "pairing_news", "answer_pending", "route", "apply_effects",
                     "open_wanted"]
    import bot.stages

    documented = [line.split(". ", 1)[0] for line in (bot.stages.__doc__ or "").splitlines()
                  if line[:1].isdigit()]
    assert documented == [str(n) for n in range(1, len(names) + 1)]


async def test_a_flagged_message_is_never_routed(catalog: Catalog) -> None:
    def screen(text: str, setting: Setting) -> ScreenResult:
        if "flag" in text:
            return ScreenResult(risk="risk", category="violence", rule="test")
        return ScreenResult(risk="none", category="none", rule="")

    coach = Coach(catalog, MemoryStore(), screen=screen)
    chat = Chat(coach)
    await chat.send("/start quiz")
    reply = await chat.send("flag /delete")
    stored = await coach.store.load(chat.user.key)
    assert stored is not None and stored.pending is None  # /delete was not run
    assert stored.slots.get("name") is None  # nor kept as the answer
    assert reply.parts  # the safety help (the test flows have no safety flow)


async def test_the_screen_hears_who_speaks_and_where() -> None:
    heard: list[Setting] = []

    def screen(text: str, setting: Setting) -> ScreenResult:
        heard.append(setting)
        return ScreenResult(risk="none", category="none", rule="")

    chat = Chat(Coach(load_catalog([REPO / "flows"]), MemoryStore(), screen=screen))
    await chat.send("/start")
    await chat.press("Yes, I'm 18 or older")
    await chat.press("I crossed a line and want to repair")
    heard.clear()
    await chat.send("I was chasing attention from a coworker")
    assert heard == [Setting("crossed", "reflection")]
    await chat.send("/start talk")
    heard.clear()
    await chat.send("hmm")
    assert heard == [Setting("hurt", "safety_question")]
    await chat.press("Yes, I feel safe")
    heard.clear()
    await chat.send("late-night texts with an ex")
    assert heard == [Setting("hurt", "story")]
    other = Chat(chat.coach, user="bo")
    await other.send("/start")
    await other.press("Yes, I'm 18 or older")
    await other.send("/start roleplay")
    await other.press("I was hurt")
    await other.press("I'm not sure")
    heard.clear()
    await other.send("he checks my phone every night")  # an answer to the safety question
    assert heard == [Setting(None, "safety_question")]


def test_commands_are_parsed_once_per_message() -> None:
    assert parse_command("/start@CoachBot talk") == ("start", "talk")
    assert parse_command("/") is None and parse_command("hello /start") is None


async def test_a_delete_question_left_open_is_asked_again_after_a_restart(
        coach: Coach) -> None:
    chat = Chat(coach)
    await chat.send("/start quiz")
    await chat.send("/delete")
    reply = await coach.open(Incoming(chat.user))
    assert "nothing was deleted" not in reply.text
    assert reply.parts[-1] == coach.texts.get("delete_confirm")
    assert [c.label for c in reply.choices] == ["Yes, delete everything", "No, keep it"]
    reply = await chat.send("yes")
    assert "erased everything" in reply.text
    assert await coach.store.load(chat.user.key) is None
