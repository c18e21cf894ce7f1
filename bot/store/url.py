"""Pick a store from a URL: `memory`, `sqlite:///path.db`, a bare path (SQLite), or
`postgresql://user@host:port/db` (also `postgres://`)."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path
from urllib.parse import quote, urlsplit

from platformdirs import user_data_dir

from bot.crypto import Cipher, configured_cipher, load_cipher
from bot.store.base import Store, StoreOpenError
from bot.store.memory import MemoryStore
from bot.store.sqlite import SQLiteStore


class StoreURLError(ValueError):
    """The store URL names something this build cannot open."""


def default_store_url() -> str:
    return os.environ.get("COACH_STORE") or str(
        Path(user_data_dir("conversation-coach", appauthor=False)) / "coach.db")


def open_store(url: str | None = None, *, must_exist: bool = False,
               cipher: Cipher | None = None) -> Store:
    """`must_exist`: for commands that work on stored sessions, a file path that names no
    store is a typo to report, not a new empty store to make. `cipher`: keys given by the
    caller (`coach store copy --dst-key-env`) instead of $COACH_SECRET_KEY or a key file."""
    url = url or default_store_url()
    where = store_place(url)
    if where[0] == "memory":
        return MemoryStore()
    if where[0] == "postgresql":
        return _postgres(url, cipher)
    return _sqlite(Path(where[1]), must_exist, cipher)


def store_place(url: str) -> tuple[str, str]:
    """What a store URL names: ("memory", ""), ("sqlite", path) or ("postgresql", the
    server and database, without user or password), so that two spellings of one store
    can be told apart from two stores. StoreURLError for a URL that names none."""
    if url in ("memory", "memory://"):
        return "memory", ""
    if url.startswith("sqlite://"):
        # sqlite:///relative.db and sqlite:////absolute.db, as SQLAlchemy spells them
        path = url.removeprefix("sqlite://").removeprefix("/")
        if not path:
            raise StoreURLError(f"{url} names no file: write sqlite:///path.db")
        return "sqlite", str(Path(path).expanduser())
    if url.startswith(POSTGRES_SCHEMES):
        check_postgres_url(url)
        parts = urlsplit(url)
        return "postgresql", f"{parts.hostname or parts.query}:{parts.port or 5432}{parts.path}"
    if "://" in url:
        scheme = url.split("://", 1)[0]
        raise StoreURLError(f"unknown store '{scheme}': use memory, sqlite:///path.db, "
                            "postgresql://user@host:port/db or a path")
    return "sqlite", str(Path(url).expanduser())


POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def is_postgres(url: str | None) -> bool:
    return bool(url) and str(url).startswith(POSTGRES_SCHEMES)


def postgres_key_file(url: str) -> Path:
    """Without $COACH_SECRET_KEY, the key of a PostgreSQL store is kept in this machine's
    user data folder, never in the database: named by server and database, so each has its
    own. (Several hosts sharing a database must share the key: set $COACH_SECRET_KEY or
    $COACH_SECRET_KEY_FILE.)"""
    parts = urlsplit(url)
    where = f"{parts.hostname or ''}:{parts.port or 5432}{parts.path}"
    digest = hashlib.sha256(where.encode()).hexdigest()[:16]
    return Path(user_data_dir("conversation-coach", appauthor=False)) / f"postgres-{digest}"


def check_postgres_url(url: str) -> None:
    """StoreURLError for a PostgreSQL URL that cannot name a server (no password shown)."""
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 (raises ValueError for a port that is not a number)
    except ValueError:
        raise StoreURLError("the port in the PostgreSQL URL is not a number: "
                            "postgresql://user@host:port/db") from None
    if not parts.hostname and "host=" not in parts.query:
        raise StoreURLError("a PostgreSQL URL names a host: postgresql://user@host:port/db")


def _postgres(url: str, cipher: Cipher | None = None) -> Store:
    """Problems with the URL are found before a key file is written for it."""
    from bot.store.postgres import PostgresStore  # asyncpg is loaded only for this store

    check_postgres_url(url)
    if cipher is None:
        cipher = configured_cipher()
    if cipher is None:
        key_file = postgres_key_file(url)
        try:
            key_file.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StoreOpenError(f"cannot keep the store key in {key_file.parent}: "
                                 f"{error.strerror or error}") from error
        cipher = load_cipher(key_file)
    return PostgresStore(url, cipher)


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


def _sqlite(path: Path, must_exist: bool, cipher: Cipher | None = None) -> SQLiteStore:
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
        return SQLiteStore(path, cipher or load_cipher(path))
    except (FileExistsError, NotADirectoryError) as error:
        raise StoreOpenError(f"{where}: part of the path is a file, not a folder") from error
    except OSError as error:
        raise StoreOpenError(f"{where}: {error.strerror or error}") from error
    except sqlite3.Error as error:
        raise StoreOpenError(f"{where}: {error}") from error
