"""Bytes of one message -> a `Mail` with the decoded views every parser needs.

The MIME layer is the standard library's `email` with the compat32 policy: the fastest parser we
measured that never raises on the broken MIME real bounces contain (flanker's raises on ~2% of
them; `policy.default` is ~6x slower). Well-formed messages take a faster road to the very same
`Message` tree (`mime.split_message`); anything unusual goes through compat32's feed parser.
Everything charset-related is decided here, once. What of the message is read at most is bounded
(`limits`): each `Mail` says in `limits_reached` where it stopped.
"""

from __future__ import annotations

import email
import email.header
import email.message
import re
from collections import deque
from collections.abc import Callable
from email._policybase import compat32
from email.parser import Parser
from functools import lru_cache
from typing import Any, Generic, TypeVar

from dsnworker.parse.limits import (
    CUT_LEAVES,
    CUT_MESSAGE,
    CUT_MIME,
    CUT_STATUS,
    CUT_TEXT,
    MESSAGE_BYTES,
    MIME_LEAVES,
    MIME_OBJECTS,
    STATUS_CHARS,
    TEXT_CHARS,
)
from dsnworker.parse.mime import CTYPE, content_charset, payload_bytes, split_message

Message = email.message.Message
_T = TypeVar("_T")

# Charset labels seen in the wild, mapped to the codec that actually decodes them.
_CHARSET_ALIASES = {
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "windows-31j": "cp932",
    "ms_kanji": "cp932",
    "iso-2022-jp": "iso2022_jp_ext",
    "iso-2022-jp-2": "iso2022_jp_2",
    "euc-jp": "euc_jp",
    "x-euc-jp": "euc_jp",
    "ks_c_5601-1987": "cp949",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "us-ascii": "utf-8",  # 8-bit text labelled ASCII is common; UTF-8 is the better first guess
    "ascii": "utf-8",
    "unknown-8bit": "utf-8",
    "x-unknown": "utf-8",
}
_COMPAT32 = Parser()  # compat32 is its default policy: email.policy (~4 ms of imports) is not needed
_SURROGATE = re.compile("[\udc80-\udcff]")
_FALLBACK_CODECS = ("utf-8", "cp932", "euc_jp")
# Mail text is ASCII-compatible: a codec that does not read these characters as themselves (UTF-16,
# EBCDIC, punycode, unicode_escape, ...) only turns a readable bounce into noise, without an error.
_ASCII_PROBE = "Final-Recipient: rfc822; <kim@example.jp> 550 5.1.1 (x_y=z) !#$%&*?[]{}|^`'\"\\n\\u0041\n"
_LONGEST_CHARSET = 64  # IANA's longest name has 45 characters; a longer label is no charset


def decode_bytes(data: bytes, charset: str | None = None) -> str:
    """Decode text of unknown or mislabelled charset; never raises.

    The label is used when it names an ASCII-compatible text codec that decodes the bytes; else
    (unknown, `undefined`, UTF-16, a NUL in the name, ...) the text is decoded as if unlabelled.
    """
    if b"\x1b" in data and (b"\x1b$" in data or b"\x1b(" in data):  # JIS escapes: ISO-2022-JP whatever the label says
        try:
            return data.decode("iso2022_jp_ext")
        except (UnicodeDecodeError, LookupError):
            pass
    if charset:
        name = charset.strip().strip('"').lower()
        name = _CHARSET_ALIASES.get(name, name)
        if _usable_codec(name):
            try:
                return data.decode(name)
            except (UnicodeError, LookupError):  # UnicodeError: also what some codecs raise for any input
                pass
    for name in _FALLBACK_CODECS:
        try:
            return data.decode(name)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


@lru_cache(maxsize=256)  # bounded: hostile messages can name any number of charsets
def _usable_codec(name: str) -> bool:
    """Whether `name` is a codec that reads ASCII text as itself (see `_ASCII_PROBE`)."""
    if len(name) > _LONGEST_CHARSET or not name.isascii() or not name.isprintable():
        return False
    try:
        return _ASCII_PROBE.encode("ascii").decode(name) == _ASCII_PROBE
    except Exception:  # unknown, not a text codec, or one that refuses everything
        return False


