"""Lotus Notes SMTP MTA bounces: a cause line, then the address, under "Failure Reasons"."""

from __future__ import annotations

from dsnworker.parse import parse_message
from tests.formats import reason_of

DATA = b"""From: postmaster@example.org
To: sender@example.org
Subject: Undeliverable message

------- Failure Reasons  --------

User  not listed in public Name & Address Book
rcpt@example.com


------- Returned Message --------
To: rcpt@example.com
Subject: Hello
"""


def test_cause_and_address_make_a_report() -> None:
    parsed = parse_message(DATA)
    (rcpt,) = parsed.reports
    assert parsed.format == "notes"
    assert (rcpt.recipient, rcpt.diagnostic) == ("rcpt@example.com", "User not listed in public Name & Address Book")


def test_not_listed_in_address_book_is_user_unknown() -> None:
    assert reason_of(parse_message(DATA)) == "user_unknown"


def test_cr_only_copy_parses_the_same() -> None:
    assert parse_message(DATA.replace(b"\n", b"\r")).reports[0].recipient == "rcpt@example.com"
