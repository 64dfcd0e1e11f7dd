"""The parser's shortcuts around compat32 and (?i) regexes give exactly what they replace.

Each shortcut handles the plain shapes itself and hands everything else to the slow path it stands
for; these tests feed both the same awkward inputs (quotes, ';', RFC 2231 '*', backslashes, 8-bit
text, transfer encodings, dotless i and long s) and want identical answers, errors included.
"""

from __future__ import annotations

from email.message import Message

from hypothesis import given, settings
from hypothesis import strategies as st

from dsnworker.parse import mime, returned, rfc3464

CONTENT_TYPE_ATOMS = st.sampled_from(
    [
        "multipart/mixed",
        "text/plain",
        "TEXT/Plain",
        ";",
        " ",
        "\t",
        "\n ",
        '"',
        "=",
        "*",
        "\\",
        "boundary",
        "BOUNDARY ",
        "charset",
        "CharSet",
        "utf-8",
        "<",
        ">",
        "x",
        "'",
        "%41",
        "é",
        "\udce9",
        "boundary*0",
    ]
)
TEXT_ATOMS = st.sampled_from(
    [
        "in reply to RCPT TO",
        "IN REPLY TO end of DATA",
        "ın reply to data",
        "in reply to DATAX",
        "\n",
        "\n> ",
        "-- ",
        "Original Message Follows",
        "thiſ is a copy of the message",
        "the original message",
        "元のメッセージ",
        "x",
        " ",
    ]
)


def _outcome(call):  # type: ignore[no-untyped-def]
    try:
        return ("value", call())
    except Exception as exc:  # noqa: BLE001 - the error itself is part of the behaviour compared
        return ("error", type(exc).__name__)


@settings(max_examples=400, deadline=None)
@given(st.lists(CONTENT_TYPE_ATOMS, min_size=1, max_size=12).map("".join))
def test_content_type_boundary_and_charset_read_like_compat32(value: str) -> None:
    msg = Message()
    msg._headers.append(("Content-Type", value))  # noqa: SLF001 - as a parser stores it
    first = mime._first_value(msg, "content-type")  # noqa: SLF001
    assert _outcome(lambda: mime._content_type(msg, first)) == _outcome(msg.get_content_type)  # noqa: SLF001
    assert _outcome(lambda: mime._boundary(msg, first)) == _outcome(msg.get_boundary)  # noqa: SLF001
    assert _outcome(lambda: mime.content_charset(msg)) == _outcome(msg.get_content_charset)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from([None, "7bit", "8bit", "base64", "BASE64", " base64", "quoted-printable", "x-uue", "b\udce9se64"]),
    st.lists(st.sampled_from(["abc\n", "a\udce9b", "é", "=41=\n", "QUJD\n", "\udcff", ""]), max_size=4).map("".join),
)
def test_payload_bytes_are_compat32s_decoded_payload(encoding: str | None, payload: str) -> None:
    def part() -> Message:
        msg = Message()
        if encoding is not None:
            msg._headers.append(("Content-Transfer-Encoding", encoding))  # noqa: SLF001
        msg._payload = payload  # noqa: SLF001
        return msg

    assert _outcome(lambda: mime.payload_bytes(part())) == _outcome(lambda: part().get_payload(decode=True))


@settings(max_examples=300, deadline=None)
@given(st.lists(TEXT_ATOMS, max_size=10).map("".join))
def test_lowercased_ascii_searches_find_what_the_case_insensitive_ones_find(body: str) -> None:
    marker = returned._QUOTE_MARKERS.search(body)  # noqa: SLF001
    assert returned._quote_end(body) == (marker.end() if marker else None)  # noqa: SLF001
    command = rfc3464._COMMAND_RE.search(body)  # noqa: SLF001
    expected = rfc3464._command(command.group(1)) if command else None  # noqa: SLF001
    assert rfc3464._command_in(body) == expected  # noqa: SLF001
