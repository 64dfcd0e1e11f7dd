"""Zoho Mail bounces: one line per recipient with the reply code and text in ERROR_CODE fields."""

from __future__ import annotations

from dsnworker.parse import parse_message

DATA = b"""From: mailer-daemon@mail.zoho.com
To: sender@example.org
Subject: Undelivered Mail Returned to Sender

This message was created automatically by mail delivery software.
A message that you sent could not be delivered to one or more of its recipients. This is a permanent error.

a@example.com Invalid Address, ERROR_CODE :550, ERROR_CODE :5.2.2 <a@example.com>... Mailbox Full
b@example.com Error, ERROR_CODE :421, ERROR_CODE :, Host not reachable.

"""


def test_each_line_gives_recipient_code_and_text() -> None:
    parsed = parse_message(DATA)
    assert parsed.format == "zoho"
    assert [(r.recipient, r.reply_code, r.status, r.diagnostic) for r in parsed.reports] == [
        ("a@example.com", "550", "5.2.2", "550 5.2.2 <a@example.com>... Mailbox Full"),
        ("b@example.com", "421", None, "421 Host not reachable."),
    ]


def test_crlf_copy_parses_the_same() -> None:
    assert len(parse_message(DATA.replace(b"\n", b"\r\n")).reports) == 2
