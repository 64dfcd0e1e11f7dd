"""OpenSMTPD bounces: one "RCPT: error" line per recipient, with or without a delivery-status part."""

from __future__ import annotations

from dsnworker.parse import parse_message
from tests.formats import reason_of

TEXT = b"""From: Mailer Daemon <MAILER-DAEMON@mx.example.org>
To: sender@example.org
Subject: Delivery status notification: error

    Hi!

    This is the MAILER-DAEMON, please DO NOT REPLY to this e-mail.

    An error has occurred while attempting to deliver a message for
    the following list of recipients:

full@example.com: 550 5.2.2 <full@example.com>... Mailbox Full
unknown@example.com: 550 5.1.1 <unknown@example.com>... User Unknown

    Below is a copy of the original message:

To: full@example.com
Subject: Hello
"""

REPORT = b"""From: Mailer Daemon <MAILER-DAEMON@mx.example.org>
To: sender@example.org
Subject: Delivery status notification: delayed
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="B"

--B
Content-Type: text/plain; charset=us-ascii

    Hi!

    This is the MAILER-DAEMON, please DO NOT REPLY to this email.

    A message is delayed for more than 4 hours for the following
    list of recipients:

rcpt@example.com: %(line)s

    Please note that this is only a temporary failure report.

    Below is a copy of the original message:

--B
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.org

Final-Recipient: rfc822; rcpt@example.com
Action: delayed
Status: %(status)s

--B--
"""


def test_each_line_is_a_recipient_with_its_reply() -> None:
    parsed = parse_message(TEXT)
    assert parsed.format == "opensmtpd"
    assert [(r.recipient, r.status, r.reply_code) for r in parsed.reports] == [
        ("full@example.com", "5.2.2", "550"),
        ("unknown@example.com", "5.1.1", "550"),
    ]
    assert parsed.reports[1].diagnostic == "550 5.1.1 <unknown@example.com>... User Unknown"


def test_report_part_gets_the_line_as_diagnostic() -> None:
    rcpt = parse_message(REPORT % {b"line": b"421 4.7.0 Try again later", b"status": b"4.0.0"}).reports[0]
    assert (rcpt.diagnostic, rcpt.status, rcpt.dsn_action) == ("421 4.7.0 Try again later", "4.7.0", "delayed")


def test_envelope_expired_is_expired() -> None:
    parsed = parse_message(REPORT % {b"line": b"Envelope expired", b"status": b"4.4.7"})
    assert (reason_of(parsed), parsed.reports[0].status) == ("expired", "4.4.7")


def test_crlf_copy_parses_the_same() -> None:
    parsed = parse_message(TEXT.replace(b"\n", b"\r\n"))
    assert [r.recipient for r in parsed.reports] == ["full@example.com", "unknown@example.com"]
