"""RFC 3464 reports whose MIME structure is broken, and recipients named only in DSN fields."""

from __future__ import annotations

from dsnworker.parse import parse_message

NO_BOUNDARY = b"""From: MAILER-DAEMON@mail.example.org (Mail Delivery System)
To: sender@example.org
Subject: Undelivered Mail Returned to Sender
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;

--B1.1528513261/mail.example.org
Content-Type: text/plain; charset=us-ascii

<alice@example.com>: host mx.example.com[192.0.2.26]

--B1.1528513261/mail.example.org
Content-Type: message/delivery-status

Reporting-MTA: dns; mail.example.org

Final-Recipient: rfc822; alice@example.com
Action: failed
Status: 5.1.1
Remote-MTA: dns; mx.example.com
Diagnostic-Code: smtp; 550 5.1.1 The email account that you tried to reach does not exist.

--B1.1528513261/mail.example.org--
"""

FIELDS_ONLY = b"""From: Mail Delivery Subsystem <MAILER-DAEMON@mail.example.edu>
To: sender@example.org
Subject: Returned mail: Service unavailable
MIME-Version: 1.0
Content-Type: text/plain

Reporting-MTA: dns; mail.example.edu

Final-Recipient: RFC822; bob@mail.example.edu
Action: failed
Status: 5.5.0
"""


def test_a_multipart_whose_boundary_was_lost_is_still_read() -> None:
    parsed = parse_message(NO_BOUNDARY)
    assert parsed.format == "rfc3464"
    report = parsed.reports[0]
    assert (report.recipient, report.status, report.remote_mta) == ("alice@example.com", "5.1.1", "mx.example.com")


def test_the_dsn_fields_themselves_are_not_taken_as_the_diagnostic() -> None:
    report = parse_message(FIELDS_ONLY).reports[0]
    assert report.recipient == "bob@mail.example.edu"
    assert report.diagnostic is None
