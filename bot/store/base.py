"""The store interface: load, compare-and-set save, delete, purge, and who has a check-in
due.

Compare-and-set on `Session.version` is what lets several processes (or a future Redis
store) share sessions without one overwriting another's newer step.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from bot.session import Session


class VersionConflict(Exception):
    """The stored session changed since it was read; reload and try again."""


class StoreClosed(RuntimeError):
    """The store was closed (the program is stopping); nothing more can be written."""


class StoreUnavailable(RuntimeError):
    """The store could not commit (or read) right now: a lock held past the busy timeout,
    a full disk, an I/O error. Nothing of the step was saved; the same message may go
    through when it is sent again."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason  # a short word for logs ("busy", "full", "io"), never user text


def platform_range(platform: str) -> tuple[str, str]:
    """User keys of one platform sort between these two ("telegram:" <= key < "telegram;"):
    a range an index serves, unlike LIKE with a pattern."""
    return f"{platform}:", f"{platform};"


class StoreOpenError(ValueError):
    """The store cannot be opened: a path that cannot be created or is not a database."""


class Store(ABC):
    @abstractmethod
    async def load(self, user_key: str) -> Session | None: ...

    @abstractmethod
    async def save(self, session: Session) -> None:
        """Store `session` if the stored version is still `session.version`, then bump it.

        Raises VersionConflict otherwise. Returns only once the data is durable.
        """

    @abstractmethod
    async def delete(self, user_key: str) -> bool:
        """Erase everything about this user; True if there was anything."""

    @abstractmethod
    async def purge(self, older_than: float) -> int:
        """Erase sessions untouched since `older_than` (a Unix time); how many."""

    @abstractmethod
    async def count(self) -> int: ...

    @abstractmethod
    async def due(self, now: float, platform: str, limit: int) -> list[str]:
        """The user keys of `platform` whose `Session.due` is at or before `now`, earliest
        first, at most `limit`. Only a hint: the core decides on the session itself, under
        the person's lock, and its compare-and-set save is the claim that makes one process
        (of several sharing the store) the one that sends."""

    @asynccontextmanager
    async def person_lock(self, user_key: str) -> AsyncIterator[None]:
        """Held over one message's load and save, so that processes sharing this store
        handle a person's messages one at a time. Nothing here: a store only one process
        uses (memory, SQLite) is serialised by the core's in-process lock alone."""
        yield

    @property
    def folder(self) -> Path | None:
        """The folder this store keeps its files in; None when it keeps none."""
        return None

    async def close(self) -> None:
        return None
