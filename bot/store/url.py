"""Pick a store from a URL: `memory`, `sqlite:///path.db`, or a bare path (SQLite)."""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_data_dir

from bot.crypto import load_cipher
from bot.store.base import Store
from bot.store.memory import MemoryStore
from bot.store.sqlite import SQLiteStore


class StoreURLError(ValueError):
    """The store URL names something this build cannot open."""


def default_store_url() -> str:
    return os.environ.get("COACH_STORE") or str(
        Path(user_data_dir("conversation-coach", appauthor=False)) / "coach.db")


def open_store(url: str | None = None) -> Store:
    url = url or default_store_url()
    if url in ("memory", "memory://"):
        return MemoryStore()
    if url.startswith("sqlite://"):
        # sqlite:///relative.db and sqlite:////absolute.db, as SQLAlchemy spells them
        path = url.removeprefix("sqlite://").removeprefix("/")
        if not path:
            raise StoreURLError(f"{url} names no file: write sqlite:///path.db")
        return _sqlite(Path(path).expanduser())
    if "://" in url:
        scheme = url.split("://", 1)[0]
        raise StoreURLError(f"unknown store '{scheme}': use memory, sqlite:///path.db or a path")
    return _sqlite(Path(url).expanduser())


def _sqlite(path: Path) -> SQLiteStore:
    path.parent.mkdir(parents=True, exist_ok=True)
    return SQLiteStore(path, load_cipher(path))
