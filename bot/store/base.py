"""The store interface: load, compare-and-set save, delete, purge, and who has a check-in
due.

Compare-and-set on `Session.version` is what lets several processes (or a future Redis
store) share sessions without one overwriting another's newer step.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Protocol, TypeVar

from bot.session import Session

T = TypeVar("T")


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


class SharedTables(Protocol):
    """What an adapter may do with the database of a store that several processes share."""

    async def run(self, operation: Callable[[Any, int], Awaitable[T]]) -> T:
        """`operation(connection, attempt)`, tried again on a fresh connection while the
        server is away (StoreUnavailable past the store's retry time)."""
        ...

    async def connect(self) -> Any:
        """A connection of the caller's own, outside the pool (for a lock held while the
        process lives); the caller closes it."""
        ...

    def lost(self, error: BaseException) -> bool:
        """Whether `error` means the server went away (worth trying again), not a bug."""
        ...


class UnreadableStore(RuntimeError):
    """The stored sessions cannot be decrypted with the configured key(s)."""


# What import_session found: the session was written, the same version was already there,
# or the store holds a newer one (left as it is).
COPIED, THERE, NEWER = "copied", "there", "newer"


class Store(ABC):
    kind = "other"  # what the metrics call it: memory, sqlite, postgres

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

    @abstractmethod
    async def user_keys(self, after: str | None, limit: int) -> list[str]:
        """Up to `limit` stored user keys after `after` (None: from the first), in order: a
        page of a walk over every session that rows added or erased meanwhile never break."""

    @abstractmethod
    async def import_session(self, session: Session) -> str:
        """Store a session copied from another store as it is (its version and time kept),
        unless this store holds the same or a newer version of it: COPIED, THERE or NEWER.
        So a copy run again skips or refreshes, and never goes back."""

    @abstractmethod
    async def ping(self) -> None:
        """A cheap query that shows the store answers (for /healthz); raises when it does not
        (StoreUnavailable, StoreClosed). Returns within a few seconds: a health check that
        hangs tells a load balancer nothing."""

    @asynccontextmanager
    async def person_lock(self, user_key: str) -> AsyncIterator[None]:
        """Held over one message's load and save, so that processes sharing this store
        handle a person's messages one at a time. Nothing here: a store only one process
        uses (memory, SQLite) is serialised by the core's in-process lock alone."""
        yield

    def shared_tables(self) -> SharedTables | None:
        """The database, for an adapter's own small tables beside the sessions, when other
        processes use this store at the same time (PostgreSQL): what an adapter notes about
        the updates it takes must then be where they can see it too. None for a store one
        process uses."""
        return None

    @property
    def folder(self) -> Path | None:
        """The folder this store keeps its files in; None when it keeps none."""
        return None

    async def close(self) -> None:
        return None
