"""MailFoundry bounces: the recipient and "HOST[IP] responded with failure: reply"."""

from __future__ import annotations

from dsnworker.parse import parse_message

DATA = b"""From: MAILER-DAEMON@example.org
To: sender@example.org
Subject: Message delivery has failed

Unable to deliver message to: <rcpt@example.com>
Delivery failed for the following reason:
mx.example.com[192.0.2.222] responded with failure: 552 sorry, mailbox rcpt@example.com is over quota

This has been a permanent failure. No further delivery attempts will be made.
"""


def test_recipient_remote_host_and_reply() -> None:
    parsed = parse_message(DATA)
    (rcpt,) = parsed.reports
    assert parsed.format == "mailfoundry"
    assert (rcpt.recipient, rcpt.remote_mta, rcpt.reply_code) == ("rcpt@example.com", "mx.example.com", "552")
    assert rcpt.diagnostic == "552 sorry, mailbox rcpt@example.com is over quota"


def test_cr_only_copy_parses_the_same() -> None:
    assert parse_message(DATA.replace(b"\n", b"\r")).reports[0].remote_mta == "mx.example.com"
