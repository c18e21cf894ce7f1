"""/export gives everything stored about the person, readable and as JSON; /privacy says
truthfully what that is."""

from __future__ import annotations

import json

from bot.app import load_catalog
from bot.flowlang.catalog import Catalog
from bot.pipeline import Coach
from bot.session import SEEN_UPDATES_KEPT
from bot.store.memory import MemoryStore
from tests.conftest import REPO, Chat

SHIPPED = REPO / "flows"
UNSURE = "he gets really angry when I bring it up"
VIOLENCE = "he hit me last night and I'm scared of him"


class Ids:
    """Platform update ids, as an adapter passes them."""

    def __init__(self) -> None:
        self.n = 7000

    def __call__(self) -> str:
        self.n += 1
        return f"upd-{self.n}"


async def _export(chat: Chat, next_id: Ids) -> tuple[str, dict]:
    reply = await chat.send("/export", update_id=next_id())
    assert len(reply.attachments) == 1
    return reply.text, json.loads(reply.attachments[0].data)


async def test_export_shows_the_held_answer_and_the_remembered_update_ids(
        safety_catalog: Catalog, store: MemoryStore) -> None:
    chat, next_id = Chat(Coach(safety_catalog, store)), Ids()
    await chat.send("/start quiz", update_id=next_id())
    await chat.send("Sam", update_id=next_id())
    await chat.press("Red", update_id=next_id())
    await chat.send(UNSURE, update_id=next_id())  # held while the coach checks in
    session = await store.load(chat.user.key)
    assert session is not None and session.held == UNSURE

    text, data = await _export(chat, next_id)
    assert data["held_answer"] == UNSURE
    assert UNSURE in text and "while I checked in on your safety" in text
    ids = [f"upd-{n}" for n in range(7001, 7006)]
    assert data["update_ids_remembered"] == ids
    assert ", ".join(ids) in text
    assert "ids only" in text

    await chat.press("Yes, I'm safe")  # the held answer now counts, and is no longer held
    text, data = await _export(chat, next_id)
    assert data["held_answer"] is None
    assert "while I checked in on your safety" not in text
    assert {"slot": "why", "question": "Why red?", "answer": UNSURE} in data["answers"]


async def test_export_says_what_the_stored_safety_concern_is(safety_catalog: Catalog,
                                                            store: MemoryStore) -> None:
    chat, next_id = Chat(Coach(safety_catalog, store)), Ids()
    await chat.send("/start quiz", update_id=next_id())
    await chat.send("Sam", update_id=next_id())
    await chat.press("Red", update_id=next_id())
    await chat.send(VIOLENCE, update_id=next_id())
    text, data = await _export(chat, next_id)
    assert data["safety_concern"] == {
        "value": "violence",
        "meaning": "you told me about violence, or fear of your partner"}
    assert "you told me about violence, or fear of your partner" in text
    assert data["held_answer"] is None and VIOLENCE not in text and VIOLENCE not in str(data)
    # shown once, in its own words, not again as a bare slot among the other notes
    assert text.count("violence") == 1


async def test_export_lists_the_steps_in_readable_form(safety_catalog: Catalog,
                                                      store: MemoryStore) -> None:
    chat, next_id = Chat(Coach(safety_catalog, store)), Ids()
    await chat.send("/start quiz", update_id=next_id())
    await chat.send("Sam", update_id=next_id())
    await chat.press("Red", update_id=next_id())
    await chat.press("Skip", update_id=next_id())
    await chat.press("Side trip", update_id=next_id())
    text, data = await _export(chat, next_id)

    steps = data["steps_back"]
    assert [(s["flow_title"], s["state"]) for s in steps] == [
        ("Quiz", "name"), ("Quiz", "colour"), ("Quiz", "detail"), ("Quiz", "aside")]
    assert steps[-1]["text"] == ["No reason needed.", "Want a side trip?"]  # kept for /back
    assert steps[1]["text"] is None and steps[1]["summary"] == "Hello Sam. Favourite colour?"
    assert data["steps_back_remembered"] == len(steps)
    assert data["waiting_to_return_to"] == [{"flow": "quiz", "flow_title": "Quiz",
                                             "state": "done"}]
    lines = text.splitlines()
    at = lines.index("Steps you can go back to with /back (oldest first):")
    assert lines[at + 1:at + 5] == ["  • Quiz: What is your name?",
                                    "  • Quiz: Hello Sam. Favourite colour?",
                                    "  • Quiz: Why red?", "  • Quiz: No reason needed."]
    assert 'When this part ends, I take you back to: "Quiz"' in text
    assert "Continue where I left off" not in text  # that is where they are now


