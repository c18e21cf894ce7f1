"""Per-user locks: one person's messages in arrival order, others in parallel, none kept."""

from __future__ import annotations

import asyncio

from bot.locks import KeyedLocks


async def test_one_key_runs_in_arrival_order_and_others_in_parallel() -> None:
    locks = KeyedLocks()
    order: list[str] = []
    first_in = asyncio.Event()
    release = asyncio.Event()

    async def first() -> None:
        async with locks.hold("alice"):
            first_in.set()
            await release.wait()
            order.append("alice 1")

    async def later(key: str, name: str) -> None:
        async with locks.hold(key):
            order.append(name)

    task = asyncio.create_task(first())
    await first_in.wait()
    waiting = [asyncio.create_task(later("alice", f"alice {n}")) for n in (2, 3)]
    await later("bob", "bob")  # not held up by alice
    assert order == ["bob"]
    release.set()
    await asyncio.gather(task, *waiting)
    assert order == ["bob", "alice 1", "alice 2", "alice 3"]
    assert len(locks) == 0, "no lock is kept once nobody holds or waits"


async def test_a_failing_holder_frees_the_lock() -> None:
    locks = KeyedLocks()
    try:
        async with locks.hold("alice"):
            raise ValueError("boom")
    except ValueError:
        pass
    async with locks.hold("alice"):
        assert len(locks) == 1
    assert len(locks) == 0
