"""Reading an SQLite database file byte for byte (to check that an erased row left no copy on
disk) without dropping the locks SQLite holds on it.

Why apart, and why so careful: POSIX record locks belong to the process, and closing any
descriptor of a file drops every lock this process holds on it, SQLite's included (see
bot/store/sqlite.py). So the descriptors opened here are kept for good, one per file, and
the file is read with pread, never through mmap (which duplicates and closes a descriptor).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

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
