# ruff: noqa: E501  (bounce lines are as long as the provider writes them)
"""Gmail's plain-text bounces from mailer-daemon@googlemail.com."""

from __future__ import annotations

from dsnworker.parse import parse_message

OLD_PERMANENT = b"""From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>
To: sender@example.org
X-Failed-Recipients: alice@example.com
Subject: Delivery Status Notification (Failure)
Content-Type: text/plain; charset=ISO-8859-1

Delivery to the following recipient failed permanently:

     alice@example.com

Technical details of permanent failure:
Google tried to deliver your message, but it was rejected by the server for the recipient domain example.com by mx.example.com. [192.0.2.2].

The error that the other server returned was:
550 550 5.2.2 <alice@example.com>... Mailbox Full (state 14).

----- Original message -----

From: sender@example.org
To: alice@example.com
Subject: hello
"""

DELAY_NO_DETAILS = b"""From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>
To: sender@example.org
Subject: Delivery Status Notification (Delay)
Content-Type: text/plain; charset=UTF-8

This is an automatically generated Delivery Status Notification

THIS IS A WARNING MESSAGE ONLY.

YOU DO NOT NEED TO RESEND YOUR MESSAGE.

Delivery to the following recipient has been delayed:

     bob@example.net

Message will be retried for 2 more day(s)

----- Original message -----

To: bob@example.net
Subject: hi
"""


def test_old_format_takes_the_remote_servers_words_without_google_boilerplate() -> None:
    report = parse_message(OLD_PERMANENT).reports[0]
    assert report.recipient == "alice@example.com"
    assert report.diagnostic == "550 5.2.2 <alice@example.com>... Mailbox Full"
    assert (report.status, report.reply_code) == ("5.2.2", "550")


def test_old_format_names_the_remote_host_and_the_command_from_the_state() -> None:
    report = parse_message(OLD_PERMANENT).reports[0]
    assert report.remote_mta == "mx.example.com"
    assert report.command == "RCPT"


def test_delay_warning_is_delayed_and_finds_the_indented_recipient() -> None:
    parsed = parse_message(DELAY_NO_DETAILS)
    assert parsed.format == "gmail"
    assert [r.recipient for r in parsed.reports] == ["bob@example.net"]
    assert parsed.reports[0].dsn_action == "delayed"
    assert "has been delayed" in (parsed.reports[0].diagnostic or "")


def test_crlf_copy_parses_the_same() -> None:
    crlf = parse_message(OLD_PERMANENT.replace(b"\n", b"\r\n")).reports[0]
    assert crlf == parse_message(OLD_PERMANENT).reports[0]


MODERN = b"""From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>
To: sender@example.org
X-Failed-Recipients: carol@example.com
Subject: Delivery Status Notification (Failure)
Content-Type: text/plain; charset="UTF-8"


** Address not found **

Your message wasn't delivered to carol@example.com because the address couldn't be found, or is unable to receive mail.

Learn more here: https://support.google.com/mail/answer/6596

The response from the remote server was:
550 5.1.1 <carol@example.com>: Recipient address rejected: User unknown in virtual mailbox table

----- Original message -----

To: carol@example.com
"""


def test_modern_format_takes_the_response_from_the_remote_server() -> None:
    report = parse_message(MODERN).reports[0]
    assert report.recipient == "carol@example.com"
    assert report.diagnostic == (
        "550 5.1.1 <carol@example.com>: Recipient address rejected: User unknown in virtual mailbox table"
    )
    assert report.dsn_action == "failed"


def test_delivery_incomplete_letter_is_a_delay() -> None:
    letter = MODERN.replace(b"** Address not found **", b"** Delivery incomplete **")
    assert parse_message(letter).reports[0].dsn_action == "delayed"


def test_newer_letter_without_failed_recipients_header_names_the_recipient_in_its_sentence() -> None:
    letter = MODERN.replace(b"X-Failed-Recipients: carol@example.com\n", b"")
    assert [r.recipient for r in parse_message(letter).reports] == ["carol@example.com"]


RELAYED_LETTER = b"""From: Mail Delivery System <MAILER-DAEMON@relay.example.net>
To: sender@example.org
Subject: Undeliverable message
Content-Type: text/plain; charset=utf-8

** Address not found **

Your message wasn't delivered to bob@example.com because the address couldn't be found, or is unable to receive mail.

The response from the remote server was:
550 5.1.1 The email account that you tried to reach does not exist. Please try double-checking the recipient's email address for typos or unnecessary spaces. - gsmtp
"""


def test_gmail_letter_relayed_by_another_sender_is_read_by_its_shape() -> None:
    parsed = parse_message(RELAYED_LETTER)
    (report,) = parsed.reports
    assert parsed.format == "gmail"
    assert (report.recipient, report.status, report.reply_code) == ("bob@example.com", "5.1.1", "550")
    assert report.diagnostic is not None and report.diagnostic.startswith("550 5.1.1 The email account")


def test_a_heading_alone_does_not_make_a_gmail_letter() -> None:
    data = RELAYED_LETTER.replace(b"The response from the remote server was:\n", b"")
    assert parse_message(data).format != "gmail"
