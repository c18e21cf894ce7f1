"""The files of an SQLite store: owner-only from the moment they exist, opened by SQLite
alone, read byte for byte (to check an erased row left no copy) through descriptors that are
never closed, and the columns a file made by an older coach lacks.

Why apart from bot/store/sqlite.py: these are about files and locks on them, not about
sessions; the Telegram ledger opens its own database with `connect_private` too.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

# A file made before check-ins has no due_at: it is added (NULL: nothing due) on opening.
DUE_COLUMN = "ALTER TABLE sessions ADD COLUMN due_at REAL"
DUE_INDEX = ("CREATE INDEX IF NOT EXISTS sessions_due ON sessions(due_at) "
             "WHERE due_at IS NOT NULL")


def ensure_due_column(conn: sqlite3.Connection) -> None:
    columns = {row[1] for row in conn.execute("PRAGMA table_info(sessions)")}
    if "due_at" not in columns:
        conn.execute(DUE_COLUMN)
    conn.execute(DUE_INDEX)



OWNER_ONLY = 0o600
# The database and the files SQLite keeps beside it. The WAL holds recent rows (user keys,
# sealed answers) until a checkpoint, and the -shm its index: all are as private as the .db.
COMPANIONS = ("-wal", "-shm", "-journal")


def _owner_only(path: Path) -> None:
    """Take the database and every file SQLite keeps beside it down to owner-only (an
    older build left them 0644). By name (stat, chmod): no descriptor is opened."""
    for file in (path, *(Path(f"{path}{suffix}") for suffix in COMPANIONS)):
        try:
            if file.stat().st_mode & 0o777 != OWNER_ONLY:
                os.chmod(file, OWNER_ONLY)
        except FileNotFoundError:
            pass


def connect_private(path: Path, synchronous: str = "FULL",
                    busy_timeout_ms: int = 10000) -> sqlite3.Connection:
    """A WAL-mode connection whose files are all owner-only from the moment they exist.

    SQLite makes a new database file under the umask, and gives a new -wal or -shm file the
    mode of the database file. So files an older build left readable are chmod-ed first, and
    the connection is opened under a umask that keeps anything made here owner-only. (The
    umask is process-wide; it is changed only for these few synchronous calls, made when a
    store is opened.) The file is never opened here other than by SQLite: closing such a
    descriptor would drop the locks of this process's other connections to it (see the
    module docstring)."""
    if synchronous not in ("FULL", "NORMAL"):
        raise ValueError(f"synchronous must be FULL or NORMAL, not {synchronous!r}")
    previous = os.umask(0o077)
    try:
        _owner_only(path)
        conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        try:
            conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={synchronous}")
            conn.execute("PRAGMA secure_delete=ON")
            conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()  # opens -wal, -shm
        except BaseException:
            conn.close()
            raise
    finally:
        os.umask(previous)
    _owner_only(path)
    return conn


# Descriptors through which this process reads database files byte for byte (to check that
# an erased row left no copy), one per file (device, inode). They are never closed, on
# purpose: closing any descriptor of a file drops every POSIX lock this process holds on it,
# SQLite's included, and some connection of this process may always have the file open.
_RAW_DESCRIPTORS: dict[tuple[int, int], int] = {}
_RAW_DESCRIPTORS_LOCK = threading.Lock()


def raw_descriptor(path: Path) -> int:
    """A read-only descriptor of the database file at `path`, kept open for good."""
    status = os.stat(path)
    with _RAW_DESCRIPTORS_LOCK:
        descriptor = _RAW_DESCRIPTORS.get((status.st_dev, status.st_ino))
        if descriptor is None:
            descriptor = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            opened = os.fstat(descriptor)
            # Had the file been replaced in between, this is a second descriptor of a file
            # already listed: it is not closed either.
            _RAW_DESCRIPTORS.setdefault((opened.st_dev, opened.st_ino), descriptor)
    return descriptor


def contains(descriptor: int, needles: list[bytes], block: int = 1 << 20) -> bool:
    """Whether any needle is in the file, read a block at a time with pread. (Not with mmap:
    Python's mmap duplicates the descriptor and closes the duplicate, which drops locks.)"""
    keep = max(len(needle) for needle in needles) - 1
    offset, tail = 0, b""
    while chunk := os.pread(descriptor, block, offset):
        data = tail + chunk
        if any(needle in data for needle in needles):
            return True
        tail = data[max(0, len(data) - keep):] if keep else b""
        offset += len(chunk)
    return False
