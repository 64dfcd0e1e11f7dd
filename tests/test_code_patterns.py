"""The status and reply code patterns, written to be searched fast, find what their plain forms find."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from dsnworker.parse.text import REPLY_RE, STATUS_RE, find_reply_code, find_status

# the plain forms: a lookbehind or an alternation before the code
PLAIN_STATUS = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.]*\d)")
PLAIN_REPLY = re.compile(r"(?:^|[\s;(\[\"'<>]|(?<![0-9A-Fa-f:]):)([245][0-5]\d)(?:[\s\-,;:)\]]|\.(?!\d)|$)")

# the characters around codes that the boundaries are about
TEXT = st.text(alphabet="2450139 :.;([\"'<>aF-\n\t,)]x", max_size=24)


@settings(max_examples=3000, deadline=None)
@given(TEXT)
def test_status_codes_are_found_where_the_plain_pattern_finds_them(text: str) -> None:
    assert [m.groups() for m in STATUS_RE.finditer(text)] == [m.groups() for m in PLAIN_STATUS.finditer(text)]


@settings(max_examples=3000, deadline=None)
@given(TEXT)
def test_reply_codes_are_found_where_the_plain_pattern_finds_them(text: str) -> None:
    plain = PLAIN_REPLY.search(text)
    found = REPLY_RE.search(text)
    assert (found.group(1) if found else None) == (plain.group(1) if plain else None)


def test_codes_inside_numbers_and_addresses_are_not_codes() -> None:
    assert find_status("host 10.5.1.1 said 5.1.1 user unknown") == "5.1.1"
    assert find_status("version 1.5.1.1") is None
    assert find_reply_code("[203.0.113.225]: 550 no such user") == "550"
    assert find_reply_code("[2001:db8::240] refused") is None
    assert find_reply_code(":550 at the start") == "550"
