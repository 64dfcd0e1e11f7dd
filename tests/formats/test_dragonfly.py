"""DragonFly Mail Agent bounces: recipient, remote reply, command and dma's own sentences."""

from __future__ import annotations

from dsnworker.parse import parse_message
from tests.formats import reason_of

HEAD = b"""From: MAILER-DAEMON <>
To: sender@example.org
Subject: Mail delivery failed
Message-Id: <e0720@mx.example.org>
Date: Tue, 11 Jun 2024 18:02:02 +0900

This is the DragonFly Mail Agent v0.13 at mx.example.org.

There was an error delivering your mail to <rcpt@example.com>.

"""
TAIL = b"""
Message headers follow.

Subject: Hello
To: <rcpt@example.com>
From: <sender@example.org>
"""


def parse(error: bytes):
    return parse_message(HEAD + error + TAIL)


def test_multiline_reply_is_joined_with_its_host_and_command() -> None:
    parsed = parse(
        b"mx.example.com [192.0.2.7] did not like our final DATA:\n"
        b"550-5.7.26 Unauthenticated email from example.org is not accepted due to\n"
        b"550 5.7.26 domain's DMARC policy.\n"
    )
    (report,) = parsed.reports
    assert parsed.format == "dragonfly"
    assert report.recipient == "rcpt@example.com"
    assert report.diagnostic == (
        "550 5.7.26 Unauthenticated email from example.org is not accepted due to domain's DMARC policy."
    )
    assert (report.status, report.reply_code, report.command) == ("5.7.26", "550", "DATA")
    assert report.remote_mta == "mx.example.com"
    assert report.reporting_mta == "mx.example.org"


def test_rcpt_rejection_gives_rcpt_command() -> None:
    report = parse(b"mx.example.com [192.0.2.7] did not like our RCPT TO:\n550 5.1.1 <rcpt@example.com>: unknown\n")
    assert report.reports[0].command == "RCPT"


def test_giving_up_is_expired() -> None:
    parsed = parse(b"Could not deliver for the last 432000 seconds. Giving up.\n")
    report = parsed.reports[0]
    assert reason_of(parsed) == "expired"
    assert report.diagnostic == "Could not deliver for the last 432000 seconds. Giving up."


def test_other_messages_are_not_dragonfly() -> None:
    assert parse_message(b"From: a@example.org\nSubject: hi\n\nhello\n").format != "dragonfly"


def test_cr_only_line_endings_parse_the_same() -> None:
    data = HEAD + b"mx.example.com [192.0.2.7] did not like our RCPT TO:\n550 5.1.1 unknown user\n" + TAIL
    report = parse_message(data.replace(b"\n", b"\r")).reports[0]
    assert (report.recipient, report.status, report.command) == ("rcpt@example.com", "5.1.1", "RCPT")
