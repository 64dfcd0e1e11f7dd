"""m-FILTER bounces: addresses, then the server message and the SMTP command in labelled sections."""

from __future__ import annotations

from dsnworker.parse import parse_message

DATA = """From: POSTMASTER <postmaster@example.org>
To: sender@example.org
Subject: failure notice
Content-Type: text/plain; charset=utf-8

このメールは「m-FILTER」が自動的に生成して送信しています。
以下のメールアドレスへの送信に失敗しました。
rcpt@example.com

-------server message
550 5.1.1 <rcpt@example.com>: Recipient address rejected: User unknown

-------SMTP command
RCPT TO

-------original message
To: rcpt@example.com
Subject: Hello
""".encode()


def test_sections_give_recipient_reply_and_command() -> None:
    parsed = parse_message(DATA)
    (rcpt,) = parsed.reports
    assert parsed.format == "mfilter"
    assert rcpt.recipient == "rcpt@example.com"
    assert rcpt.diagnostic == "550 5.1.1 <rcpt@example.com>: Recipient address rejected: User unknown"
    assert (rcpt.status, rcpt.reply_code, rcpt.command) == ("5.1.1", "550", "RCPT")


def test_cr_only_copy_parses_the_same() -> None:
    assert parse_message(DATA.replace(b"\n", b"\r")).reports[0].command == "RCPT"