def as_read(text: str) -> bytes:
    """The bytes a text payload was read from (8-bit bytes are surrogate escapes in it).

    Text that also holds real non-ASCII characters (a part built from decoded text) gives those as
    UTF-8 instead of raising, as `encode("ascii", "surrogateescape")` would.
    """
    return text.encode("utf-8", "surrogateescape")


def decode_header(value: str | None) -> str:
    """Decode RFC 2047 words and raw 8-bit bytes in a header value; unfold it."""
    if not value:
        return ""
    if isinstance(value, email.header.Header):
        # compat32 hands back raw 8-bit header text as a Header of charset unknown-8bit, whose str()
        # is U+FFFD for every byte; take its bytes back and decode them like any 8-bit text
        value = _surrogate_text(value)
    elif not isinstance(value, str):
        value = str(value)
    if not value.isascii() and _SURROGATE.search(value):  # raw 8-bit bytes, as surrogates (compat32)
        return " ".join(decode_bytes(value.encode("ascii", "surrogateescape")).split())
    if "=?" not in value:
        return " ".join(value.split())
    try:
        pieces = email.header.decode_header(value)
    except Exception:  # malformed encoded words: keep the text as it is
        return " ".join(value.split())
    out = []
    for chunk, charset in pieces:
        out.append(decode_bytes(chunk, charset) if isinstance(chunk, bytes) else chunk)
    # decode_header drops the whitespace between encoded words and plain text inconsistently
    return " ".join("".join(out).split()) if len(pieces) > 1 else " ".join(out[0].split())


def _surrogate_text(header: email.header.Header) -> str:
    """A compat32 Header as the str the parser read: 8-bit bytes as surrogate escapes."""
    try:
        chunks = email.header.decode_header(header)
    except Exception:
        return str(header)
    return "".join(
        chunk.decode("ascii", "surrogateescape") if isinstance(chunk, bytes) else chunk for chunk, _ in chunks
    )


def normalise_line_endings(data: bytes) -> bytes:
    """CRLF and CR-only both become LF, so every later step sees one convention."""
    if b"\r" not in data:
        return data
    return data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")


def part_text(part: Message) -> str:
    """The decoded text of a leaf part (transfer encoding and charset undone)."""
    try:
        payload = payload_bytes(part)
    except Exception:
        payload = None
    if payload is None:
        raw = part._payload  # noqa: SLF001 - not get_payload(): it raises on charsets like `undefined`
        if isinstance(raw, list):  # message/* parts the parser split into header blocks
            return decode_bytes(_blocks_bytes(raw), _safe_charset(part))
        if isinstance(raw, str):
            return decode_bytes(as_read(raw), _safe_charset(part))
        return ""
    if not isinstance(payload, bytes):
        return ""
    text = decode_bytes(payload[:MESSAGE_BYTES], _safe_charset(part))
    # base64 carries text in its canonical CRLF form (RFC 2045): give it the LF of everything else
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


def raw_payload(part: Message) -> str | None:
    """A part's text payload as read (8-bit bytes kept as surrogate escapes); None for a list of parts.

    compat32's `get_payload()` decodes 8-bit text itself, with U+FFFD for every byte its charset
    does not fit, and raises where that charset is unusable (a NUL in its name): readers that
    decide the charset themselves (`decode_bytes`) take the payload from here instead.
    """
    payload = part._payload  # noqa: SLF001
    return payload if isinstance(payload, str) else None


def payload_text(part: Message) -> str | None:
    """`get_payload()` of a part whose payload is text (None for a list of parts), its 8-bit bytes
    decoded by `decode_bytes` (label, else a guess) instead of compat32's U+FFFD or exception."""
    payload = raw_payload(part)
    if payload is None or payload.isascii():
        return payload  # ASCII: what get_payload() returns
    return decode_bytes(as_read(payload), _safe_charset(part))


def _safe_charset(part: Message) -> str | None:
    try:
        return content_charset(part)
    except Exception:
        return None


def content_type(part: Message) -> str:
    known = part.__dict__.get(CTYPE)
    if known is not None:
        return known  # type: ignore[no-any-return]
    try:
        ctype = part.get_content_type()
    except Exception:
        return "text/plain"
    # "text/plain\n charset=..." (a parameter folded without ';') comes back whole: keep the type
    return ctype.split(None, 1)[0] if " " in ctype or "\n" in ctype or "\t" in ctype else ctype


