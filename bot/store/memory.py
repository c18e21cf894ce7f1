"""An in-memory store for tests and benchmarks; keeps JSON so nothing is shared by reference."""

from __future__ import annotations

import time

from bot.session import Session
from bot.store.base import Store, VersionConflict


class MemoryStore(Store):
    def __init__(self) -> None:
        self._rows: dict[str, tuple[int, float, str]] = {}

    async def load(self, user_key: str) -> Session | None:
        row = self._rows.get(user_key)
        return Session.from_json(row[2]) if row else None

    async def save(self, session: Session) -> None:
        stored = self._rows.get(session.user_key)
        if (stored[0] if stored else 0) != session.version:
            raise VersionConflict(session.user_key)
        session.version += 1
        session.updated_at = time.time()
        self._rows[session.user_key] = (session.version, session.updated_at, session.to_json())

    async def delete(self, user_key: str) -> bool:
        return self._rows.pop(user_key, None) is not None

    async def purge(self, older_than: float) -> int:
        old = [k for k, (_, at, _) in self._rows.items() if at < older_than]
        for key in old:
            del self._rows[key]
        return len(old)

    async def count(self) -> int:
        return len(self._rows)
