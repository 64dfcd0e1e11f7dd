"""Domino bounces: recipients after "was not delivered to:", the cause after "because:"."""

from __future__ import annotations

from dsnworker.parse import parse_message
from tests.formats import reason_of

DATA = b"""From: Postmaster@example.org
To: sender@example.org
Subject: DELIVERY FAILURE: User Rcpt (rcpt@example.com) not listed in Domino Directory

Your message

  Subject: Hello

was not delivered to:

  rcpt@example.com

because:

  User some.name (rcpt@example.com) not listed in Domino Directory

"""


def test_recipient_and_cause_from_the_labelled_paragraphs() -> None:
    parsed = parse_message(DATA)
    (rcpt,) = parsed.reports
    assert parsed.format == "domino"
    assert rcpt.recipient == "rcpt@example.com"
    assert rcpt.diagnostic == "User some.name (rcpt@example.com) not listed in Domino Directory"


def test_not_listed_in_directory_is_user_unknown() -> None:
    assert reason_of(parse_message(DATA)) == "user_unknown"


def test_remote_reply_as_cause_is_left_to_the_rules() -> None:
    data = DATA.replace(b"User some.name (rcpt@example.com) not listed in Domino Directory", b"550 5.7.1 Denied")
    assert reason_of(parse_message(data)) != "user_unknown"


def test_crlf_copy_parses_the_same() -> None:
    assert reason_of(parse_message(DATA.replace(b"\n", b"\r\n"))) == "user_unknown"
