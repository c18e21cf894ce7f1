"""The plan to keep: the person's own words on one screen, checked as the flows load."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.app import load_flows
from bot.flowlang.catalog import Catalog
from bot.pipeline import Coach
from bot.plan import MAX_ANSWER, Plan, load_plan
from bot.store.memory import MemoryStore
from tests.conftest import Chat, practising


@pytest.fixture(scope="module")
def shipped() -> Catalog:
    return load_flows()


@pytest.fixture(scope="module")
def plan(shipped: Catalog) -> Plan:
    plan = shipped.services["plan"]
    assert isinstance(plan, Plan)
    return plan


def test_an_empty_plan_says_what_it_will_hold(plan: Plan) -> None:
    text = plan.render({"adult": "yes", "role": "hurt"})
    assert text.startswith(plan.title) and plan.empty in text
    assert plan.heated_heading not in text


def test_the_plan_holds_the_person_s_words_in_order(plan: Plan) -> None:
    slots = {"role": "crossed", "my_opener": "first try", "best_opener": "I'm sorry I hid it.",
             "boundary_online": "No private chats with exes.",
             "commit_open": "I'll tell you when she messages."}
    text = plan.render(slots)
    assert "“I'm sorry I hid it.”" in text and "first try" not in text
    assert text.index("I'm sorry I hid it.") < text.index(plan.heated_heading) < text.index(
        "No private chats with exes.") < text.index("I'll tell you when she messages.")
    assert all(phrase in text for phrase in plan.heated["crossed"])
    assert not any(phrase in text for phrase in plan.heated["hurt"])
    assert "• Online: No private chats with exes." in text
    assert len(text) < 2000  # one Discord message


def test_a_long_answer_is_cut_at_a_word_with_an_ellipsis(plan: Plan) -> None:
    long = "word " * 200
    text = plan.render({"best_opener": long})
    opener = text.split("“", 1)[1].split("”", 1)[0]
    assert opener.endswith("…") and len(opener) <= MAX_ANSWER + 1
    assert "wor…" not in opener


def test_a_plan_full_of_long_answers_is_still_one_message(plan: Plan) -> None:
    slots = {slot: "a long answer " * 60 for section in plan.sections for slot in section.slots}
    slots.update(role="crossed", best_opener="I'm sorry. " * 60)
    text = plan.render(slots)
    assert len(text) + 200 < 2000  # one Discord message, with the step's line below it
    assert all(section.heading in text for section in plan.sections)
    assert all(phrase in text for phrase in plan.heated["crossed"])  # never shortened
    bullets = [line for line in text.splitlines() if line.startswith("• ") and ": " in line]
    assert bullets and all(line.endswith("…") for line in bullets)
    assert {line[:-1].split()[-1] for line in bullets} <= {"a", "long", "answer"}  # at a word


def test_problems_in_the_plan_file_are_named(tmp_path: Path) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text("title: Plan\nsections: [{heading: '', slots: {}}]\n", encoding="utf-8")
    plan, problems = load_plan(path)
    assert plan is None
    messages = " ".join(p.message for p in problems)
    assert "'empty' must be non-empty text" in messages
    assert "'heated.hurt' needs a list of texts" in messages
    assert "a part needs a 'heading' and 'slots'" in messages


async def test_slash_plan_shows_the_plan_over_the_step_which_stays(shipped: Catalog) -> None:
    chat = Chat(Coach(shipped, MemoryStore()))
    await chat.send("/start")
    await chat.press("Yes, I'm 18 or older")
    reply = await chat.send("/plan")
    assert "Your plan fills in as you go" in reply.text
    await chat.send("/start boundaries")
    await chat.press("Let's start")
    await chat.send("Friendly is fine, flirting is not.")
    reply = await chat.send("/plan")
    assert "• Friendliness and flirting: Friendly is fine, flirting is not." in reply.text
    assert chat.labels[0] == "Skip this one"  # still at question 2: nothing was re-run
    reply = await chat.send("No private chats with exes.")
    assert "3 of 4" in reply.text


async def test_slash_plan_in_a_practice_does_not_restart_it(shipped: Catalog) -> None:
    chat = await practising(Coach(shipped, MemoryStore()))
    reply = await chat.send("I feel uneasy about the late texts. Can we talk?")
    assert reply.text.count("Partner:") == 1
    reply = await chat.send("/plan")
    assert "Partner:" not in reply.text and "What you'll open with:" in reply.text
    reply = await chat.send("What does she mean to you?")
    assert reply.text.count("Partner:") == 1 and "Coach:" in reply.text
