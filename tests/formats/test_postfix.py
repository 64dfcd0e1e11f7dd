"""Postfix bounces: the per-recipient paragraph enriches the delivery-status part, or stands alone."""

from __future__ import annotations

import base64

import pytest

from dsnworker.analyser import Analyser
from dsnworker.parse import parse_message

ANALYSER = Analyser.with_rules()

REPORT = b"""From: MAILER-DAEMON@mx.example.org (Mail Delivery System)
To: sender@example.org
Subject: Undelivered Mail Returned to Sender
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B"

--B
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mx.example.org.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients. It's attached below.

                   The mail system

%(paragraph)s

--B
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.org

Final-Recipient: rfc822; rcpt@example.com
Original-Recipient: rfc822;rcpt@example.com
Action: failed
Status: %(status)s
Diagnostic-Code: %(diagnostic)s

--B
Content-Description: Undelivered Message Headers
Content-Type: text/rfc822-headers

From: sender@example.org
To: rcpt@example.com
Subject: Hello
Message-ID: <hello@example.org>

--B--
"""


def report(paragraph: str, status: str = "5.1.1", diagnostic: str = "smtp; 550 5.1.1 unknown") -> bytes:
    return REPORT % {b"paragraph": paragraph.encode(), b"status": status.encode(), b"diagnostic": diagnostic.encode()}


def test_paragraph_gives_remote_host_and_command() -> None:
    parsed = parse_message(
        report(
            "<rcpt@example.com>: host mx.example.com[192.0.2.153] said: 550 5.1.1\n"
            "    <rcpt@example.com>: Recipient address rejected: User unknown (in reply to\n"
            "    RCPT TO command)"
        )
    )
    (rcpt,) = parsed.reports
    assert parsed.format == "postfix"
    assert rcpt.recipient == "rcpt@example.com"
    assert rcpt.diagnostic == "550 5.1.1 <rcpt@example.com>: Recipient address rejected: User unknown"
    assert (rcpt.status, rcpt.reply_code, rcpt.command, rcpt.remote_mta) == ("5.1.1", "550", "RCPT", "mx.example.com")
    assert rcpt.reporting_mta == "mx.example.org"


def test_folded_multiline_reply_loses_its_repeated_codes() -> None:
    rcpt = parse_message(
        report(
            "<rcpt@example.com>: host mx.example.com[192.0.2.1] said: 550-5.7.1 Our system\n"
            "    has detected 550-5.7.1 a very low reputation 550 5.7.1 of the sending IP\n"
            "    (in reply to end of DATA command)",
            status="5.7.1",
        )
    ).reports[0]
    assert rcpt.diagnostic == "550-5.7.1 Our system has detected a very low reputation of the sending IP"
    assert rcpt.command == "DATA"


def test_refused_greeting_keeps_postfix_words_and_reply_code() -> None:
    rcpt = parse_message(
        report(
            "<rcpt@example.com>: host mx.example.com[203.0.113.9] refused to talk to\n"
            "    me: 421 Service not available",
            status="4.0.0",
        )
    ).reports[0]
    assert rcpt.command == "CONN"
    assert rcpt.reply_code == "421"
    assert rcpt.diagnostic == "host mx.example.com[203.0.113.9] refused to talk to me: 421 Service not available"


def test_local_program_failing_silently_is_mailer_error() -> None:
    rcpt = parse_message(report("<rcpt@example.com>: temporary failure", "4.3.0", "x-unix; temporary failure"))
    assert rcpt.reports[0].hint == "mailer_error"


def test_local_program_output_is_left_to_the_rules() -> None:
    rcpt = parse_message(
        report(
            "<rcpt@example.com>: temporary failure. Command output: Quota exceeded",
            "4.3.0",
            "x-unix; temporary failure. Command output: Quota exceeded",
        )
    )
    assert rcpt.reports[0].hint is None


