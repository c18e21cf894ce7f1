"""`coach bench --checkins N` (bot/bench_checkins.py): the people it schedules are found by
the store's due index only once their week has come, and asking for due check-ins while
the bench runs sends nothing and stops when told."""

from __future__ import annotations

import asyncio
import time

from bot.app import load_flows
from bot.bench_checkins import ask_for_checkins, schedule_checkins
from bot.pipeline import Coach
from bot.store.memory import MemoryStore


async def test_scheduled_people_are_due_in_a_week_and_never_sent_during_a_run() -> None:
    store = MemoryStore()
    await schedule_checkins(store, 25)
    assert await store.count() == 25
    assert await store.due(time.time(), "bench-checkin", 100) == []
    assert len(await store.due(time.time() + 8 * 86400, "bench-checkin", 100)) == 25
    coach = Coach(load_flows(), store)
    stop, passes = asyncio.Event(), [0]
    asking = asyncio.create_task(ask_for_checkins(coach, stop, passes))
    while passes[0] < 1:
        await asyncio.sleep(0)
    stop.set()
    await asking
    assert passes[0] >= 1
    assert len(await store.due(time.time() + 8 * 86400, "bench-checkin", 100)) == 25
