"""Mutations of a message's bytes, for the fuzz properties (tests/test_fuzz_corpus.py) and the long
fuzz run (bench/fuzz_parse.py): byte flips, truncation, charset swaps, duplicated headers and
damaged MIME boundaries. Each takes the message and a `random.Random`, so a run can be repeated.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable

# Labels a real or broken mailer may write: unknown, refusing, ASCII-incompatible, not text codecs,
# a NUL inside, absurdly long, empty; and ordinary ones, which must keep working.
ODD_CHARSETS: tuple[bytes, ...] = (
    b"undefined",
    b"idna",
    b"und\x00ef",
    b"utf-16",
    b"utf-32-be",
    b"utf-7",
    b"punycode",
    b"unicode_escape",
    b"cp037",
    b"base64",
    b"rot13",
    b"zlib",
    b"x-unknown",
    b"unknown-8bit",
    b"\xff\xfe",
    b"",
    b'"',
    b"a" * 300,
    b"utf-8",
    b"iso-8859-1",
    b"shift_jis",
    b"iso-2022-jp",
)
_CHARSET = re.compile(rb'(?i)(charset\s*=\s*)("[^"\r\n]*"|[^\s;"]*)')
_CONTENT_TYPE = re.compile(rb"(?im)^content-type:[^\n]*(?:\n[ \t][^\n]*)*")
_HEADER_LINE = re.compile(rb"(?m)^[A-Za-z][\w-]{0,40}:[^\n]*\n")
_BOUNDARY = re.compile(rb'(?i)boundary\s*=\s*"?([^";\r\n]+)"?')

Mutation = Callable[[bytes, random.Random], bytes]


def flip_bytes(data: bytes, rng: random.Random) -> bytes:
    """A few bytes anywhere set to any value (8-bit ones included)."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        if out:
            out[rng.randrange(len(out))] = rng.randrange(256)
    return bytes(out)


def truncate(data: bytes, rng: random.Random) -> bytes:
    """The message cut anywhere, as a broken transfer leaves it."""
    return data[: rng.randint(0, len(data))]


def swap_charsets(data: bytes, rng: random.Random) -> bytes:
    """Each charset parameter of every Content-Type field (top level and parts) given another label,
    and a line of one 8-bit byte put first in each such part that has no transfer encoding, so that
    the label is actually used to decode something.

    Only the labels and the text they govern change: a bounce before is a bounce after.
    """
    data = data.replace(b"\r\n", b"\n")
    out: list[bytes] = []
    at = 0
    for field in _CONTENT_TYPE.finditer(data):
        if not _CHARSET.search(field.group(0)):
            continue
        out.append(data[at : field.start()])
        out.append(_CHARSET.sub(lambda m: m.group(1) + rng.choice(ODD_CHARSETS), field.group(0)))
        at = field.end()
        body = data.find(b"\n\n", at)
        block = data[data.rfind(b"\n\n", 0, field.start()) + 1 : body].lower()
        if body >= 0 and b"base64" not in block and b"quoted-printable" not in block:
            out.append(data[at : body + 2] + b"\xe9\n")
            at = body + 2
    out.append(data[at:])
    return b"".join(out)  # unchanged where no field names a charset


def duplicate_header(data: bytes, rng: random.Random) -> bytes:
    """A header line (of the message or of a part) written twice, or three times."""
    lines = list(_HEADER_LINE.finditer(data))
    if not lines:
        return data
    line = rng.choice(lines)
    return data[: line.end()] + line.group(0) * rng.randint(1, 2) + data[line.end() :]


def damage_boundary(data: bytes, rng: random.Random) -> bytes:
    """A MIME boundary broken: one delimiter line lost or altered, or the parameter itself changed."""
    found = _BOUNDARY.search(data)
    if found is None:
        return data
    boundary = found.group(1)
    delimiters = [m.start() for m in re.finditer(b"\n--" + re.escape(boundary), data)]
    choice = rng.randrange(3)
    if choice == 0 or not delimiters:  # the parameter no longer matches the delimiters
        return data[: found.start(1)] + boundary[:-1] + b"X" + data[found.end(1) :]
    at = rng.choice(delimiters) + 1
    end = at + 2 + len(boundary)
    if choice == 1:  # a delimiter line lost
        return data[:at] + data[end:]
    return data[:at] + b"--" + boundary[: len(boundary) // 2] + data[end:]  # cut short


MUTATIONS: dict[str, Mutation] = {
    "flip_bytes": flip_bytes,
    "truncate": truncate,
    "swap_charsets": swap_charsets,
    "duplicate_header": duplicate_header,
    "damage_boundary": damage_boundary,
}