def test_paragraph_alone_without_report_part() -> None:
    data = (
        b"From: MAILER-DAEMON@mx.example.org\nTo: sender@example.org\nSubject: Undelivered Mail Returned to Sender\n\n"
        b"This is the Postfix program at host mx.example.org.\n\n"
        b"I'm sorry to have to inform you that the message returned\n"
        b"below could not be delivered to one or more destinations.\n\n"
        b"For further assistance, please contact <postmaster@example.org>\n\n"
        b"<rcpt@example.com> (expanded from <alias@example.org>): host\n"
        b"    mx.example.com[192.0.2.2] said: 550 <rcpt@example.com>: User unknown\n\n"
    )
    parsed = parse_message(data)
    assert [(r.recipient, r.original_recipient, r.reply_code) for r in parsed.reports] == [
        ("rcpt@example.com", "alias@example.org", "550")
    ]


def test_smtp_server_error_transcript_gives_last_refused_command() -> None:
    data = (
        b"From: MAILER-DAEMON@mx.example.org (Mail Delivery System)\n"
        b"To: postmaster@mx.example.org (Postmaster)\n"
        b"Subject: Postfix SMTP server: errors from localhost[127.0.0.1]\n\n"
        b"Transcript of session follows.\n\n"
        b" Out: 220 mx.example.org ESMTP\n In:  EHLO mx.example.org\n Out: 250 mx.example.org\n"
        b" In:  MAIL\n     FROM:<sender@example.org>\n Out: 250 2.1.0 Ok\n"
        b" In:  RCPT TO:<rcpt@example.com>\n Out: 250 2.1.5 Ok\n In:  DATA\n Out: 354 End data\n"
        b" Out: 451 4.3.0 Error: queue file write error\n In:  QUIT\n Out: 221 2.0.0 Bye\n"
    )
    rcpt = parse_message(data).reports[0]
    assert (rcpt.recipient, rcpt.status, rcpt.command) == ("rcpt@example.com", "4.3.0", "DATA")
    assert rcpt.diagnostic == "451 4.3.0 Error: queue file write error"


def test_crlf_copy_parses_the_same() -> None:
    data = report(
        "<rcpt@example.com>: host mx.example.com[192.0.2.1] said: 550 5.1.1 unknown (in reply to RCPT TO command)"
    )
    rcpt = parse_message(data.replace(b"\n", b"\r\n")).reports[0]
    assert (rcpt.recipient, rcpt.command, rcpt.remote_mta) == ("rcpt@example.com", "RCPT", "mx.example.com")


# --- each recipient's paragraph ends where the next recipient's begins ----------------------------

TWO_RECIPIENTS = b"""From: MAILER-DAEMON@mx.example.org (Mail Delivery System)
To: sender@example.org
Subject: Undelivered Mail Returned to Sender
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B"

--B
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii
%(encoding)s
%(human)s
--B
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.org

Final-Recipient: rfc822; %(first)s
Original-Recipient: rfc822;%(first)s
Action: failed
Status: 5.5.0
Remote-MTA: dns; outlook-com.olc.protection.outlook.com
Diagnostic-Code: smtp; 550 5.5.0 Requested action not taken: mailbox unavailable

Final-Recipient: rfc822; someone@example.net
Original-Recipient: rfc822;someone@example.net
Action: failed
Status: 5.7.1
Remote-MTA: dns; mx.example.net
Diagnostic-Code: smtp; 554 5.7.1 Service unavailable; Client host [192.0.2.25] blocked

--B--
"""
HUMAN = (
    "This is the mail system at host mx.example.org.\n\n"
    "I'm sorry to have to inform you that your message could not\n"
    "be delivered to one or more recipients. It's attached below.\n\n"
    "                   The mail system\n\n"
    "<%(first)s>: host\n"
    "    outlook-com.olc.protection.outlook.com[192.0.2.7] said: 550 5.5.0\n"
    "    Requested action not taken: mailbox unavailable (S2017062302)\n"
    "    [AB1PR01MB1234.eurprd01.prod.outlook.com] (in reply to RCPT TO command)\n"
    "%(gap)s"
    "<someone@example.net>: host mx.example.net[192.0.2.8] said: 554 5.7.1 Service\n"
    "    unavailable; Client host [192.0.2.25] blocked using zen.spamhaus.org;\n"
    "    https://www.spamhaus.org/query/ip/192.0.2.25 (in reply to RCPT TO command)\n"
)
OUTLOOK_REPLY = (
    "550 5.5.0 Requested action not taken: mailbox unavailable (S2017062302) [AB1PR01MB1234.eurprd01.prod.outlook.com]"
)
SPAMHAUS_REPLY = (
    "554 5.7.1 Service unavailable; Client host [192.0.2.25] blocked using zen.spamhaus.org; "
    "https://www.spamhaus.org/query/ip/192.0.2.25"
)


