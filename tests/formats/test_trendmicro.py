"""InterScan MSS bounces: the quoted "Sent <<< / Received >>>" exchange, or the Reason line."""

from __future__ import annotations

from dsnworker.parse import parse_message

HEAD = b"""From: "InterScan MSS" <postmaster@example.org>
To: sender@example.org
Subject: Mail could not be delivered

****** Message from InterScan Messaging Security Suite ******

"""


def test_refused_rcpt_exchange_gives_recipient_command_and_reply() -> None:
    parsed = parse_message(
        HEAD + b"Sent <<< RCPT TO:<rcpt@example.com>\nReceived >>> 550 5.1.1 <rcpt@example.com>... user unknown\n"
    )
    (rcpt,) = parsed.reports
    assert parsed.format == "trendmicro"
    assert (rcpt.recipient, rcpt.command, rcpt.status, rcpt.diagnostic) == (
        "rcpt@example.com",
        "RCPT",
        "5.1.1",
        "550 5.1.1 <rcpt@example.com>... user unknown",
    )


def test_reason_line_alone_names_the_recipient() -> None:
    data = (
        HEAD
        + b"The following mail could not be delivered.\nReason:  Unable to deliver message to <rcpt@example.com>.\n"
    )
    assert parse_message(data).reports[0].recipient == "rcpt@example.com"


def test_crlf_copy_parses_the_same() -> None:
    data = HEAD + b"Sent <<< RCPT TO:<rcpt@example.com>\nReceived >>> 550 5.1.1 unknown\n"
    assert parse_message(data.replace(b"\n", b"\r\n")).reports[0].command == "RCPT"
