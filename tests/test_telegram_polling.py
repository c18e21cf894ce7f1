"""Long polling (adapters/telegram/polling.py): a batch handled concurrently but each person's
updates in order, and confirmed to Telegram only once the core has committed them."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.fakes.telegram_api import FakeTelegramAPI
from tests.telegram_harness import ALICE, BOB, WAIT, GatedDisk, Harness, running

pytest_plugins = ["tests.telegram_fixtures"]


async def test_four_answers_sent_at_once_are_handled_in_order(tg: Harness) -> None:
    await tg.boundaries(ALICE)
    await tg.press(ALICE, "Let's start")
    after = len(tg.messages(ALICE))
    for answer in ("first", "second", "third", "fourth"):
        tg.server.push_message(ALICE, answer)

    def summary() -> str:
        return next((m.text for m in tg.messages(ALICE)[after:]
                     if m.text and all(word in m.text for word in ("first", "fourth"))), "")

    await tg.server.wait_until(lambda: bool(summary()))
    # The summary lists the answers in question order: they were handled in arrival order.
    positions = [summary().find(word) for word in ("first", "second", "third", "fourth")]
    assert -1 not in positions and positions == sorted(positions), summary()


async def test_the_offset_moves_past_an_update_only_once_it_is_committed(
        server: FakeTelegramAPI, tmp_path: Path) -> None:
    """PTB's Updater would confirm a batch with its next poll, before handling it: a crash in
    between would lose it. Here the update stays unconfirmed while the core is still saving
    (the store saves only when the test opens its gate)."""
    store = GatedDisk(tmp_path / "slow-poll.db")
    async with running(server, store) as tg:
        update = server.push_command(BOB, "start")
        await server.wait_until(lambda: update["update_id"] in server.delivered_at)
        await asyncio.wait_for(store.saving.wait(), WAIT)
        assert update["update_id"] not in server.confirmed_at  # the core is still saving
        assert server.pending_updates == 1
        store.gate.set()
        await server.wait_until(lambda: update["update_id"] in server.confirmed_at, timeout=WAIT)
        saved = await store.load(f"telegram:{BOB}")
        assert saved is not None and str(update["update_id"]) in saved.seen
        await tg.until_keyboard(BOB, 0)
