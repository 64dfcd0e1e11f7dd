"""Exchange 5.5-2003 NDRs: "did not reach the following recipient(s)"."""

from __future__ import annotations

from dsnworker.parse import parse_message
from tests.formats import reason_of

NDR = b"""From: System Administrator <postmaster@example.com>
To: sender@example.org
Subject: Undeliverable: Quarterly report
X-Mailer: Internet Mail Service (5.5.2653.19)
X-MS-Embedded-Report:
Content-Type: text/plain

Your message

  To:      alice@example.com; bob@example.com
  Subject: Quarterly report
  Sent:    Thu, 29 Apr 2010 00:00:00 -0000

did not reach the following recipient(s):

alice@example.com on Thu, 29 Apr 2010 00:00:05 -0000
    The recipient name is not recognized
\tThe MTS-ID of the original message is: c=us;a= ;p=example;l=MAIL0104290000AAAA
    MSEXCH:IMS:Example:HQ:MAIL 0 (000C05A6) Unknown Recipient
bob@example.com on Thu, 29 Apr 2010 00:00:05 -0000
    The recipient name is not recognized
    MSEXCH:IMS:Example:HQ:MAIL 0 (000C05A6) Unknown Recipient

"""


def test_each_failed_recipient_is_reported_and_the_quoted_to_line_is_not() -> None:
    parsed = parse_message(NDR)
    assert parsed.format == "exchange2003"
    assert [r.recipient for r in parsed.reports] == ["alice@example.com", "bob@example.com"]


def test_diagnostic_drops_the_mts_id_and_unknown_recipient_code_means_user_unknown() -> None:
    parsed = parse_message(NDR)
    report = parsed.reports[0]
    assert report.diagnostic == (
        "The recipient name is not recognized MSEXCH:IMS:Example:HQ:MAIL 0 (000C05A6) Unknown Recipient"
    )
    assert reason_of(parsed) == "user_unknown"


def test_cr_only_copy_parses_the_same() -> None:
    assert parse_message(NDR.replace(b"\n", b"\r")).reports == parse_message(NDR).reports