def _blocks_bytes(blocks: list[Message | str]) -> bytes:
    """The header blocks of a message/* part as the bytes they were read from, blank-line separated.

    Raw 8-bit text (a message/global-delivery-status in UTF-8) must come back as bytes: compat32's
    str views of it are U+FFFD per byte (`Header` objects, `get_payload()`).
    """
    texts = []
    for sub in blocks:
        if not isinstance(sub, Message):
            continue
        lines = [f"{name}: {_raw_text(sub, name, value)}" for name, value in sub._headers]  # noqa: SLF001
        try:  # no transfer encoding here: the raw bytes as read
            body = b"" if sub._payload == "" else sub.get_payload(decode=True)  # noqa: SLF001
        except Exception:
            body = None
        text = "\n".join(lines)
        if isinstance(body, bytes) and body.strip():  # a body followed a blank line: keep it apart
            text += "\n\n" + body.decode("ascii", "surrogateescape")
        texts.append(text)
    return "\n\n".join(texts).encode("utf-8", "surrogateescape")


def _raw_text(msg: Message, name: str, value: str) -> str:
    """A header value as read: compat32 hands 8-bit text back as a Header, made text again here."""
    if isinstance(value, str) and value.isascii():
        return value  # what compat32 would hand back unchanged
    fetched = msg.policy.header_fetch_parse(name, value)
    return _surrogate_text(fetched) if isinstance(fetched, email.header.Header) else fetched  # type: ignore[no-any-return]


class cached_view(Generic[_T]):  # noqa: N801 - used like functools.cached_property
    """functools.cached_property without its lock: Python 3.11's takes an RLock on every first read.

    A Mail belongs to one thread; the value is stored in the instance's __dict__, where later reads
    find it without calling this descriptor again.
    """

    def __init__(self, func: Callable[[Any], _T]) -> None:
        self.func = func
        self.name = func.__name__
        self.__doc__ = func.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, instance: object, owner: type | None = None) -> _T:
        if instance is None:
            return self  # type: ignore[return-value]
        value = instance.__dict__[self.name] = self.func(instance)
        return value


class _TooManyObjects(Exception):
    """compat32 was about to build more than `MIME_OBJECTS` messages for one message."""


def _compat32(text: str) -> Message:
    """compat32's tree of the text, which may hold at most `MIME_OBJECTS` messages.

    compat32 builds a Message per part and per field group of a delivery-status part: a hostile
    part of millions of blank lines took it minutes and gigabytes. Past the bound it stops.
    """
    built = 0

    def counted(policy: object = compat32) -> Message:
        nonlocal built
        built += 1
        if built > MIME_OBJECTS + 1:  # + 1: FeedParser calls it once more, to learn its signature
            raise _TooManyObjects
        return Message(policy)  # type: ignore[arg-type]

    return Parser(counted).parsestr(text)


def _headers_only(text: str) -> Message:
    """The header fields of a message whose structure is not read, the rest as one text payload."""
    try:
        return _COMPAT32.parsestr(text, headersonly=True)
    except Exception:
        msg = Message()
        msg.set_payload(text)
        return msg


