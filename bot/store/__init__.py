"""Session stores: one small interface, an in-memory and an SQLite implementation."""

from bot.store.base import Store, VersionConflict
from bot.store.url import open_store

__all__ = ["Store", "VersionConflict", "open_store"]
