"""Where messages come from on the command line: files, folders, mbox files, standard input."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Iterator

from dsnworker.parse.mail import normalise_line_endings

# An mbox separator: a From_ line ("From sender date-with-time-and-year") at the start of the data
# or after an empty line. Requiring the date keeps a sentence starting "From " from splitting a body.
_FROM_LINE = rb"From [^\n]{0,300}?\d{1,2}:\d{2}[^\n]{0,80}\n"
_MBOX_SPLIT = re.compile(rb"^From [^\n]*\n|\n\n" + _FROM_LINE)  # the very first line needs no date
_FIRST_LINE = re.compile(rb"From [^\n]*\n")
_SEPARATOR = re.compile(rb"\n\n" + _FROM_LINE)
_SEPARATOR_MAX = 2 + 5 + 300 + 5 + 80 + 1  # bytes: a separator starting this far from the end is whole
_INDEX_CHUNK = 4 * 1024 * 1024
_UNESCAPE = re.compile(rb"(?m)^>(>*From )")


def iter_messages(paths: list[str], on_error: Callable[[str, OSError], None]) -> Iterator[tuple[str, bytes]]:
    """(source, bytes) for every message under the paths, in a stable order.

    A path that cannot be read is passed to `on_error` and skipped: one bad file never ends a run.
    """
    for path in paths:
        if path == "-":
            yield from split_messages("-", sys.stdin.buffer.read())
            continue
        files = _files_below(path) if os.path.isdir(path) else [path]
        for file in files:
            try:
                # plain, unbuffered open: pathlib and a buffer object each cost a few % of a run
                with open(file, "rb", buffering=0) as handle:
                    data = handle.read()
            except OSError as exc:
                on_error(file, exc)
                continue
            if is_mbox(file, data):
                yield from _mbox_messages(file, data)
            else:
                yield file, data  # one message: no generator of its own


def _files_below(folder: str) -> list[str]:
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found.extend(os.path.join(root, f) for f in sorted(files) if not f.startswith("."))
    return found


def is_mbox(source: str, data: bytes) -> bool:
    """Data that starts with a From_ line is an mbox; a `.eml` file only if it holds two or more."""
    if not data.startswith(b"From "):
        return False
    if not source.lower().endswith(".eml"):
        return True
    data = normalise_line_endings(data)
    # a second message starts after a blank line; without one, no need to scan the whole text
    return b"\n\nFrom " in data and len(_MBOX_SPLIT.findall(data, 0)) >= 2


def split_messages(source: str, data: bytes) -> Iterator[tuple[str, bytes]]:
    """One message, or each message of an mbox as `source#N`."""
    if is_mbox(source, data):
        yield from _mbox_messages(source, data)
    else:
        yield source, data


def index_mbox(fd: int) -> list[tuple[int, int]] | None:
    """The (start, end) byte offsets of each message of the mbox file open as `fd`, its From_ lines
    left out, found by reading it 4 MiB at a time: memory does not follow the file's size.

    The spans are exactly where `iter_messages` splits the same file (`mbox_message` gives the same
    bytes, so the processed-message keys do not change). None for a file this cannot index that way:
    one that does not start with a From_ line, or holds CRs (those are normalised as a whole).
    """
    spans: list[tuple[int, int]] = []
    buffer, base = b"", 0  # buffer holds the file's bytes from offset `base`
    start = position = None
    while True:
        chunk = os.pread(fd, _INDEX_CHUNK, base + len(buffer))
        if b"\r" in chunk:
            return None
        buffer += chunk
        final = not chunk
        if position is None:  # the first From_ line, which needs no date
            first = _FIRST_LINE.match(buffer)
            if first is None:
                if final or len(buffer) > _INDEX_CHUNK:
                    return None
                continue
            start = position = first.end()
        assert start is not None
        limit = len(buffer) if final else len(buffer) - _SEPARATOR_MAX
        for separator in _SEPARATOR.finditer(buffer, position):
            if separator.start() >= limit:
                break
            spans.append((start, base + separator.start()))
            start, position = base + separator.end(), separator.end()
        if final:
            spans.append((start, base + len(buffer)))
            return spans
        keep = max(position, limit)  # what is before it was searched through
        buffer, base, position = buffer[keep:], base + keep, 0


def mbox_message(raw: bytes) -> bytes:
    """One message's bytes as taken from its span in the mbox (`>From ` lines unescaped)."""
    # every escaped line holds ">From ": most messages have none, and find() is 20x cheaper than sub()
    return _UNESCAPE.sub(rb"\1", raw) if b">From " in raw else raw


def _mbox_messages(source: str, data: bytes) -> Iterator[tuple[str, bytes]]:
    data = normalise_line_endings(data)
    separators = list(_MBOX_SPLIT.finditer(data))
    for number, separator in enumerate(separators, 1):
        end = separators[number].start() if number < len(separators) else len(data)
        yield f"{source}#{number}", mbox_message(data[separator.end() : end])
