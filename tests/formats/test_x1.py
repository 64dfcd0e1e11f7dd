"""The X1 format: "address [cause]" lines under "---The following addresses had delivery errors---"."""

from __future__ import annotations

from dsnworker.parse import parse_message

DATA = b"""From: "Mail Deliver System" <MAILER-DAEMON>
To: sender@example.org
Subject: Returned Mail: User unknown
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="B"

--B
Content-Type: text/plain
   charset="iso-2022-jp"

The original message was received at Thu, 29 Apr 2011 23:34:45 +0900 (JST)
from sender@example.org

---The following addresses had delivery errors---

a@example.com [User unknown]
b@example.com [Mailbox full]

--B--
"""


def test_each_line_is_a_recipient_with_its_bracketed_cause() -> None:
    parsed = parse_message(DATA)
    assert parsed.format == "x1"
    assert [(r.recipient, r.diagnostic) for r in parsed.reports] == [
        ("a@example.com", "User unknown"),
        ("b@example.com", "Mailbox full"),
    ]


def test_crlf_copy_parses_the_same() -> None:
    assert len(parse_message(DATA.replace(b"\n", b"\r\n")).reports) == 2
