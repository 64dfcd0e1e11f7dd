"""qmail-send bounces: one paragraph per recipient, the session sentence and the remote reply."""

from __future__ import annotations

from dsnworker.parse import parse_message
from tests.formats import reason_of

HEAD = b"""From: MAILER-DAEMON@mx.example.org
To: sender@example.org
Subject: failure notice

Hi. This is the qmail-send program at mx.example.org.
I'm afraid I wasn't able to deliver your message to the following addresses.
This is a permanent error; I've given up. Sorry it didn't work out.

"""
TAIL = b"""
--- Below this line is a copy of the message.

Return-Path: <sender@example.org>
To: rcpt@example.com
Subject: Hello
"""


def parse(paragraphs: bytes):
    return parse_message(HEAD + paragraphs + TAIL)


def test_remote_reply_after_does_not_like_recipient() -> None:
    parsed = parse(
        b"<rcpt@example.com>:\n192.0.2.25 does not like recipient.\n"
        b"Remote host said: 550 5.1.1 <rcpt@example.com>: Recipient address rejected: User unknown\n"
        b"Giving up on 192.0.2.25.\n"
    )
    (report,) = parsed.reports
    assert parsed.format == "qmail"
    assert report.recipient == "rcpt@example.com"
    assert report.diagnostic == "550 5.1.1 <rcpt@example.com>: Recipient address rejected: User unknown"
    assert (report.status, report.reply_code, report.command, report.remote_mta) == (
        "5.1.1",
        "550",
        "RCPT",
        "192.0.2.25",
    )
    assert report.reporting_mta == "mx.example.org"


def test_multiline_reply_after_data_is_joined() -> None:
    report = parse(
        b"<rcpt@example.com>:\n192.0.2.26 failed after I sent the message.\n"
        b"Remote host said: 550-5.7.26 Unauthenticated email is not accepted\n550 5.7.26 due to DMARC policy.\n"
    ).reports[0]
    assert report.diagnostic == "550 5.7.26 Unauthenticated email is not accepted due to DMARC policy."
    assert report.command == "DATA"


def test_sender_rejected_is_mail_command() -> None:
    report = parse(
        b"<rcpt@example.com>:\nConnected to 192.0.2.25 but sender was rejected.\n"
        b"Remote host said: 553 5.7.1 <sender@example.org>... Access denied\n"
    ).reports[0]
    assert report.command == "MAIL"


def test_no_host_sentence_is_host_unknown() -> None:
    report = parse(b"<rcpt@nx.example.com>:\nSorry, I couldn't find any host named nx.example.com. (#5.1.2)\n")
    assert reason_of(report) == "host_unknown"
    assert report.reports[0].status == "5.1.2"


def test_queue_too_long_alone_is_expired() -> None:
    parsed = parse(b"<rcpt@example.com>:\nI'm not going to try again; this message has been in the queue too long.\n")
    assert reason_of(parsed) == "expired"


def test_queue_too_long_does_not_hide_the_connection_failure() -> None:
    parsed = parse(
        b"<rcpt@example.com>:\nSorry, I wasn't able to establish an SMTP connection. (#4.4.1)\n"
        b"I'm not going to try again; this message has been in the queue too long.\n"
    )
    assert reason_of(parsed) == "network_error"
    assert parsed.reports[0].diagnostic == (
        "Sorry, I wasn't able to establish an SMTP connection. (#4.4.1) "
        "I'm not going to try again; this message has been in the queue too long."
    )


def test_every_recipient_paragraph_is_a_report() -> None:
    parsed = parse(
        b"<a@example.com>:\nSorry, no mailbox here by that name. (#5.1.1)\n\n"
        b"<b@example.com>:\n192.0.2.25 does not like recipient.\nRemote host said: 552 5.2.2 Mailbox full\n"
    )
    assert [r.recipient for r in parsed.reports] == ["a@example.com", "b@example.com"]
    assert reason_of(parsed) == "user_unknown"


def test_crlf_copy_parses_the_same() -> None:
    data = HEAD + b"<rcpt@example.com>:\nSorry, no mailbox here by that name. (#5.1.1)\n" + TAIL
    parsed = parse_message(data.replace(b"\n", b"\r\n"))
    report = parsed.reports[0]
    assert (report.recipient, report.status, reason_of(parsed)) == ("rcpt@example.com", "5.1.1", "user_unknown")


def test_qmail_derivative_with_its_own_opening_sentence() -> None:
    data = (
        b"From: MAILER-DAEMON@example.org\nTo: sender@example.org\nSubject: Delivery failure\n\n"
        b"Message from example.org.\nUnable to deliver message to the following address(es).\n\n"
        b"<rcpt@example.com>:\nSorry, your message to rcpt@example.com cannot be delivered.  "
        b"This account is over quota.\n\n"
        b"--- Original message follows.\n\nTo: rcpt@example.com\n"
    )
    parsed = parse_message(data)
    assert parsed.format == "qmail"
    assert parsed.reports[0].diagnostic == (
        "Sorry, your message to rcpt@example.com cannot be delivered. This account is over quota."
    )


def test_queue_too_long_after_a_local_error_without_remote_answer_is_expired() -> None:
    parsed = parse(
        b"<rcpt@example.com>:\nunable to connect to remote server [192.0.2.222:25]: Operation timed\nout\n"
        b"I'm not going to try again; this message has been in the queue too long.\n"
    )
    assert reason_of(parsed) == "expired"
    assert parsed.reports[0].diagnostic == (
        "unable to connect to remote server [192.0.2.222:25]: Operation timed out "
        "I'm not going to try again; this message has been in the queue too long."
    )