class Mail:
    """One parsed message with cached, decoded views; building one never raises."""

    def __init__(self, data: bytes) -> None:
        # the limits (`limits.CUT_*`) where reading this message stopped: its outcome says them
        self.limits_reached: set[str] = set()
        # what raised while the message was split (a bug, ours or the standard library's): said by
        # parse_message like a format parser's exception
        self.failures: list[tuple[str, Exception]] = []
        if len(data) > MESSAGE_BYTES:
            self.limits_reached.add(CUT_MESSAGE)
        self.raw = normalise_line_endings(data[:MESSAGE_BYTES])
        self.memo: dict[str, object] = {}  # results that parsers share, computed once per message
        self._decoded: dict[str, str] = {}  # top-level header values by lower-case name, once decoded
        text = self.raw.decode("ascii", "surrogateescape")  # what message_from_bytes does first
        try:
            self.msg: Message = split_message(text, self.limits_reached) or _compat32(text)
        except (_TooManyObjects, RecursionError):  # the headers, and the rest as text: still readable
            self.limits_reached.add(CUT_MIME)
            self.msg = _headers_only(text)
        except Exception as exc:  # compat32 practically never raises: said, and the message still read
            self.failures.append(("MIME", exc))
            self.msg = _headers_only(text)

    def header(self, name: str, msg: Message | None = None) -> str:
        """The first `name` header, decoded and unfolded ("" when absent); of `msg` if given."""
        if msg is not None and msg is not self.msg:
            try:
                value = msg.get(name)
            except Exception:
                return ""
            return decode_header(value) if value is not None else ""
        key = name.lower()
        decoded = self._decoded.get(key)
        if decoded is None:
            value = self._header_index.get(key)
            decoded = self._decoded[key] = self._fetch(name, value) if value is not None else ""
        return decoded

    def headers(self, name: str) -> list[str]:
        key = name.lower()
        return [self._fetch(name, value) for field, value in self.msg._headers if field.lower() == key]  # noqa: SLF001

    @cached_view
    def _header_index(self) -> dict[str, str]:
        """The first raw value of each top-level header, by lower-case name (Message.get scans them all)."""
        # the last value written wins: reversed, the first of each name is written last
        return {field.lower(): value for field, value in reversed(self.msg._headers)}  # noqa: SLF001

    def _fetch(self, name: str, value: str) -> str:
        try:
            # an ASCII value is what compat32 would hand back unchanged
            return decode_header(value if value.isascii() else self.msg.policy.header_fetch_parse(name, value))
        except Exception:
            return ""

    @cached_view
    def subject(self) -> str:
        return self.header("Subject")

    @cached_view
    def from_(self) -> str:
        return self.header("From")

    @cached_view
    def content_type(self) -> str:
        return content_type(self.msg)

    @cached_view
    def leaves(self) -> list[tuple[str, Message]]:
        """(content type, part) for every leaf part, not descending into attached messages."""
        found: list[tuple[str, Message]] = []
        stack: deque[Message] = deque([self.msg])
        while stack:
            if len(found) >= MIME_LEAVES:
                self.limits_reached.add(CUT_LEAVES)
                break
            part = stack.popleft()
            ctype = content_type(part)
            if ctype.startswith("multipart/"):
                # not get_payload(): for a multipart whose boundary is lost it decodes the text, and
                # can raise on the charset, only to be told it is no list of parts
                payload = part._payload  # noqa: SLF001
                if isinstance(payload, list):
                    stack.extendleft(reversed([p for p in payload if isinstance(p, Message)]))
                    continue
            found.append((ctype, part))
        return found

    def parts_of_type(self, *ctypes: str) -> list[Message]:
        return [part for ctype, part in self.leaves if ctype in ctypes]

    @cached_view
    def delivery_status(self) -> str | None:
        """The text of the message/delivery-status part (or its RFC 6533 global form), if any.

        Of several such parts, the first with per-recipient fields: some MTAs put prose, or
        nothing, in a first one.
        """
        parts = self.parts_of_type("message/delivery-status", "message/global-delivery-status")
        if len(parts) < 2:
            return _status_text(parts[0], self.limits_reached) if parts else None
        texts = [_status_text(part, self.limits_reached) for part in parts]
        return next((text for text in texts if _RECIPIENT_FIELD.search(text)), texts[0])

    @cached_view
    def body_text(self) -> str:
        """The human-readable text of the message (at most `TEXT_CHARS` of it)."""
        text = self._text()
        if len(text) > TEXT_CHARS:
            self.limits_reached.add(CUT_TEXT)
            return text[:TEXT_CHARS]
        return text

    def _text(self) -> str:
        """text/plain parts, else text/html stripped, else the raw text of what could not be split."""
        plain = [part_text(p) for ctype, p in self.leaves if ctype == "text/plain"]
        if any(t.strip() for t in plain):
            return "\n".join(plain)
        html = [part_text(p) for ctype, p in self.leaves if ctype == "text/html"]
        if html:
            return strip_html("\n".join(html))
        if self.content_type.startswith("text/") or not self.leaves:
            return part_text(self.msg)
        # a multipart whose boundary never occurs has no parts: its raw text is all there is
        raw = [payload_text(p) for ctype, p in self.leaves if ctype.startswith(("multipart/", "text/"))]
        return "\n".join(dict.fromkeys(text for text in [*raw, payload_text(self.msg)] if isinstance(text, str)))

    @cached_view
    def returned(self) -> Message | None:
        """The returned original message (or its headers) as a Message, if the bounce carries it."""
        for ctype, part in self.leaves:
            if ctype in ("message/rfc822", "message/global"):
                payload = part._payload  # noqa: SLF001 - not get_payload(): it raises on odd charsets
                if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                    return payload[0]
                if isinstance(payload, str):
                    return _headers_message(payload)
            if ctype in ("text/rfc822-headers", "message/rfc822-headers", "message/global-headers"):
                return _headers_message(part_text(part))
        return None


