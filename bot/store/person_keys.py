"""Per-person data keys as a store uses them (see bot/crypto.py): made at a person's first
save, unwrapped when their session is read, and kept unwrapped in a small cache so that a
conversation in progress costs no unwrap per message.

The cache never decides on its own: an entry is used only while the wrapped key stored for
the person is the very one it came from (a rotation re-wraps it, another process may have
erased and remade it), and a save still checks that in the store. /delete and purge drop
entries, so an erased person's key does not linger in memory either.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.crypto import Cipher, DataKey, InvalidToken, person_sealed
from bot.lru import BoundedLRU
from bot.store.base import UnreadableStore

KEYS_CACHED = 4096


def readable(where: str, cipher: Cipher, opening: Callable[..., Any], *args: Any) -> Any:
    """`opening(*args)`, where a value no configured key opens is UnreadableStore: the store
    at `where` cannot be read with these keys (one line, no key and no user key in it)."""
    try:
        return opening(*args)
    except InvalidToken as error:
        raise UnreadableStore(f"{where}: stored sessions cannot be decrypted with the key(s) "
                              f"from {cipher.source}") from error


class PersonKeys:
    def __init__(self, cipher: Cipher, cache_size: int = KEYS_CACHED) -> None:
        self.cipher = cipher
        self._cache: BoundedLRU[str, DataKey] = BoundedLRU(cache_size)

    def cached(self, owner: str) -> DataKey | None:
        return self._cache.get(owner)

    def known(self, owner: str, wrapped: bytes) -> DataKey:
        """The data key stored as `wrapped`: from the cache while it is the same key."""
        wrapped = bytes(wrapped)
        key = self._cache.get(owner)
        if key is None or key.wrapped != wrapped:
            key = self.cipher.unwrap(wrapped, owner)
            self._cache.put(owner, key)
        return key

    def fresh(self, owner: str) -> DataKey:
        """A new key for someone who has none; cached only once it is stored."""
        return self.cipher.new_data_key(owner)

    def stored(self, owner: str, key: DataKey) -> None:
        """`key` is committed as this person's key."""
        key.new = False
        self._cache.put(owner, key)

    def forget(self, owner: str) -> None:
        self._cache.pop(owner)

    def forget_all(self) -> None:
        self._cache.clear()

    def open(self, blob: bytes | str, owner: str, wrapped: bytes | None) -> str | None:
        """The session text of a stored row (format 1 opens with the store key itself);
        None for a row whose data key is gone: it was erased, and nothing in it can be read
        any more (SQLite commits the key file first, so such a row may outlive a crash)."""
        if not person_sealed(blob):
            return self.cipher.decrypt(blob, owner)  # type: ignore[arg-type]
        if wrapped is None:
            return None
        return self.known(owner, wrapped).open(blob, owner)  # type: ignore[arg-type]
