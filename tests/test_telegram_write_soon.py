"""Background writes of a ledger's notes (adapters/telegram/write_soon.py)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from adapters.telegram.write_soon import WriteSoon


async def test_many_notes_one_write_once_the_loop_is_free() -> None:
    writes: list[int] = []
    writer = WriteSoon(lambda: _append(writes))
    for _ in range(5):
        writer.soon()
    assert writes == []  # not before the loop is free
    await asyncio.sleep(0)  # the loop runs what was scheduled
    await writer.settle()
    assert writes == [1]


async def test_cancelled_when_the_caller_writes_itself() -> None:
    writes: list[int] = []
    writer = WriteSoon(lambda: _append(writes))
    writer.soon()
    writer.cancel()
    await asyncio.sleep(0)
    await writer.settle()
    assert writes == []


async def test_a_failed_background_write_is_logged_not_raised(
        caplog: pytest.LogCaptureFixture) -> None:
    async def fail() -> None:
        raise OSError("disk gone")

    writer = WriteSoon(fail)
    writer.soon()
    await asyncio.sleep(0)
    with caplog.at_level(logging.ERROR, logger="coach.telegram"):
        await writer.settle()
    assert [r.getMessage() for r in caplog.records] == [
        "event=ledger_write_failed error=OSError"]


async def _append(writes: list[int]) -> None:
    writes.append(len(writes) + 1)