async def test_export_of_a_new_person_says_what_little_is_kept(safety_catalog: Catalog,
                                                              store: MemoryStore) -> None:
    chat = Chat(Coach(safety_catalog, store))
    await chat.send("/start")
    reply = await chat.send("/export")
    data = json.loads(reply.attachments[0].data)
    assert data["held_answer"] is None and data["safety_concern"] is None
    assert data["update_ids_remembered"] == []
    assert "while I checked in" not in reply.text and "ids only" not in reply.text


def test_at_most_the_last_update_ids_are_kept_and_exported() -> None:
    assert SEEN_UPDATES_KEPT == 64  # /privacy and the export's wording rely on this number


async def test_privacy_says_what_is_really_kept() -> None:
    coach = Coach(load_catalog([SHIPPED]), MemoryStore(), config={"retention_days": "30"})
    chat = Chat(coach)
    await chat.send("/start")
    text = (await chat.send("/privacy")).text
    assert "30 days" in text
    # what it used to promise, and is not true
    assert "Nothing else" not in text and "never a message" not in text
    for fact in ("encrypted",                  # how answers are stored
                 "until you answer",           # a message held while I check in
                 "safety worry",               # the stored concern
                 "ids of your last 64 messages",  # remembered update ids
                 "Logs",                       # what logs hold
                 "never what you write",
                 "Telegram or Discord",        # the app sees the chat itself
                 "phone",                      # someone with the phone
                 "/export", "/delete"):
        assert fact in text, fact


def test_answers_are_exported_in_the_order_they_were_given(safety_catalog: Catalog) -> None:
    from bot.export import export_data
    from bot.session import Session

    session = Session("test:kim", "talk", "start",
                      slots={"why": "trust", "behavior": "late texts", "feeling": "hurt"})
    stored = Session.from_json(session.to_json())  # as the store gives it back
    answers = [a["slot"] for a in export_data(stored, safety_catalog)["answers"]]
    assert answers == ["why", "behavior", "feeling"]


async def test_export_shows_the_question_that_was_asked_and_notes_in_plain_words() -> None:
    from bot.app import load_flows

    catalog = load_flows()
    noticed = catalog.flows["talk"].spec.states["noticed"].say[-1]
    chat, next_id = Chat(Coach(catalog, MemoryStore())), Ids()
    await chat.send("/start", update_id=next_id())
    await chat.press("Yes, I'm 18 or older", update_id=next_id())
    await chat.send("/start talk", update_id=next_id())
    await chat.press("Yes, I feel safe", update_id=next_id())
    await chat.press("Frequent, private messaging", update_id=next_id())  # a button answer
    await chat.send("hurt and lonely", update_id=next_id())
    text, data = await _export(chat, next_id)
    behaviour = next(a for a in data["answers"] if a["slot"] == "behavior")
    # talk's own question, not learn's, which also asks for `behavior`
    assert behaviour["question"] == noticed
    assert "You told me you're 18 or older." in text
    assert "You said you're the one who was hurt." in text
    for internal in ("adult:", "role:", "safe to talk", "opener first score", "rp "):
        assert internal not in text


async def test_export_of_a_practice_has_no_prompt_for_a_question_and_no_internal_key() -> None:
    from bot.app import load_flows

    chat, next_id = Chat(Coach(load_flows(), MemoryStore())), Ids()
    await chat.send("/start", update_id=next_id())
    await chat.press("Yes, I'm 18 or older", update_id=next_id())
    await chat.send("/start roleplay", update_id=next_id())
    await chat.press("I crossed a line", update_id=next_id())
    await chat.press("Yes, I feel safe", update_id=next_id())
    await chat.press("Hurt and guarded", update_id=next_id())
    await chat.send("I kept the messages with Jo from you. I'm sorry.", update_id=next_id())
    await chat.send("What would help you right now?", update_id=next_id())
    text, data = await _export(chat, next_id)
    assert "Your last line in practice: What would help you right now?" in text
    assert "Your turn." not in text  # the practice's prompt is no question read on its own
    texts = chat.coach.texts.entries
    for item in data["answers"]:
        slot, value = item["slot"], item["answer"]
        assert (item["question"] or slot.startswith("rp_") or slot == "safety_concern"
                or f"note_{slot}" in texts or f"note_{slot}_{value}" in texts), slot
    for internal in ("rp ", "rp_", "role:", "adult:"):
        assert internal not in text
