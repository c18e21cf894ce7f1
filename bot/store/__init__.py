"""Session stores: one small interface; in memory, SQLite and PostgreSQL implementations."""

from bot.store.base import Store, VersionConflict
from bot.store.url import open_store

__all__ = ["Store", "VersionConflict", "open_store"]
