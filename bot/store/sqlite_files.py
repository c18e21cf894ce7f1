"""The files of an SQLite store on disk: opened owner-only, and scrubbed after an erasure.

While this process has a connection to a database, the file is opened by SQLite alone:
POSIX record locks belong to the process, and closing any other descriptor of the file
drops SQLite's locks without its knowing. Another process closing the database would then
take itself for the last user, checkpoint, and unlink the -wal this one still writes into:
acknowledged saves would be lost on a `kill -9`. See connect_private and _raw_descriptor.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from pathlib import Path

log = logging.getLogger(__name__)

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


def _raw_descriptor(path: Path) -> int:
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


def _contains(descriptor: int, needles: list[bytes], block: int = 1 << 20) -> bool:
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


def scrub(conn: sqlite3.Connection, file: Path, *, checkpoint: bool, erased: tuple[str, ...],
          vacuum: bool) -> None:
    """After a committed erasure (or a rotation): fold the WAL into the file and truncate it,
    then rebuild the file if a copy of an erased row is still in it, or when asked. Runs in
    the writer's thread, with a busy timeout: it may wait for other processes' readers."""
    if checkpoint or vacuum:
        _checkpoint(conn)
    if vacuum or (erased and left_on_disk(file, erased)):
        # A page split or merge can leave an old copy of a row in the unused part of a
        # page, where secure_delete does not reach; rebuilding the file drops them all.
        # Rare after a /delete (a fraction of a percent), so the cost is paid only then.
        reason = "requested" if vacuum else "erased_row_copy"
        try:
            conn.execute("VACUUM")
            _checkpoint(conn)
        except sqlite3.Error as error:
            log.warning("event=store_vacuum_failed reason=%s error=%s", reason,
                        type(error).__name__)
        else:
            log.info("event=store_vacuum reason=%s", reason)


def _checkpoint(conn: sqlite3.Connection) -> None:
    """Fold the WAL into the database and truncate it: erased rows leave no copy there."""
    busy = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
    if busy:  # another connection is still reading an older snapshot
        log.warning("event=wal_checkpoint_busy")


def left_on_disk(file: Path, user_keys: tuple[str, ...]) -> bool:
    """Whether the bytes of any of these user keys are still in the database or its WAL
    (every copy of a row holds its key); when a file cannot be read, True (rebuild rather
    than guess).

    The database file is read through a descriptor that is never closed (see
    _raw_descriptor). The -wal may be opened and closed like any file: SQLite locks only the
    database file and the -shm. After a full checkpoint it is empty and is not opened."""
    needles = [key.encode("utf-8") for key in user_keys]
    try:
        if _contains(_raw_descriptor(file), needles):
            return True
    except OSError:
        return True
    wal = Path(f"{file}-wal")
    try:
        if wal.stat().st_size == 0:
            return False
        descriptor = os.open(wal, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    except OSError:
        return True
    try:
        return _contains(descriptor, needles)
    except OSError:
        return True
    finally:
        os.close(descriptor)
