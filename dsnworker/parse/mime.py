"""A fast MIME splitter that builds the same `email.message.Message` trees as compat32, or gives up.

The standard library's feed parser reads a message line by line in Python; it is the floor of our
speed (~6,000 bounces/s here). Well-formed messages, nearly every bounce, can be cut at their
boundaries with `str.find` instead, which is several times faster. It also models compat32's
two common repairs (a line that is no header ends the headers; a multipart without a boundary keeps
its body as text), as bounces cut short or mangled by their MTA need them. Whenever it meets
anything else it does not model exactly (a misplaced "From " line, a field group that is not all
fields, a duplicated boundary, deep nesting), it returns None and the caller falls back to compat32:
the result is compat32's, only faster. `tests/test_mime.py` checks both give the same trees.

Unlike compat32, it builds at most `limits.MIME_OBJECTS` parts, attached messages and field groups,
and reads at most `limits.STATUS_CHARS` of a delivery-status part: past a limit the rest is left
out of the tree, and the limit is added to the caller's `cut` set.

Input is text after `normalise_line_endings` (LF only) decoded as ASCII with surrogateescape, as
`email.message_from_bytes` does.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from email.errors import MissingHeaderBodySeparatorDefect, NoBoundaryInMultipartDefect
from email.message import Message
from email.utils import unquote

from dsnworker.parse.limits import CUT_MIME, CUT_STATUS, MIME_OBJECTS, STATUS_CHARS

# A field as compat32 reads it, at the start of a line: a name of printable characters but ':', the
# colon, the value with its folded continuation lines (kept, newlines and all, as compat32 keeps
# them) but without the blanks after the colon and the final newline, which compat32 strips.
# Possessive: a field that does not end in a newline fails at once, where giving back continuation
# lines only found a shorter field and a gap after it (either way the block is not all fields).
_FIELD = re.compile(r"(?m)^([\041-\071\073-\176]++):[ \t]*+([^\n]*+(?:\n[ \t][^\n]*+)*+)\n")
# A line compat32 takes for a header line (its feedparser.headerRE); any other line ends the headers.
_HEADER_LINE = re.compile(r"From |[\041-\071\073-\176]*:|[\t ]")
_MAX_DEPTH = 12
# str.splitlines, which compat32 uses, also breaks lines at these; the splitter only knows "\n".
_OTHER_LINE_BREAKS = ("\x0b", "\x0c", "\x1c", "\x1d", "\x1e")


# The attribute under which the splitter leaves each part's content type (see mail.content_type).
CTYPE = "_dsnworker_ctype"


class _GiveUp(Exception):
    """The message has a shape this splitter does not reproduce exactly."""


class _Budget:
    """The Message objects the splitter may still build for one message, and the limits it reached."""

    def __init__(self) -> None:
        self.left = MIME_OBJECTS
        self.cut: set[str] = set()

    def take(self, limit: str = CUT_MIME) -> bool:
        """One more object, if any is left; else the limit is noted and the caller leaves the rest out."""
        if self.left <= 0:
            self.cut.add(limit)
            return False
        self.left -= 1
        return True


def split_message(text: str, cut: set[str] | None = None) -> Message | None:
    """The compat32 tree of a message, or None when only the full parser can be trusted with it.

    The limits the tree was cut at (`limits.CUT_*`) are added to `cut`.
    """
    if any(mark in text for mark in _OTHER_LINE_BREAKS):
        return None
    budget = _Budget()
    try:
        tree = _message(text, 0, "text/plain", budget)
    except (_GiveUp, RecursionError):
        return None
    if cut is not None:
        cut |= budget.cut
    return tree


def _message(text: str, depth: int, default_type: str, budget: _Budget) -> Message:
    if depth > _MAX_DEPTH:
        raise _GiveUp
    msg = Message()
    if default_type != "text/plain":
        msg.set_default_type(default_type)
    body = _headers(msg, text)
    value = _first_value(msg, "content-type")
    ctype = _content_type(msg, value)
    msg.__dict__[CTYPE] = ctype  # remembered: readers ask for it many times, Message re-parses it
    maintype = ctype.partition("/")[0]
    if maintype == "multipart":
        _multipart(msg, body, depth, value, budget)
    elif ctype == "message/delivery-status":
        msg.set_payload(_status_blocks(body, budget))
    elif maintype == "message":
        # past the budget the attached message stays text: readers take its headers from that
        msg.set_payload([_message(body, depth + 1, "text/plain", budget)] if budget.take() else body)
    else:
        msg.set_payload(body)
    return msg


def _status_blocks(body: str, budget: _Budget) -> list[Message]:
    """message/delivery-status as compat32 splits it: one headers-only Message per field group.

    At most `STATUS_CHARS` of it, and as many groups as the budget allows: a hostile part of
    millions of blank lines is millions of empty groups, which compat32 builds one object each.
    """
    if len(body) > STATUS_CHARS:
        budget.cut.add(CUT_STATUS)
        body = body[: body.rfind("\n", 0, STATUS_CHARS) + 1]
    lines = body.splitlines(keepends=True)
    blocks: list[Message] = []
    index = 0
    while budget.take():
        start = index
        while index < len(lines) and lines[index] != "\n":
            index += 1
        block = Message()
        _header_lines(block, lines[start:index])
        block.set_payload("")
        blocks.append(block)
        index += 1  # the blank line that ended the group
        if index >= len(lines):
            break
    return blocks


def _headers(msg: Message, text: str) -> str:
    """Parse the header block into `msg` (as compat32 does) and return the body text."""
    if text.startswith("\n"):
        return text[1:]
    end = text.find("\n\n")
    if end >= 0:
        block, body = text[: end + 1], text[end + 2 :]
    elif text.endswith("\n") or not text:
        block, body = text, ""
    else:  # all headers, the last line without its newline, which compat32 strips from the value
        block, body = text + "\n", ""
    fields_end = _header_text(msg, block)
    if fields_end < len(block):
        # a line that is no header line ends the headers without a blank line: compat32 notes the
        # defect and reads the body from that line on (a returned message cut mid-header, a
        # boundary parameter that lost its indentation)
        msg.defects.append(MissingHeaderBodySeparatorDefect())
        return text[fields_end:]
    return body


def _header_lines(msg: Message, block: list[str]) -> None:
    text = "".join(block)
    if _header_text(msg, text) < len(text):
        raise _GiveUp  # a field group that is not all fields: compat32 splits the part elsewhere


def _header_text(msg: Message, block: str) -> int:
    """Store the fields of a header block (every line ending in a newline) as compat32 stores them.

    Returns where they end: the block's length, or the start of the first line compat32 would not
    read as a header line (the body starts there). Any other shape raises `_GiveUp`.
    """
    position = 0
    if block.startswith("From "):
        end = block.find("\n")
        msg.set_unixfrom(block[:end])
        position = end + 1
    # fields start only at line starts, so the block is nothing but fields exactly when nothing
    # is left between them: split gives [gap, name, value, gap, name, value, ..., gap]
    pieces = _FIELD.split(block[position:] if position else block)
    if any(pieces[::3]):
        return _fields_before_body(msg, block, position)
    fields: Iterable[tuple[str, str]] = zip(pieces[1::3], pieces[2::3], strict=True)
    if "\r" in block:  # compat32 strips a value's line ending, CR included
        fields = ((name, value.rstrip("\r")) for name, value in fields)
    msg._headers.extend(fields)  # noqa: SLF001 - what Message.set_raw appends to, in one go
    return len(block)


def _fields_before_body(msg: Message, block: str, position: int) -> int:
    """The fields up to the first line that is no field, which must be no header line either."""
    if "\r" in block:
        raise _GiveUp  # compat32 also breaks lines at a lone CR
    fields = []
    while field := _FIELD.match(block, position):
        fields.append(field.groups())
        position = field.end()
    if _HEADER_LINE.match(block, position):
        raise _GiveUp  # a continuation first, a misplaced "From ", an empty name: compat32's own ways
    msg._headers.extend(fields)  # noqa: SLF001
    return position


def _first_value(msg: Message, name: str) -> str | None:
    """The raw value of the first `name` field (lower case), as Message.get finds it."""
    size = len(name)
    for field, value in msg._headers:  # noqa: SLF001
        # the length first: most fields (Received, DKIM-Signature, ...) are refused without a copy
        if len(field) == size and field.lower() == name:
            return value  # type: ignore[no-any-return]
    return None


def _content_type(msg: Message, value: str | None) -> str:
    """`msg.get_content_type()` given its Content-Type value, without parsing the header again."""
    if value is None:
        return msg.get_default_type()
    if not value.isascii():  # 8-bit text, which compat32 hands back as a Header: let it decide
        return msg.get_content_type()
    ctype = value.partition(";")[0].strip().lower()
    return ctype if ctype.count("/") == 1 else "text/plain"


class _NotPlain(Exception):
    """A Content-Type value whose parameters only compat32 should split."""


def _param(value: str, name: str) -> str | None:
    """`Message.get_param(name)` for a Content-Type value, None when it has no such parameter.

    The plain parameter lists real messages have (ASCII, no RFC 2231 '*', no backslash, quotes
    balanced in every ';'-separated piece) are split here exactly as compat32 splits them, which is
    several times faster; anything else raises `_NotPlain`, for the caller to ask compat32.
    """
    if not value.isascii() or "*" in value or "\\" in value:
        raise _NotPlain
    for piece in value.split(";"):
        if piece.count('"') % 2:
            raise _NotPlain  # a ';' inside quotes: compat32 splits elsewhere
        key, equals, param = piece.partition("=")
        if key.strip().lower() == name:
            return unquote(param.strip()) if equals else ""
    return None


def _boundary(msg: Message, value: str | None) -> str | None:
    """`msg.get_boundary()` given its Content-Type value (get_param, then unquoted once more)."""
    if value is None:
        return None
    try:
        boundary = _param(value, "boundary")
    except _NotPlain:
        return msg.get_boundary()
    return None if boundary is None else unquote(boundary).rstrip()


def content_charset(msg: Message) -> str | None:
    """`msg.get_content_charset()`, without compat32's generic parameter parsing when it can."""
    value = _first_value(msg, "content-type")
    if value is None:
        return None
    try:
        charset = _param(value, "charset") if isinstance(value, str) else _param("*", "")
    except _NotPlain:
        return msg.get_content_charset()  # type: ignore[no-any-return]
    return None if charset is None else charset.lower()


