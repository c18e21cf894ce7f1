"""`coach bench --checkins N`: the cost of check-ins on every message, measured beside it.

N people get a weekly check-in a week from now (so none is sent during the run), stored
through the store as the core would, and the core is asked for due check-ins every
CHECKIN_PASS_S seconds while the bench runs, as the adapters' loops do (every 30 s), so the
figures with and without can be compared.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from bot.pipeline import Coach
from bot.session import Session
from bot.store.base import Store

CHECKIN_PASS_S = 1.0  # the bench asks for due check-ins this often (the adapters: every 30 s)
PLATFORMS = ("bench", "paced", "bench-checkin")


async def schedule_checkins(store: Store, count: int) -> None:
    """`count` people with a weekly check-in a week from now, stored through the store."""
    due = time.time() + 7 * 86400
    for n in range(count):
        key = f"bench-checkin:{n}"
        checkins = {"zone": "UTC", "items": {"weekly": {"due": due, "at": "18:00",
                                                        "weekday": 6, "zone": "UTC"}}}
        await store.save(Session(key, "menu", "welcome", checkins=checkins, due=due))


async def ask_for_checkins(coach: Coach, stop: asyncio.Event, passes: list[int]) -> None:
    """What the adapters' loops do, more often: ask the core for due check-ins."""
    while not stop.is_set():
        for platform in PLATFORMS:
            await coach.due_checkins(platform)
        passes[0] += 1
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), CHECKIN_PASS_S)
