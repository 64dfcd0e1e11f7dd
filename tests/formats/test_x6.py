"""X6 bounces: one sentence per rejected recipient with host, command and bracketed reply."""

from __future__ import annotations

from dsnworker.parse import parse_message

DATA = b"""From: mailer-daemon
To: sender@example.org
Subject: There was an error sending your mail

We had trouble delivering your message. Full details follow:

Subject: 'Hello'
Date: 'Thu, 29 Apr 2012 23:34:45 +0000'

1 error(s):

SMTP Server <mx.example.com> rejected recipient <rcpt@example.com> (Error following RCPT command). It
responded as follows: [550 5.1.1 User unknown]

The attachment contains the original mail headers.
"""


def test_sentence_gives_host_recipient_command_and_reply() -> None:
    parsed = parse_message(DATA)
    (rcpt,) = parsed.reports
    assert parsed.format == "x6"
    assert (rcpt.recipient, rcpt.remote_mta, rcpt.command, rcpt.diagnostic) == (
        "rcpt@example.com",
        "mx.example.com",
        "RCPT",
        "550 5.1.1 User unknown",
    )


def test_crlf_copy_parses_the_same() -> None:
    assert parse_message(DATA.replace(b"\n", b"\r\n")).reports[0].recipient == "rcpt@example.com"