_TRANSFER_ENCODED = ("quoted-printable", "base64", "x-uuencode", "uuencode", "uue", "x-uue")


def payload_bytes(part: Message) -> bytes | None:
    """`part.get_payload(decode=True)`; a payload without transfer encoding is encoded here directly.

    compat32 looks the header up through its policy and encodes the whole payload once more to test
    it for surrogates first; the bytes are the same. Transfer encodings, 8-bit header values and
    text that is not ASCII or surrogate escapes are left to compat32 (errors included).
    """
    payload = part._payload  # noqa: SLF001
    if isinstance(payload, str):
        encoding = _first_value(part, "content-transfer-encoding")
        if encoding is None or (encoding.isascii() and encoding.lower() not in _TRANSFER_ENCODED):
            try:
                return payload.encode("ascii", "surrogateescape")
            except UnicodeEncodeError:
                pass
    return part.get_payload(decode=True)  # type: ignore[no-any-return]


def _multipart(msg: Message, body: str, depth: int, content_type: str | None, budget: _Budget) -> None:
    boundary = _boundary(msg, content_type)
    if boundary is None:  # compat32 notes the defect and keeps the body as the payload
        msg.defects.append(NoBoundaryInMultipartDefect())
        msg.set_payload(body)
        return
    if not boundary:
        raise _GiveUp
    delimiter = "--" + boundary
    starts = _delimiter_lines(body, delimiter)
    if not starts:  # no delimiter at all: compat32 keeps the body as the payload
        msg.set_payload(body)
        msg.epilogue = ""
        return
    closed = starts[-1][1]
    if starts[0][1] or any(close for _, close, _ in starts[:-1]):
        raise _GiveUp  # a close delimiter first, or parts after one
    first = starts[0][0]
    if first > 0:
        msg.preamble = body[: first - 1]  # without the line ending before the delimiter
    parts: list[Message] = []
    part_type = "message/rfc822" if msg.__dict__[CTYPE] == "multipart/digest" else "text/plain"
    # a truncated bounce has no close delimiter: like compat32, its last part runs to the end
    ends: list[int | None] = [start for start, _, _ in starts[1:]] + ([] if closed else [None])
    for (_, _, line_end), end in zip(starts, ends, strict=False):
        if not budget.take():
            break  # the parts after the budget are left out
        if end is None:
            text = body[line_end:]
        elif line_end >= end:
            raise _GiveUp  # two delimiter lines in a row
        else:
            text = body[line_end : end - 1] + "\n"
        part = _message(text, depth + 1, part_type, budget)
        _strip_last_line_ending(part)
        parts.append(part)
    msg.set_payload(parts)
    if closed:
        close_end = starts[-1][2]
        msg.epilogue = body[close_end:] if close_end <= len(body) else ""


