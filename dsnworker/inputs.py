"""Where messages come from on the command line: files, folders, mbox files, standard input."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from dsnworker.parse.mail import normalise_line_endings

# An mbox separator: a "From " line at the start or after an empty line (mboxo/mboxrd).
_MBOX_SPLIT = re.compile(rb"(?:^|\n\n)From [^\n]*\n")
_UNESCAPE = re.compile(rb"(?m)^>(>*From )")


def iter_messages(paths: list[str], on_error: Callable[[str, OSError], None]) -> Iterator[tuple[str, bytes]]:
    """(source, bytes) for every message under the paths, in a stable order.

    A path that cannot be read is passed to `on_error` and skipped: one bad file never ends a run.
    """
    for path in paths:
        if path == "-":
            yield from _split("-", sys.stdin.buffer.read())
            continue
        files = _files_below(Path(path)) if os.path.isdir(path) else [Path(path)]
        for file in files:
            try:
                data = file.read_bytes()
            except OSError as exc:
                on_error(str(file), exc)
                continue
            yield from _split(str(file), data)


def _files_below(folder: Path) -> list[Path]:
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found.extend(Path(root) / f for f in sorted(files) if not f.startswith("."))
    return found


def is_mbox(source: str, data: bytes) -> bool:
    """An mbox starts with a From_ line; a `.eml` file that does is still one message."""
    return data.startswith(b"From ") and not source.lower().endswith(".eml")


def _split(source: str, data: bytes) -> Iterator[tuple[str, bytes]]:
    if not is_mbox(source, data):
        yield source, data
        return
    data = normalise_line_endings(data)
    separators = list(_MBOX_SPLIT.finditer(data))
    for number, separator in enumerate(separators, 1):
        end = separators[number].start() if number < len(separators) else len(data)
        yield f"{source}#{number}", _UNESCAPE.sub(rb"\1", data[separator.end() : end])
