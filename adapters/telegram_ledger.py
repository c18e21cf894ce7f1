"""What the Telegram adapter has taken from Telegram until its reply is out (ids only)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.config import retention_days
from bot.pipeline import Coach
from bot.store.sqlite import SQLiteStore, connect_private


@dataclass(frozen=True)
class Taken:
    """An update taken from Telegram whose reply has not been sent in full yet."""

    update_id: int
    chat_id: int
    user_id: int
    committed: bool = False  # the core has committed it (Telegram will not send it again)
    query_id: str | None = None  # a button press: answered after a crash while still valid
    at: float = 0.0  # Unix time it was taken (a press's age is at least the time since)


class UpdateLedger:
    """Which updates are between being taken and their reply being sent in full, and the last
    message with buttons in each chat. Ids only, never text.

    This base class keeps nothing across a restart: it serves the memory store, which forgets
    every session at a restart anyway. `SQLiteLedger` keeps it in a file beside the store.
    """

    def recovered(self) -> list[Taken]:
        """What the previous run left: updates taken and not answered in full."""
        return []

    def taken(self, rows: Iterable[Taken]) -> None:
        """Note updates before they are handled; durable when this returns."""

    def committed(self, update_id: int) -> None:
        """The core committed this update; durable after the next `flush`."""

    def sent(self, update_id: int) -> None:
        """Its reply is out (or given up); written soon."""

    def flush(self) -> None:
        """Make everything noted so far durable."""

    def keyboard(self, chat_id: int) -> int | None:
        """The message in this chat that still shows buttons, if known from an earlier run."""
        return None

    def set_keyboard(self, chat_id: int, message_id: int | None) -> None:
        """The message with buttons in this chat now (None: no buttons left)."""

    def close(self) -> None:
        """Write what is left and close."""


UPDATE_ROWS_KEPT_S = 2 * 86400  # Telegram keeps an unconfirmed update for 24 hours


class SQLiteLedger(UpdateLedger):
    """The ledger in an SQLite file beside the store's database (`coach.db.telegram`).

    Writes happen on the event loop, without a thread: each is a small transaction in WAL mode
    with synchronous=NORMAL, which survives the process being killed (the data is in the
    operating system's hands once a transaction commits); only a power cut can lose the last
    ones. Rows: update id, chat id, user id (pseudonymous ids, as in the logs), a button press's
    callback query id (an opaque id Telegram made up), and per chat the id of the message with
    buttons; no text. An update's row is deleted once its reply is out; a chat's keyboard row
    once its buttons are gone or after the store's retention period.
    """

    SCHEMA = """
        CREATE TABLE IF NOT EXISTS taken (
            update_id INTEGER PRIMARY KEY, chat_id INTEGER NOT NULL, user_id INTEGER NOT NULL,
            committed INTEGER NOT NULL DEFAULT 0, at REAL NOT NULL, query_id TEXT);
        CREATE TABLE IF NOT EXISTS keyboards (
            chat_id INTEGER PRIMARY KEY, message_id INTEGER NOT NULL, at REAL NOT NULL);
    """

    def __init__(self, path: Path, keyboard_days: int = 0) -> None:
        self.path = path
        self._db = connect_private(path, synchronous="NORMAL")  # owner-only, -wal too
        self._db.executescript(self.SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(taken)")}
        if "query_id" not in columns:  # a ledger written before presses were kept
            self._db.execute("ALTER TABLE taken ADD COLUMN query_id TEXT")
        now = time.time()
        self._ops: list[tuple[str, tuple[Any, ...]]] = [
            ("DELETE FROM taken WHERE at < ?", (now - UPDATE_ROWS_KEPT_S,))]
        if keyboard_days:
            self._ops.append(("DELETE FROM keyboards WHERE at < ?", (now - keyboard_days * 86400,)))
        self._flush_soon: asyncio.Handle | None = None
        self.flush()

    @classmethod
    def beside(cls, database: Path, keyboard_days: int = 0) -> SQLiteLedger:
        return cls(database.with_name(database.name + ".telegram"), keyboard_days)

    def recovered(self) -> list[Taken]:
        rows = self._db.execute(
            "SELECT update_id, chat_id, user_id, committed, query_id, at FROM taken "
            "ORDER BY update_id")
        return [Taken(u, c, p, bool(done), query, at) for u, c, p, done, query, at in rows]

    def taken(self, rows: Iterable[Taken]) -> None:
        now = time.time()
        self._ops += [("INSERT OR IGNORE INTO taken (update_id, chat_id, user_id, committed, at,"
                       " query_id) VALUES (?, ?, ?, 0, ?, ?)",
                       (row.update_id, row.chat_id, row.user_id, now, row.query_id))
                      for row in rows]
        self.flush()

    def committed(self, update_id: int) -> None:
        self._ops.append(("UPDATE taken SET committed = 1 WHERE update_id = ?", (update_id,)))

    def sent(self, update_id: int) -> None:
        self._ops.append(("DELETE FROM taken WHERE update_id = ?", (update_id,)))
        self._soon()

    def keyboard(self, chat_id: int) -> int | None:
        self.flush()
        row = self._db.execute("SELECT message_id FROM keyboards WHERE chat_id = ?",
                               (chat_id,)).fetchone()
        return None if row is None else int(row[0])

    def set_keyboard(self, chat_id: int, message_id: int | None) -> None:
        if message_id is None:
            self._ops.append(("DELETE FROM keyboards WHERE chat_id = ?", (chat_id,)))
        else:
            self._ops.append(("INSERT OR REPLACE INTO keyboards VALUES (?, ?, ?)",
                              (chat_id, message_id, time.time())))
        self._soon()

    def _soon(self) -> None:
        if self._flush_soon is None:
            self._flush_soon = asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        if self._flush_soon is not None:
            self._flush_soon.cancel()
            self._flush_soon = None
        if not self._ops:
            return
        ops, self._ops = self._ops, []
        db = self._db
        db.execute("BEGIN")
        try:
            for sql, params in ops:
                db.execute(sql, params)
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self._db.close()


def open_ledger(coach: Coach) -> UpdateLedger:
    store = coach.store
    if isinstance(store, SQLiteStore):
        return SQLiteLedger.beside(store.path, retention_days(coach.config))
    return UpdateLedger()