def two_recipients(first: str, gap: str = "\n", base64_crlf: bool = False) -> bytes:
    """A Postfix report on `first` (Outlook's quoted-local-part refusal) and a blocklisted second."""
    human = HUMAN % {"first": first, "gap": gap}
    encoding = ""
    if base64_crlf:  # base64 carries the text in its canonical CRLF form
        encoding = "Content-Transfer-Encoding: base64\n"
        human = base64.encodebytes(human.replace("\n", "\r\n").encode()).decode()
    return TWO_RECIPIENTS % {
        b"encoding": encoding.encode(),
        b"human": human.encode(),
        b"first": first.encode(),
    }


def eol(data: bytes, ending: str) -> bytes:
    return data.replace(b"\n", {"lf": b"\n", "crlf": b"\r\n", "cr": b"\r"}[ending])


@pytest.mark.parametrize("ending", ["lf", "crlf", "cr"])
def test_paragraph_without_a_blank_line_stops_at_the_next_recipient(ending: str) -> None:
    parsed = parse_message(eol(two_recipients('"taro..yamada"@outlook.jp', gap=""), ending))
    assert [(r.recipient, r.diagnostic) for r in parsed.reports] == [
        ('"taro..yamada"@outlook.jp', OUTLOOK_REPLY),
        ("someone@example.net", SPAMHAUS_REPLY),
    ]


@pytest.mark.parametrize("ending", ["lf", "crlf", "cr"])
def test_quoted_local_part_refusal_is_not_read_as_the_next_recipients_listing(ending: str) -> None:
    out = ANALYSER.analyse(eol(two_recipients('"taro..yamada"@outlook.jp', gap=""), ending), "x")
    assert [(o.report.recipient, o.verdict.reason) for o in out if o.report] == [
        ('"taro..yamada"@outlook.jp', "quoted_local_part"),
        ("someone@example.net", "blocked"),
    ]


@pytest.mark.parametrize("first", ['"a b"@example.com', '"taro..yamada"@outlook.jp', '"x<y>z"@example.com'])
@pytest.mark.parametrize("ending", ["lf", "crlf", "cr"])
def test_quoted_local_part_with_spaces_or_brackets_has_its_own_paragraph(first: str, ending: str) -> None:
    parsed = parse_message(eol(two_recipients(first), ending))
    report = parsed.reports[0]
    assert (report.recipient, report.remote_mta, report.command) == (
        first,
        "outlook-com.olc.protection.outlook.com",
        "RCPT",
    )
    assert report.diagnostic == OUTLOOK_REPLY


def test_paragraphs_of_a_base64_part_in_crlf_are_split() -> None:
    parsed = parse_message(two_recipients('"taro..yamada"@outlook.jp', base64_crlf=True))
    assert [(r.recipient, r.diagnostic) for r in parsed.reports] == [
        ('"taro..yamada"@outlook.jp', OUTLOOK_REPLY),
        ("someone@example.net", SPAMHAUS_REPLY),
    ]
