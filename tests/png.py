"""Just enough of a PNG decoder (stdlib zlib) to count a screenshot's pixels: 8-bit RGB or RGBA,
not interlaced, which is what Chromium writes."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator

SIGNATURE = b"\x89PNG\r\n\x1a\n"


def pixels(data: bytes) -> tuple[int, int, Iterator[tuple[int, int, int]]]:
    """(width, height, the RGB of each pixel, row by row)."""
    assert data.startswith(SIGNATURE), "not a PNG"
    at, idat, header = len(SIGNATURE), [], b""
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind, body = data[at + 4 : at + 8], data[at + 8 : at + 8 + length]
        at += 12 + length
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and colour in (2, 6) and interlace == 0, f"unsupported PNG: depth {depth}, colour {colour}"
    size = 4 if colour == 6 else 3
    raw = zlib.decompress(b"".join(idat))
    return width, height, _rgb(_unfilter(raw, width * size, height, size), size)


def _unfilter(raw: bytes, stride: int, height: int, size: int) -> Iterator[bytearray]:
    previous = bytearray(stride)
    for row in range(height):
        start = row * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        if kind == 1:  # Sub
            for i in range(size, stride):
                line[i] = (line[i] + line[i - size]) & 0xFF
        elif kind == 2:  # Up
            line = bytearray((a + b) & 0xFF for a, b in zip(line, previous, strict=True))
        elif kind == 3:  # Average
            for i in range(stride):
                left = line[i - size] if i >= size else 0
                line[i] = (line[i] + ((left + previous[i]) >> 1)) & 0xFF
        elif kind == 4:  # Paeth
            for i in range(stride):
                a = line[i - size] if i >= size else 0
                b = previous[i]
                c = previous[i - size] if i >= size else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        yield line
        previous = line


def _rgb(rows: Iterator[bytearray], size: int) -> Iterator[tuple[int, int, int]]:
    for line in rows:
        for i in range(0, len(line), size):
            yield line[i], line[i + 1], line[i + 2]
