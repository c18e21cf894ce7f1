"""The grid picture: a valid PNG of the right size, from the standard library."""

from __future__ import annotations

import struct
import zlib

from bot.checkins.png import grid_png


def test_a_grid_is_a_valid_png_of_its_size() -> None:
    data = grid_png([[(0, 128, 0), (200, 200, 200)], [(255, 0, 0)]], cell=10, gap=2)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert length == 13
    width, height = struct.unpack(">II", data[16:24])
    assert kind == b"IHDR" and (width, height) == (2 * 12 + 2, 2 * 12 + 2)
    start = data.index(b"IDAT") + 4
    size = struct.unpack(">I", data[start - 8:start - 4])[0]
    rows = zlib.decompress(data[start:start + size])
    assert len(rows) == height * (1 + 3 * width)
    assert rows[(1 + 3 * width) * 2 + 1 + 3 * 2:][:3] == bytes((0, 128, 0))