_RECIPIENT_FIELD = re.compile(r"(?im)^[ \t]*(?:final|original|x-actual)-recipient[ \t]*:")


def _status_text(part: Message, cut: set[str]) -> str:
    """The decoded text of a delivery-status part, whether compat32 split it into field blocks or not.

    At most `STATUS_CHARS` of it (the limit is added to `cut` where reached).
    """
    text = _status_part_text(part)
    if len(text) > STATUS_CHARS:
        cut.add(CUT_STATUS)
        return text[:STATUS_CHARS]
    return text


def _status_part_text(part: Message) -> str:
    payload = part._payload  # noqa: SLF001 - not get_payload(): it raises on charsets like `undefined`
    if not isinstance(payload, list):
        return part_text(part)
    raw = _blocks_bytes(payload)
    # str(): compat32 hands an 8-bit value back as a Header (its own get_payload does the same)
    cte = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
    if cte in ("base64", "quoted-printable"):
        holder = Message()
        holder["Content-Transfer-Encoding"] = cte
        holder.set_payload(raw.decode("ascii", "surrogateescape"))
        return part_text(holder)
    return decode_bytes(raw, "utf-8")


def _headers_message(text: str) -> Message:
    text = text.lstrip("\n")
    try:
        return split_message(text) or _COMPAT32.parsestr(text)
    except Exception:
        return Message()


_SCRIPT_OR_STYLE = re.compile(r"(?i)<(script|style)\b")
_CLOSING = {"script": re.compile(r"(?i)</script>"), "style": re.compile(r"(?i)</style>")}
_LINE_TAG = re.compile(r"(?i)<br\s*/?>|</p>|</div>|</tr>|</li>")
_LONGEST_TAG = 2000


def strip_html(html: str) -> str:
    import html as html_lib  # its entity table costs ~1.5 ms to import; few bounces are HTML

    text = _LINE_TAG.sub("\n", _without_scripts(html))
    return html_lib.unescape(_without_tags(text))


def _without_tags(text: str) -> str:
    """Every `<...>` of at most `_LONGEST_TAG` characters inside made a space, in one pass.

    What `re.sub(r"<[^>]{0,2000}>", " ", text)` did, without reading up to 2000 characters again
    from every '<' of a run (a megabyte of '<' was billions of steps).
    """
    kept: list[str] = []
    at = start = 0
    closing = -1  # the first '>' at or after the '<' looked at: it only ever moves forward
    while (opening := text.find("<", at)) >= 0:
        if closing < opening:
            closing = text.find(">", opening)
            if closing < 0:
                break
        if closing - opening - 1 > _LONGEST_TAG:
            at = opening + 1  # too far for this '<': the next one may be near enough
            continue
        kept.append(text[start:opening])
        kept.append(" ")
        at = start = closing + 1
    kept.append(text[start:])
    return "".join(kept)


def _without_scripts(html: str) -> str:
    """The HTML without its <script> and <style> elements (an unclosed one stays), in one pass.

    A regex `<(script|style)\b.*?</\1>` reads to the end of the text from every unclosed opening;
    here a closing tag found missing once is not looked for again.
    """
    kept: list[str] = []
    at = start = 0
    unclosed: set[str] = set()
    while (opening := _SCRIPT_OR_STYLE.search(html, at)) is not None:
        name = "script" if len(opening.group(1)) == 6 else "style"  # (?i) also reads 'ſcript' as script
        close = None if name in unclosed else _CLOSING[name].search(html, opening.end())
        if close is None:
            unclosed.add(name)
            at = opening.end()
            continue
        kept.append(html[start : opening.start()])
        kept.append(" ")
        at = start = close.end()
    kept.append(html[start:])
    return "".join(kept)
