"""`coach keys new|rotate`: key handling for the encrypted SQLite store."""

from __future__ import annotations

import asyncio
import os

from bot.crypto import ENV_KEY, key_file_for, load_cipher, new_key, write_key_file
from bot.store.sqlite import SQLiteStore
from bot.store.url import open_store


def run_keys(command: str, store_url: str | None) -> int:
    if command == "new":
        print(new_key().decode("ascii"))
        return 0
    store = open_store(store_url)
    if not isinstance(store, SQLiteStore):
        print("coach keys rotate: only the SQLite store is encrypted at rest")
        return 64
    return asyncio.run(_rotate(store))


async def _rotate(store: SQLiteStore) -> int:
    """Key file: add a new key first, re-encrypt every row, then drop the old keys. A crash
    in between leaves every key in the file, so nothing becomes unreadable."""
    try:
        if os.environ.get(ENV_KEY):
            rows = await store.rotate_keys()
            print(f"re-encrypted {rows} session(s) under the first key in ${ENV_KEY}; "
                  "you can now remove the older keys from it")
            return 0
        path = key_file_for(store.path)
        old = load_cipher(store.path).keys
        new = new_key()
        write_key_file(path, [new, *old])
        store.cipher = load_cipher(store.path)
        rows = await store.rotate_keys()
        write_key_file(path, [new])
        print(f"re-encrypted {rows} session(s) under a new key in {path}")
        return 0
    finally:
        await store.close()
