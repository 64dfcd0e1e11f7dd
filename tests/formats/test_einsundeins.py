"""1&1 / GMX bounces: the address alone on a line, then the reason or the remote reply."""

from __future__ import annotations

from dsnworker.parse import parse_message
from tests.formats import reason_of

HEAD = b"""From: "Mail Delivery System" <mailer-daemon@mx.example.de>
To: sender@example.org
Subject: Mail delivery failed: returning message to sender

This message was created automatically by mail delivery software.

A message that you sent could not be delivered to one or more of
its recipients. This is a permanent error. The following address
failed:

"""
TAIL = b"""

--- The header of the original message is following. ---

To: rcpt@example.com
Subject: Hello
"""


def test_remote_reply_with_command_and_host() -> None:
    parsed = parse_message(
        HEAD + b'"rcpt@example.com":\nSMTP error from remote server after RCPT command:\nhost: mx.example.com\n'
        b"5.2.2 <rcpt@example.com>... Mailbox Full\n" + TAIL
    )
    (rcpt,) = parsed.reports
    assert parsed.format == "einsundeins"
    assert (rcpt.recipient, rcpt.status, rcpt.command, rcpt.remote_mta) == (
        "rcpt@example.com",
        "5.2.2",
        "RCPT",
        "mx.example.com",
    )
    assert rcpt.diagnostic == "5.2.2 <rcpt@example.com>... Mailbox Full"


def test_retry_timeout_reason_is_expired() -> None:
    parsed = parse_message(HEAD + b"<rcpt@example.com>\n\nReason:\ndelivery retry timeout exceeded\n" + TAIL)
    assert (reason_of(parsed), parsed.reports[0].diagnostic) == ("expired", "delivery retry timeout exceeded")


def test_size_limit_reason_is_message_too_big() -> None:
    parsed = parse_message(
        HEAD + b"rcpt@example.com\n\nFor the following reason:\n\nMail size limit exceeded. For explanation visit\n"
        b"http://postmaster.example.de/error-messages\n" + TAIL
    )
    assert reason_of(parsed) == "message_too_big"


def test_cr_only_copy_parses_the_same() -> None:
    data = HEAD + b"<rcpt@example.com>\n\nReason:\ndelivery retry timeout exceeded\n" + TAIL
    assert reason_of(parse_message(data.replace(b"\n", b"\r"))) == "expired"
