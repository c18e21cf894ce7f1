"""Couple mode through the real core (bot/pairing/couple.py and its stage): what crosses
from one partner to the other, and the safety rules, each on its own."""

from __future__ import annotations

import asyncio

import pytest

from bot.app import load_flows
from bot.flowlang.catalog import Catalog
from bot.messages import Incoming, Reply, UserKey
from bot.pairing.shared import pair_key
from bot.pipeline import Coach
from bot.store.memory import MemoryStore
from tests.conftest import Chat

CANARY = "canary-7f3e9b"
SHARED_SLOTS = ("boundary_flirting", "boundary_online", "boundary_openness",
                "boundary_hurtful", "need_closeness", "need_time", "need_conflicts")


@pytest.fixture(scope="module")
def flows() -> Catalog:
    return load_flows()


class Clock:
    """A clock the test moves: expiry is decided by it, never by waiting."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


class Recorder(Chat):
    """A partner whose every reply is kept, to look for what must never reach them."""

    def __init__(self, coach: Coach, user: str, platform: str) -> None:
        super().__init__(coach, user, platform)
        self.heard: list[Reply] = []

    async def send(self, text: str, **extra: object) -> Reply:
        self.heard.append(await super().send(text, **extra))
        return self.heard[-1]

    async def press(self, label: str, **extra: object) -> Reply:
        self.heard.append(await super().press(label, **extra))
        return self.heard[-1]

    def everything(self) -> str:
        return "\n".join([r.text + " " + " ".join(c.label for c in r.choices)
                          + "".join(a.data.decode() for a in r.attachments)
                          for r in self.heard])


async def adult(chat: Chat) -> None:
    await chat.send("/start")
    await chat.press("Yes, I'm 18 or older")


async def invite(chat: Chat, name: str = "Alex") -> str:
    await chat.send("/invite")
    await chat.press("Invite my partner")
    reply = await chat.send(name)
    assert reply.invite_code and reply.invite_code in reply.text
    return reply.invite_code


async def join(chat: Chat, code: str) -> Reply:
    await chat.send(f"/pair {code}")
    await chat.press("Go on")
    return await chat.press("Yes, I feel safe")


async def paired(coach: Coach) -> tuple[Recorder, Recorder]:
    alex, sam = Recorder(coach, "alex", "telegram"), Recorder(coach, "sam", "discord")
    await adult(alex)
    await adult(sam)
    code = await invite(alex)
    assert "You're in" in (await join(sam, code)).text
    return alex, sam


async def answer_boundaries(chat: Chat, answers: list[str]) -> Reply:
    await chat.send("/start boundaries")
    await chat.press("Let's start")
    for answer in answers:
        reply = await chat.send(answer)
    return reply


async def test_a_canary_in_every_private_field_never_reaches_the_partner(flows: Catalog) -> None:
    """One partner's story, opener, coach feedback, practice, reflections, notes and safety
    answers carry a canary; a whole paired walk sends the other none of it."""
    store = MemoryStore()
    coach = Coach(flows, store)
    alex, sam = await paired(coach)
    await alex.send("/menu")
    await alex.send(f"My boyfriend keeps texting his ex {CANARY}")  # a typed story
    await alex.send("/start talk")
    await answer_boundaries(alex, ["Friendly is fine.", "No DMs.", "Open.", "Lies."])
    session = await store.load(alex.user.key)
    assert session is not None
    for slot in {*flows.slots, "rp_best", "rp_worked"} - set(SHARED_SLOTS) - {"adult", "role"}:
        session.slots[slot] = f"{slot} {CANARY}"
    session.held = f"held {CANARY}"
    await store.save(session)
    await answer_boundaries(sam, ["Friendly is fine.", "Likes are fine.", "Open.", "Lies."])
    await sam.press("Show us both")
    await alex.send("/together")
    await alex.press("Show us both: boundaries")
    await sam.send("/together")
    await sam.press("Our agreements")
    for command in ("/together", "/export", "/plan", "/menu", "/resume"):
        await sam.send(command)
    await sam.send("/together")
    await sam.press("Side by side: boundaries")
    heard = sam.everything()
    assert "No DMs." in heard, "what Alex chose to show does reach Sam"
    assert CANARY not in heard
    record = await store.load(pair_key((await store.load(sam.user.key)).pair))  # type: ignore[union-attr]
    assert record is not None and CANARY not in str(record.record)


async def test_nothing_shows_until_both_finished_and_both_tapped(flows: Catalog) -> None:
    coach = Coach(flows, MemoryStore())
    alex, sam = await paired(coach)
    summary = await answer_boundaries(alex, ["Mine one.", "Mine two.", "Mine three.", "Mine four."])
    assert "Show us both" not in [c.label for c in summary.choices]
    reply = await sam.send("/together")
    assert "Mine one." not in reply.text and "both finished" not in reply.text
    await answer_boundaries(sam, ["Yours one.", "Yours two.", "Yours three.", "Yours four."])
    shown = await sam.press("Show us both")
    assert "Mine one." not in shown.text and "once your partner" in shown.text
    assert "Yours one." not in (await alex.send("/menu")).text


async def test_an_invite_expires_after_48_hours(flows: Catalog) -> None:
    clock = Clock()
    coach = Coach(flows, MemoryStore(), clock=clock)
    alex, sam = Chat(coach, "alex"), Chat(coach, "sam")
    await adult(alex)
    await adult(sam)
    code = await invite(alex)
    clock.now += 48 * 3600 + 1
    assert "can't be used" in (await sam.send(f"/pair {code}")).text
    assert "expired" in (await alex.send("/menu")).text
    assert "Invite my partner" in [c.label for c in (await alex.send("/invite")).choices]


async def test_a_used_code_works_once_and_the_inviter_is_told(flows: Catalog) -> None:
    coach = Coach(flows, MemoryStore())
    alex, sam, kim = Chat(coach, "alex"), Chat(coach, "sam"), Chat(coach, "kim")
    for chat in (alex, sam, kim):
        await adult(chat)
    code = await invite(alex)
    await join(sam, code)
    assert "can't be used" in (await kim.send(f"/pair {code.lower()}")).text
    assert "accepted your invite" in (await alex.send("/menu")).text


async def test_a_new_code_replaces_the_open_one(flows: Catalog) -> None:
    """One live invite per person: making a new code stops the old one."""
    coach = Coach(flows, MemoryStore())
    alex, sam = Chat(coach, "alex"), Chat(coach, "sam")
    await adult(alex)
    await adult(sam)
    first = await invite(alex)
    await alex.send("/invite")
    await alex.press("Make a new code")
    second = (await alex.send("Alex")).invite_code
    assert second and second != first
    assert "can't be used" in (await sam.send(f"/pair {first}")).text


@pytest.mark.parametrize("who", ["inviter", "partner"])
async def test_no_invite_is_accepted_with_a_concern_on_either_side(flows: Catalog,
                                                                    who: str) -> None:
    coach = Coach(flows, MemoryStore())
    alex, sam = Chat(coach, "alex"), Chat(coach, "sam")
    await adult(alex)
    await adult(sam)
    code = await invite(alex)
    worried = alex if who == "inviter" else sam
    assert "controlling" in (await worried.send("He tracks my location and reads my texts.")).text
    reply = await sam.send(f"/pair {code}")
    if who == "inviter":
        assert "can't be used" in reply.text
        assert "safety" not in reply.text and "control" not in reply.text
    else:
        assert "I won't set up sharing answers" in reply.text
    assert (await coach.store.load(sam.user.key)).pair is None  # type: ignore[union-attr]


async def test_no_invite_is_made_with_a_concern(flows: Catalog) -> None:
    coach = Coach(flows, MemoryStore())
    alex = Chat(coach, "alex")
    await adult(alex)
    await alex.send("He hit me.")
    reply = await alex.send("/invite")
    assert reply.invite_code is None and "I won't set up sharing" in reply.text


async def test_delete_removes_the_shared_record_and_the_partner_hears_only_that_it_ended(
        flows: Catalog) -> None:
    store = MemoryStore()
    coach = Coach(flows, store)
    alex, sam = await paired(coach)
    pair = (await store.load(sam.user.key)).pair  # type: ignore[union-attr]
    await alex.send("/delete")
    await alex.press("Yes, delete everything")
    assert await store.load(pair_key(pair or "")) is None
    reply = await sam.send("/menu")
    assert reply.parts[0] == "The pairing ended."
    assert await store.count() == 1  # Sam alone: no record, no invite left behind


async def test_two_partners_at_once_each_keep_their_change(flows: Catalog) -> None:
    """Compare-and-set on the pair record: the second save conflicts, its step runs again on
    the first one's version, and both taps count."""
    store = MemoryStore()
    coach = Coach(flows, store)
    alex, sam = await paired(coach)
    await answer_boundaries(alex, ["a", "b", "c", "d"])
    await answer_boundaries(sam, ["a", "b", "c", "d"])
    saves = []
    original = store.save

    async def slow_save(session):  # both steps read before either saves
        saves.append(session.user_key)
        if session.user_key.startswith("pair:") and len(saves) == 1:
            await other
        await original(session)

    await alex.send("/together")
    await sam.send("/together")
    store.save = slow_save  # type: ignore[method-assign]
    other = asyncio.ensure_future(sam.press("Show us both: boundaries"))
    first = await alex.press("Show us both: boundaries")
    await other
    store.save = original  # type: ignore[method-assign]
    both = "side by side" in first.text or "side by side" in other.result().text
    assert both, "each sees that both have tapped, whoever saved first"
    record = await store.load(pair_key((await store.load(sam.user.key)).pair or ""))  # type: ignore[union-attr]
    shown = record.record["topics"]["boundaries"]  # type: ignore[union-attr]
    assert all(side["shown"] for side in shown.values())


async def test_the_code_is_kept_nowhere_only_its_hash(flows: Catalog) -> None:
    store = MemoryStore()
    coach = Coach(flows, store)
    alex = Chat(coach, "alex")
    await adult(alex)
    code = await invite(alex)
    raw = code.replace("-", "")
    rows = [await store.load(k) for k in list(store._rows)]
    dumped = "".join(r.to_json() for r in rows if r is not None)
    assert code not in dumped and raw not in dumped
    assert "Your code" not in (await alex.send("/resume")).text


async def test_people_apart_never_share(flows: Catalog) -> None:
    coach = Coach(flows, MemoryStore())
    user = UserKey("test", "solo")
    reply = await coach.handle(Incoming(user, text="/unpair"))
    assert "not paired" in reply.text
