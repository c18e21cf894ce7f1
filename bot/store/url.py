"""Pick a store from a URL: `memory`, `sqlite:///path.db`, or a bare path (SQLite)."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from urllib.parse import quote

from platformdirs import user_data_dir

from bot.crypto import load_cipher
from bot.store.base import Store, StoreOpenError
from bot.store.memory import MemoryStore
from bot.store.sqlite import SQLiteStore


class StoreURLError(ValueError):
    """The store URL names something this build cannot open."""


def default_store_url() -> str:
    return os.environ.get("COACH_STORE") or str(
        Path(user_data_dir("conversation-coach", appauthor=False)) / "coach.db")


def open_store(url: str | None = None, *, must_exist: bool = False) -> Store:
    """`must_exist`: for commands that work on stored sessions, a file path that names no
    store is a typo to report, not a new empty store to make."""
    url = url or default_store_url()
    if url in ("memory", "memory://"):
        return MemoryStore()
    if url.startswith("sqlite://"):
        # sqlite:///relative.db and sqlite:////absolute.db, as SQLAlchemy spells them
        path = url.removeprefix("sqlite://").removeprefix("/")
        if not path:
            raise StoreURLError(f"{url} names no file: write sqlite:///path.db")
        return _sqlite(Path(path).expanduser(), must_exist)
    if "://" in url:
        scheme = url.split("://", 1)[0]
        raise StoreURLError(f"unknown store '{scheme}': use memory, sqlite:///path.db or a path")
    return _sqlite(Path(url).expanduser(), must_exist)


def _not_a_database(path: Path) -> bool:
    """Whether an existing file is something other than an SQLite database. Asked of SQLite
    (read-only), not read here: closing a descriptor of a database this process already has
    open would drop SQLite's locks on it (see bot/store/sqlite.py)."""
    try:
        conn = sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True)
        try:
            conn.execute("PRAGMA schema_version").fetchone()
        finally:
            conn.close()
    except sqlite3.DatabaseError as error:
        return getattr(error, "sqlite_errorcode", None) == sqlite3.SQLITE_NOTADB
    return False


def _sqlite(path: Path, must_exist: bool) -> SQLiteStore:
    """Problems with the path are found before a key file is written beside it, and are
    reported in one line (StoreOpenError) instead of a traceback."""
    where = f"cannot open the store at {path}"
    if path.is_dir():
        raise StoreOpenError(f"{where}: it is a directory; name a file, e.g. {path / 'coach.db'}")
    if must_exist and not path.is_file():
        raise StoreOpenError(f"{where}: there is no store there (check --store or COACH_STORE)")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_file() and path.stat().st_size and _not_a_database(path):
            raise StoreOpenError(f"{where}: the file exists and is not an SQLite database")
        return SQLiteStore(path, load_cipher(path))
    except (FileExistsError, NotADirectoryError) as error:
        raise StoreOpenError(f"{where}: part of the path is a file, not a folder") from error
    except OSError as error:
        raise StoreOpenError(f"{where}: {error.strerror or error}") from error
    except sqlite3.Error as error:
        raise StoreOpenError(f"{where}: {error}") from error
