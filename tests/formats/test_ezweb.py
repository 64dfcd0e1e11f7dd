# ruff: noqa: E501  (bounce lines are as long as the provider writes them)
"""au by KDDI EZweb "Mail System Error - Returned Mail"."""

from __future__ import annotations

from dsnworker.parse import parse_message
from tests.formats import reason_of

PREAMBLE = "次のあて先へのメッセージはエラーのため送信できませんでした。\n\n".encode("iso2022_jp")
HEAD = b"""From: Postmaster@ezweb.ne.jp
To: sender@example.org
Subject: Mail System Error - Returned Mail
Content-Type: text/plain; charset=ISO-2022-JP

"""

TRANSCRIPT = (
    HEAD
    + PREAMBLE
    + b"""Each of the following recipients was rejected by a remote
mail server.

    Recipient: <alice@example.com>
    >>> RCPT TO:<alice@example.com>
    <<< 550 <alice@example.com>: User unknown

"""
)

EXPIRED = (
    HEAD
    + PREAMBLE
    + b"""Your message was not delivered within 0 days and 1 hours.
Remote host is not responding.

The following recipients did not receive this message:

<bob@ezweb.example.jp>

"""
)


def test_transcript_gives_the_reply_and_the_command() -> None:
    parsed = parse_message(TRANSCRIPT)
    assert parsed.format == "ezweb"
    report = parsed.reports[0]
    assert report.recipient == "alice@example.com"
    assert (report.command, report.reply_code) == ("RCPT", "550")
    assert report.diagnostic == "550 <alice@example.com>: User unknown"


def test_not_delivered_within_is_stated_as_expired() -> None:
    parsed = parse_message(EXPIRED)
    report = parsed.reports[0]
    assert report.recipient == "bob@ezweb.example.jp"
    assert reason_of(parsed) == "expired"
    assert (
        report.diagnostic == "Your message was not delivered within 0 days and 1 hours. Remote host is not responding."
    )


def test_spam_filter_verdict_header_means_filtered() -> None:
    data = HEAD.replace(b"Content-Type", b"X-SPASIGN: NG\nContent-Type") + b"<carol@ezweb.example.jp>\n\n"
    data += b"Each of the following recipients was rejected by a remote mail server.\n"
    assert reason_of(parse_message(data)) == "filtered"
