"""The answer to `UID FETCH uids (BODY.PEEK[])`, read straight off imaplib's buffered connection.

imaplib reads every response line by line: per message it matches the first line against three or
four patterns, notes it in its trace, reads the literal, reads the closing line and stores both in
its untagged list, ~15 us a message. Here the usual line of this answer (`* 7 FETCH (UID 1234
BODY[] {5678}`, as Dovecot sends it) is recognised in the read buffer before it is taken, and the
literal read after it. Anything else (the command's completion, another client's EXISTS or
EXPUNGE, a FETCH of another shape, a line not yet whole in the buffer) is left to imaplib's own
reader, which stores it as it always does, and is read from imaplib's untagged list at the end.
"""

from __future__ import annotations

import imaplib
import io
import re
from collections.abc import Callable
from typing import Any

_UID = re.compile(rb"\bUID (\d+)")
_BODY_LINE = re.compile(rb"\* \d+ FETCH \(UID (\d+) BODY\[\] \{(\d+)\}\r\n")
_SIZE_LINE = re.compile(rb"\* \d+ FETCH \(UID (\d+) RFC822\.SIZE (\d+)\)\r\n")
_SIZE = re.compile(rb"\bRFC822\.SIZE (\d+)")
_CLOSING = b")\r\n"
_LITERAL_AT_END = re.compile(rb"\{(\d+)\}\r\n$")


def read_bodies(imap: imaplib.IMAP4, tag: bytes) -> tuple[str, list[Any], dict[int, bytes]]:
    """Wait for `UID FETCH uids (BODY.PEEK[])`, sent as `tag`, to complete: (its status, its text,
    UID -> body). Raises imaplib's `abort` (the connection is lost) and `error` (BAD)."""
    bodies: dict[int, bytes] = {}
    status, data = _complete(imap, tag, lambda file: _read_body(imap, file, bodies))
    for index, entry in enumerate(data):
        if not isinstance(entry, tuple):
            continue
        # `* 7 FETCH (UID 1234 BODY[] {5678}` then the literal; a server may put UID after it
        found = _UID.search(entry[0])
        if found is None and index + 1 < len(data) and isinstance(data[index + 1], bytes):
            found = _UID.search(data[index + 1])
        if found is not None:
            bodies[int(found.group(1))] = entry[1]
    return status, data, bodies


def read_sizes(imap: imaplib.IMAP4, tag: bytes) -> tuple[str, list[Any], dict[int, int]]:
    """Wait for `UID FETCH uids (RFC822.SIZE)`, sent as `tag`, to complete: (its status, its text,
    UID -> size). The lines `* 7 FETCH (UID 1234 RFC822.SIZE 5678)` are read off the buffer as many at
    a time as it holds (imaplib: ~7 us each)."""
    sizes: dict[int, int] = {}
    status, data = _complete(imap, tag, lambda file: _read_size_lines(file, sizes))
    for entry in data:
        if isinstance(entry, bytes) and (uid := _UID.search(entry)) and (size := _SIZE.search(entry)):
            sizes[int(uid.group(1))] = int(size.group(1))
    return status, data, sizes


def _complete(
    imap: imaplib.IMAP4, tag: bytes, read_usual: Callable[[io.BufferedReader], bool]
) -> tuple[str, list[Any]]:
    """As imaplib's `_command_complete` for a FETCH, `read_usual` reading the usual answers first,
    while it finds them; (status, what imaplib read: the other answers, else the completion's text)."""
    imap._check_bye()  # type: ignore[attr-defined]
    try:
        file = _buffered_file(imap)
        while (result := imap.tagged_commands[tag]) is None:
            if file is None or not read_usual(file):
                imap._check_bye()  # type: ignore[attr-defined]
                imap._get_response()  # type: ignore[attr-defined]
    except imap.abort as exc:
        raise imap.abort(f"command: FETCH => {exc}") from None
    except imap.error as exc:
        raise imap.error(f"command: FETCH => {exc}") from None
    del imap.tagged_commands[tag]
    imap._check_bye()  # type: ignore[attr-defined]
    status, text = result
    if status == "BAD":
        raise imap.error(f"FETCH command error: {status} {text}")
    # the answers imaplib read (another shape) are in its untagged list, the completion's text too
    return imap._untagged_response(status, text, "FETCH")  # type: ignore[no-any-return, attr-defined]


def _buffered_file(imap: imaplib.IMAP4) -> io.BufferedReader | None:
    """The buffered reader imaplib reads the connection from, when it has one of its own (up to
    Python 3.13: `file`, set when connecting or after STARTTLS); else None, and imaplib reads all."""
    file = vars(imap).get("file")
    return file if isinstance(file, io.BufferedReader) else None


def _read_body(imap: imaplib.IMAP4, file: io.BufferedReader, bodies: dict[int, bytes]) -> bool:
    """Read one `* n FETCH (UID u BODY[] {size}` answer if it is next and its first line is whole in
    the buffer; False (nothing read) otherwise."""
    found = _BODY_LINE.match(file.peek())
    if found is None:
        return False
    file.read(found.end())
    size = int(found.group(2))
    data = file.read(size)
    if len(data) != size:
        raise imap.abort("socket error: EOF")
    if file.peek()[:3] == _CLOSING:
        file.read(3)
    else:  # more items after the body (a FLAGS another client changed): read to the end of the answer
        _skip_rest(imap, file)
    bodies[int(found.group(1))] = data
    return True


def _skip_rest(imap: imaplib.IMAP4, file: io.BufferedReader) -> None:
    """Read the rest of an answer after its body, literals included (as imaplib does), to its end."""
    line = file.readline()
    while True:
        if not line.endswith(b"\r\n"):
            raise imap.abort(f"socket error: unterminated line: {line!r}")
        literal = _LITERAL_AT_END.search(line)
        if literal is None:
            return
        size = int(literal.group(1))
        if len(file.read(size)) != size:
            raise imap.abort("socket error: EOF")
        line = file.readline()


def _read_size_lines(file: io.BufferedReader, sizes: dict[int, int]) -> bool:
    """Read the `* n FETCH (UID u RFC822.SIZE s)` lines whole in the buffer, if one is next."""
    buffer = file.peek()
    at = 0
    while (found := _SIZE_LINE.match(buffer, at)) is not None:
        sizes[int(found.group(1))] = int(found.group(2))
        at = found.end()
    if at:
        file.read(at)
    return at > 0
