"""Reading a database file byte for byte (bot/store/raw_file.py): a needle is found wherever it
lies, across the blocks it is read in, through one descriptor per file that is never closed."""

from __future__ import annotations

import os
from pathlib import Path

from bot.store.raw_file import contains, raw_descriptor


def test_a_needle_is_found_across_block_boundaries(tmp_path: Path) -> None:
    path = tmp_path / "data.db"
    path.write_bytes(b"x" * 10 + b"telegram:4242" + b"y" * 10)
    descriptor = raw_descriptor(path)
    for block in (1, 4, 11, 12, 16, 1 << 20):  # the key split at every place
        assert contains(descriptor, [b"telegram:4242"], block=block)
        assert not contains(descriptor, [b"telegram:4243"], block=block)
    assert contains(descriptor, [b"nothing", b"yyy"], block=3)


def test_one_descriptor_per_file_kept_open_for_good(tmp_path: Path) -> None:
    path = tmp_path / "kept.db"
    path.write_bytes(b"first")
    descriptor = raw_descriptor(path)
    assert raw_descriptor(path) == descriptor  # not a second one
    path.write_bytes(b"second, same file")  # written in place: the same inode
    assert contains(descriptor, [b"same file"])
    os.fstat(descriptor)  # still open
