"""Verizon MMS gateway bounces: the error line and the returned message's To."""

from __future__ import annotations

from dsnworker.parse import parse_message
from tests.formats import reason_of

DATA = b"""From: MMSC NDR Administrator <sysadmin@mms.example.com>
To: sender@example.org
Subject: Undeliverable Message

Message could not be delivered to mobile.
Error: No valid recipients for this MM


Original Message:
From: Sender <sender@example.org>
To: 5550100@mms.example.com
Subject: Hello
"""


def test_error_line_and_original_to() -> None:
    parsed = parse_message(DATA)
    (rcpt,) = parsed.reports
    assert parsed.format == "verizon"
    assert (rcpt.recipient, rcpt.diagnostic) == ("5550100@mms.example.com", "No valid recipients for this MM")


def test_no_valid_recipients_is_user_unknown() -> None:
    assert reason_of(parse_message(DATA)) == "user_unknown"


def test_cr_only_copy_parses_the_same() -> None:
    assert reason_of(parse_message(DATA.replace(b"\n", b"\r"))) == "user_unknown"
