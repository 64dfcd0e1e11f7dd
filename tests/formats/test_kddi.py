"""au one net / KDDI (dion.ne.jp) error notices."""

from __future__ import annotations

from dsnworker.parse import parse_message

NOTICE = (
    b"""From: no-reply@app.example.dion.ne.jp
To: sender@example.org
Subject: Mail
Content-Type: text/plain; charset=ISO-2022-JP

"""
    + "送信先のメールボックスが一杯のため、送信できませんでした。\n\n".encode("iso2022_jp")
    + b"""Your mail sent on: Thu, 29 Apr 2013 23:45:22 +0900
     Could not be delivered to: <alice@example.dion.ne.jp>
     As their mailbox is full.

"""
)


def test_bland_subject_is_still_recognised_by_its_sender_and_sentence() -> None:
    parsed = parse_message(NOTICE)
    assert parsed.format == "kddi"
    assert [r.recipient for r in parsed.reports] == ["alice@example.dion.ne.jp"]


def test_the_reason_line_is_the_diagnostic() -> None:
    assert parse_message(NOTICE).reports[0].diagnostic == "As their mailbox is full."


def test_crlf_copy_parses_the_same() -> None:
    assert parse_message(NOTICE.replace(b"\n", b"\r\n")).reports == parse_message(NOTICE).reports
