"""The ledger of several webhook processes on one PostgreSQL database
(adapters/telegram/shared_ledger.py), on a real server: two SharedLedger objects are two
processes; closing one (its lock let go) is that process dying."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from adapters.telegram.ledger import PollerRunning, Taken
from adapters.telegram.shared_ledger import SharedLedger
from bot.crypto import Cipher, new_key
from bot.store.postgres import PostgresStore

BOT = "123456789"


def row(update_id: int, user: int = 7) -> Taken:
    return Taken(update_id, chat_id=user, user_id=user)


@pytest.fixture
async def processes(pg_url: str):
    """Two processes' stores and ledgers on one database, opened."""
    key = new_key()
    stores = [PostgresStore(pg_url, Cipher([key], "test")) for _ in range(2)]
    ledgers = [SharedLedger(store, BOT) for store in stores]
    for ledger in ledgers:
        await ledger.open()
    yield ledgers
    for ledger, store in zip(ledgers, stores, strict=True):
        await ledger.close()
        await store.close()


async def rows_in(url: str) -> list[tuple[int, bool]]:
    conn = await asyncpg.connect(url)
    try:
        found = await conn.fetch("SELECT update_id, committed FROM telegram_taken "
                                 "WHERE bot_id = $1 ORDER BY update_id", BOT)
        return [(r["update_id"], r["committed"]) for r in found]
    finally:
        await conn.close()


async def test_a_second_delivery_waits_for_the_process_answering_it(processes,
                                                                  pg_url: str) -> None:
    first, second = processes
    assert await first.taken([row(1), row(2, user=8)]) == []
    first.committed(1)
    await first.flush()
    assert await rows_in(pg_url) == [(1, True), (2, False)]
    # a second delivery of 1 to the other process: the first (alive) is answering it
    assert await second.taken([row(1)]) == []
    assert await second.settle(1, timeout=0.05) is False
    waiting = asyncio.create_task(second.settle(1, timeout=60))
    first.sent(1)
    await first.flush()
    assert await waiting is True  # answered: nothing for the second to do
    assert await rows_in(pg_url) == [(2, False)]


async def test_a_second_delivery_of_a_dead_process_update_is_taken_over(processes) -> None:
    first, second = processes
    await first.taken([row(1)])
    first.committed(1)
    await first.flush()
    waiting = asyncio.create_task(second.settle(1, timeout=60))
    await first.close()  # the first dies while the second waits for it
    adopted = await waiting
    assert isinstance(adopted, Taken) and (adopted.update_id, adopted.committed) == (1, True)
    assert await second.settle(1, timeout=0.05) is True  # its own now


async def test_an_update_no_other_process_holds_is_settled_at_once(processes) -> None:
    first, _ = processes
    assert await first.settle(9, timeout=0.05) is True  # no row at all
    await first.taken([row(3)])
    assert await first.settle(3, timeout=0.05) is True  # its own row


async def test_rows_of_a_process_that_died_are_taken_over_once(processes, pg_url: str) -> None:
    first, second = processes
    await first.taken([row(1), row(2, user=8), row(3, user=9)])
    first.committed(1)
    first.committed(2)
    await first.flush()
    assert await second.recovered() == []  # the first is alive: its rows are its own
    await first.close()  # the first process dies
    recovered = await second.recovered()
    assert [(r.update_id, r.user_id, r.committed) for r in recovered] == [(1, 7, True),
                                                                         (2, 8, True)]
    assert await second.recovered() == []  # taken over: nobody takes them twice
    # 3 was not committed: it comes again from Telegram, and is taken by whoever gets it
    [again] = await second.taken([row(3, user=9)])
    assert (again.update_id, again.committed) == (3, False)
    for update_id in (1, 2, 3):
        second.sent(update_id)
    await second.flush()
    assert await rows_in(pg_url) == []


async def test_two_processes_never_both_take_a_dead_ones_rows(pg_url: str) -> None:
    key = new_key()
    stores = [PostgresStore(pg_url, Cipher([key], "test")) for _ in range(4)]
    ledgers = [SharedLedger(store, BOT) for store in stores]
    for ledger in ledgers:
        await ledger.open()
    try:
        dead, *alive = ledgers
        await dead.taken([row(n, user=n) for n in range(1, 41)])
        for n in range(1, 41):
            dead.committed(n)
        await dead.flush()
        await dead.close()
        found = await asyncio.gather(*(ledger.recovered() for ledger in alive))
        ids = [r.update_id for rows in found for r in rows]
        assert sorted(ids) == list(range(1, 41))  # each once, by one of them
    finally:
        for ledger, store in zip(ledgers, stores, strict=True):
            await ledger.close()
            await store.close()


async def test_one_poller_per_bot(processes) -> None:
    first, second = processes
    await first.claim_polling()
    with pytest.raises(PollerRunning, match="only one; to run several processes"):
        await second.claim_polling()
    await first.close()  # the poller stops: another may poll now
    await second.claim_polling()


async def test_the_last_keyboard_is_known_to_every_process(processes) -> None:
    first, second = processes
    first.set_keyboard(7, 41)
    await first.flush()
    assert await second.keyboard(7) == 41
    second.set_keyboard(7, None)
    await second.flush()
    assert await first.keyboard(7) is None


async def test_a_lost_lock_connection_is_taken_again(processes, pg_url: str) -> None:
    first, second = processes
    life = first._life
    conn = await asyncpg.connect(pg_url)
    try:
        await conn.execute("SELECT pg_terminate_backend($1)", life.get_server_pid())
    finally:
        await conn.close()
    async with asyncio.timeout(30):
        while first._life is None or first._life is life:
            await asyncio.sleep(0.01)
    await first.taken([row(5)])
    first.committed(5)
    await first.flush()
    assert await second.recovered() == []  # alive again: nobody takes its rows


def test_a_batch_is_written_in_one_row_order_in_every_process() -> None:
    """Two processes writing overlapping batches lock rows in the same order (no deadlock);
    one row's own notes keep the order they were made in."""
    from adapters.telegram.shared_ledger import _row_order

    noted = [("DELETE FROM telegram_taken WHERE bot_id = $1 AND update_id = $2", (7, 30)),
             ("INSERT INTO telegram_keyboards (bot_id, chat_id) VALUES ($1, $2)", (7, 5)),
             ("UPDATE telegram_taken SET committed = true WHERE bot_id = $1", (7, 12)),
             ("DELETE FROM telegram_keyboards WHERE bot_id = $1 AND chat_id = $2", (7, 5)),
             ("UPDATE telegram_taken SET committed = true WHERE bot_id = $1", (7, 30))]
    ordered = sorted(noted, key=_row_order)
    assert [(_row_order(op), op[0].split()[0]) for op in ordered] == [
        (("telegram_keyboards", 5), "INSERT"), (("telegram_keyboards", 5), "DELETE"),
        (("telegram_taken", 12), "UPDATE"), (("telegram_taken", 30), "DELETE"),
        (("telegram_taken", 30), "UPDATE")]
