"""A grid of coloured squares as a PNG, with the standard library alone (zlib, struct).

Why not Pillow: the picture is a few dozen flat squares, and Pillow would add a dozen
megabytes of native code to every install for it. A PNG of flat colour is a header, one
compressed block of pixel rows and an end marker.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence

Colour = tuple[int, int, int]
SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunk(kind: bytes, body: bytes) -> bytes:
    return (struct.pack(">I", len(body)) + kind + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))


def grid_png(cells: Sequence[Sequence[Colour]], *, cell: int = 28, gap: int = 4,
             background: Colour = (255, 255, 255)) -> bytes:
    """One square per cell, rows top to bottom, with a gap around each."""
    rows, columns = len(cells), max((len(row) for row in cells), default=0)
    width = max(1, columns * (cell + gap) + gap)
    height = max(1, rows * (cell + gap) + gap)
    lines = []
    gap_line = b"\x00" + bytes(background) * width
    for row in cells:
        pixels = bytearray(bytes(background) * gap)
        for colour in row:
            pixels += bytes(colour) * cell + bytes(background) * gap
        pixels += bytes(background) * (width - len(pixels) // 3)
        line = b"\x00" + bytes(pixels)
        lines += [gap_line] * gap + [line] * cell
    lines += [gap_line] * (height - len(lines))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (SIGNATURE + _chunk(b"IHDR", header)
            + _chunk(b"IDAT", zlib.compress(b"".join(lines), 9)) + _chunk(b"IEND", b""))