def _delimiter_lines(body: str, delimiter: str) -> list[tuple[int, bool, int]]:
    """(start, is_close, end of line) of every line that is exactly a delimiter (compat32's rule)."""
    found = []
    at = 0 if body.startswith(delimiter) else body.find("\n" + delimiter) + 1
    while at > 0 or (at == 0 and body.startswith(delimiter)):
        line_end = body.find("\n", at)
        line = body[at : line_end if line_end >= 0 else len(body)]
        rest = line[len(delimiter) :]
        close = rest.startswith("--")
        if close:
            rest = rest[2:]
        if not rest.strip(" \t"):
            found.append((at, close, line_end + 1 if line_end >= 0 else len(body) + 1))
            if close:
                break
        at = body.find("\n" + delimiter, at + 1) + 1
        if at == 0:
            break
    return found


def _strip_last_line_ending(part: Message) -> None:
    """compat32 gives the line ending before a delimiter to the delimiter, not to the part.

    It trims the message it created last: for an attached message, the innermost one; for a
    delivery-status part, its last field group.
    """
    while _ctype(part).startswith("message/") and isinstance(part._payload, list) and part._payload:  # noqa: SLF001
        part = part._payload[-1]  # noqa: SLF001
    if _ctype(part).startswith("multipart/"):
        epilogue = part.epilogue
        if epilogue == "":
            part.epilogue = None
        elif epilogue is not None and epilogue.endswith("\n"):
            part.epilogue = epilogue[:-1]
        return
    payload = part._payload  # noqa: SLF001 - the same attribute compat32's parser adjusts
    if isinstance(payload, str) and payload.endswith("\n"):
        part._payload = payload[:-1]  # noqa: SLF001


def _ctype(part: Message) -> str:
    return part.__dict__.get(CTYPE, "text/plain")  # type: ignore[no-any-return]  # field groups: text/plain
