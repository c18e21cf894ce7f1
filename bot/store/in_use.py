"""Who is using a store file: every process that opens it holds a shared lock on a file beside
it (`<store>.lock`), so `coach keys rotate` with a key file can tell that a coach is running
and refuse, rather than re-encrypt under a key the running coach does not have.

A separate file, locked with flock: closing a descriptor of the database itself would drop
SQLite's own locks (see bot/store/sqlite.py), and flock locks never mix with SQLite's."""

from __future__ import annotations

import os
from pathlib import Path

try:
    import fcntl
except ImportError:  # not POSIX: nothing to coordinate with, every claim succeeds
    fcntl = None  # type: ignore[assignment]


class StoreInUse:
    def __init__(self, store: Path) -> None:
        self.path = store.with_name(store.name + ".lock")
        self._fd: int | None = None
        if fcntl is None:
            return
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_SH)

    def alone(self) -> bool:
        """Whether no other process (or store object) has this store open; if so, it stays
        so until release() (others wait at open)."""
        if fcntl is None or self._fd is None:
            return True
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def release(self) -> None:
        """Let go; the last one out removes the file, so a closed store leaves nothing beside
        it. (One opening at that very moment may lock the removed file; it only loses the
        ability to make a later rotation wait for it.)"""
        if self._fd is None:
            return
        if fcntl is not None and self.alone():
            self.path.unlink(missing_ok=True)
        os.close(self._fd)  # drops the lock
        self._fd = None
