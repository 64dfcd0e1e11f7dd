"""BIGLOBE bounces: the address under one heading, the cause under the next."""

from __future__ import annotations

from dsnworker.parse import parse_message
from tests.formats import reason_of

DATA = b"""From: postmaster@mail.example.ne.jp
To: sender@example.org
Subject: Returned mail: Service unavailable

   ----- The following addresses had delivery problems -----
rcpt@example.ne.jp

   ----- Non-delivered information -----
The number of messages in recipient's mailbox exceeded the local limit.

"""


def test_address_and_cause_are_read_from_their_headings() -> None:
    parsed = parse_message(DATA)
    (rcpt,) = parsed.reports
    assert parsed.format == "biglobe"
    assert rcpt.recipient == "rcpt@example.ne.jp"
    assert rcpt.diagnostic == "The number of messages in recipient's mailbox exceeded the local limit."


def test_mailbox_limit_sentence_is_mailbox_full() -> None:
    assert reason_of(parse_message(DATA)) == "mailbox_full"


def test_first_heading_alone_is_not_biglobe() -> None:
    data = DATA.split(b"   ----- Non-delivered")[0]
    assert parse_message(data).format != "biglobe"


def test_cr_only_copy_parses_the_same() -> None:
    assert parse_message(DATA.replace(b"\n", b"\r")).reports[0].recipient == "rcpt@example.ne.jp"
