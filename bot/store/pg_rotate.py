"""`coach keys rotate` on PostgreSQL, one batch at a time: re-wrap data keys under the newest
store key, and move rows still sealed with a store key (format 1) to a data key.

Each batch is one transaction that locks its rows, so bots may run meanwhile (they read with
every configured store key, and write with the newest): a save racing a re-wrap still seals
with the same data key, and a bot that had the old wrapped form cached gets a conflict and
reads the key again. Rows are taken in user-key order; a batch says where the next begins
("" when none is left), and a rerun simply finds less to do.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from bot.crypto import Cipher, DataKey
from bot.store.person_keys import PersonKeys

Batch = Callable[[Any, PersonKeys, str, int], Awaitable[tuple[int, str]]]
INSERT_KEY = ("INSERT INTO person_keys (user_key, wrapped, key_id) VALUES ($1, $2, $3) "
              "ON CONFLICT (user_key) DO NOTHING")


def key_id_of(key: DataKey) -> str:
    return Cipher.wrapped_key_id(key.wrapped)


async def rewrap_batch(conn: Any, keys: PersonKeys, after: str, size: int) -> tuple[int, str]:
    """Up to `size` keys wrapped under an older store key, after `after`: re-wrapped."""
    cipher = keys.cipher
    async with conn.transaction():
        rows = await conn.fetch(
            "SELECT user_key, wrapped FROM person_keys WHERE user_key > $1 AND key_id <> $2 "
            "ORDER BY user_key LIMIT $3 FOR UPDATE", after, cipher.key_id, size)
        fresh = [(row["user_key"], cipher.rewrap(row["wrapped"], row["user_key"]))
                 for row in rows]
        await conn.executemany(
            "UPDATE person_keys SET wrapped = $2, key_id = $3 WHERE user_key = $1",
            [(user, wrapped, cipher.key_id) for user, wrapped in fresh if wrapped is not None])
    return len(rows), (rows[-1]["user_key"] if len(rows) == size else "")


async def reseal_batch(conn: Any, keys: PersonKeys, after: str, size: int) -> tuple[int, str]:
    """Up to `size` rows sealed with a store key, after `after`: sealed with their person's
    data key (made now for whoever has none). The rows are locked before the keys, as a
    save does."""
    cipher = keys.cipher
    async with conn.transaction():
        rows = await conn.fetch(
            "SELECT user_key, data FROM sessions WHERE user_key > $1 AND get_byte(data, 0) = 1 "
            "ORDER BY user_key LIMIT $2 FOR UPDATE", after, size)
        users = [row["user_key"] for row in rows]
        stored = {row["user_key"]: row["wrapped"] for row in await conn.fetch(
            "SELECT user_key, wrapped FROM person_keys WHERE user_key = ANY($1) FOR UPDATE",
            users)}
        sealed, made = [], []
        for row in rows:
            user = row["user_key"]
            key = keys.known(user, stored[user]) if user in stored else keys.fresh(user)
            if key.new:
                made.append((user, key.wrapped, key_id_of(key)))
            sealed.append((user, key.seal(cipher.decrypt(bytes(row["data"]), user), user)))
        await conn.executemany(INSERT_KEY, made)
        await conn.executemany("UPDATE sessions SET data = $2 WHERE user_key = $1", sealed)
    return len(rows), (users[-1] if len(rows) == size else "")
