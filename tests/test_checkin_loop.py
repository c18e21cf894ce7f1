"""The adapters' loop: one pass asks the core and delivers; a failing delivery or pass is
logged and the loop goes on."""

from __future__ import annotations

from adapters.checkin_loop import CheckinLoop, Delivered
from bot.app import load_flows
from bot.messages import Reply, UserKey
from bot.pipeline import Coach
from bot.store.memory import MemoryStore
from tests.checkin_steps import Clock, london, talk_checkin
from tests.conftest import Chat


async def test_a_delivery_that_raises_costs_that_message_only() -> None:
    clock = Clock()
    coach = Coach(load_flows(), MemoryStore(), clock=clock)
    await talk_checkin(Chat(coach, "a"))
    await talk_checkin(Chat(coach, "b"))
    seen: list[str] = []

    async def deliver(user: UserKey, reply: Reply) -> Delivered:
        seen.append(user.user_id)
        if user.user_id == "a":
            raise ConnectionError
        return Delivered.SENT

    loop = CheckinLoop(coach, "test", deliver, interval=3600)
    clock.now = london(11, 18)
    assert await loop.tick() == 1 and sorted(seen) == ["a", "b"]
    assert await loop.tick() == 0, "committed before delivery: not sent again"
    loop.start()
    await loop.stop()
