"""X3 bounces: "* rcpt" lines and the "SMTP:RCPT host ...: reply" technical details."""

from __future__ import annotations

from dsnworker.parse import parse_message

DATA = b"""From: Mail Delivery System <Mail.Delivery.System@mx.example.org>
To: sender@example.org
Subject: Delivery status notification

============================================================================
      This is an automatically generated Delivery Status Notification.

Delivery to the following recipients failed permanently:

   * rcpt@example.com


============================================================================
                             Technical details:

SMTP:RCPT host 192.0.2.8: 553 5.3.0 <rcpt@example.com>... No such user here


============================================================================
"""


def test_recipient_command_host_and_reply() -> None:
    parsed = parse_message(DATA)
    (rcpt,) = parsed.reports
    assert parsed.format == "x3"
    assert (rcpt.recipient, rcpt.command, rcpt.remote_mta, rcpt.status) == (
        "rcpt@example.com",
        "RCPT",
        "192.0.2.8",
        "5.3.0",
    )
    assert rcpt.diagnostic == "553 5.3.0 <rcpt@example.com>... No such user here"


def test_cr_only_copy_parses_the_same() -> None:
    assert parse_message(DATA.replace(b"\n", b"\r")).reports[0].command == "RCPT"
