"""An in-memory store for tests and benchmarks; keeps copies, so nothing is shared by reference."""

from __future__ import annotations

import time

from bot.session import Session
from bot.store.base import COPIED, NEWER, THERE, Store, VersionConflict, platform_range


class MemoryStore(Store):
    kind = "memory"

    def __init__(self) -> None:
        self._rows: dict[str, Session] = {}

    async def load(self, user_key: str) -> Session | None:
        stored = self._rows.get(user_key)
        return stored.copy() if stored else None

    async def save(self, session: Session) -> None:
        stored = self._rows.get(session.user_key)
        if (stored.version if stored else 0) != session.version:
            raise VersionConflict(session.user_key)
        session.version += 1
        session.updated_at = time.time()
        self._rows[session.user_key] = session.copy()

    async def delete(self, user_key: str) -> bool:
        return self._rows.pop(user_key, None) is not None

    async def purge(self, older_than: float) -> int:
        old = [k for k, stored in self._rows.items() if stored.updated_at < older_than]
        for key in old:
            del self._rows[key]
        return len(old)

    async def count(self) -> int:
        return len(self._rows)

    async def due(self, now: float, platform: str, limit: int) -> list[str]:
        low, high = platform_range(platform)
        found = sorted((stored.due, key) for key, stored in self._rows.items()
                       if stored.due is not None and stored.due <= now and low <= key < high)
        return [key for _, key in found[:limit]]

    async def user_keys(self, after: str | None, limit: int) -> list[str]:
        return sorted(k for k in self._rows if after is None or k > after)[:limit]

    async def import_session(self, session: Session) -> str:
        stored = self._rows.get(session.user_key)
        if stored is not None and stored.version >= session.version:
            return THERE if stored.version == session.version else NEWER
        self._rows[session.user_key] = session.copy()
        return COPIED

    async def ping(self) -> None:
        return None  # nothing to reach: it answers whenever the process does
