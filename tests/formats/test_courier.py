"""Courier bounces: the quoted exchange per recipient enriches the delivery-status part."""

from __future__ import annotations

from dsnworker.parse import parse_message
from tests.formats import reason_of

DATA = b"""From: postmaster@mx.example.org
To: sender@example.org
Subject: NOTICE: mail delivery status.
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B"

--B
Content-Type: text/plain; charset=us-ascii

This is a delivery status notification from mx.example.org,
running the Courier mail server, version 0.65.2.

---------------------------------------------------------------------------

                           UNDELIVERABLE MAIL

Your message to the following recipients cannot be delivered:

<rcpt@example.com>:
%s

---------------------------------------------------------------------------

--B
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.org

Final-Recipient: rfc822; rcpt@example.com
Action: failed
Status: 5.0.0

--B--
"""


def test_exchange_gives_command_host_and_specific_status() -> None:
    parsed = parse_message(
        DATA
        % (
            b"    mx.example.com [192.0.2.1]:\n>>> RCPT TO:<rcpt@example.com>\n"
            b"<<< 550 5.1.1 <rcpt@example.com>... User Unknown"
        )
    )
    (rcpt,) = parsed.reports
    assert parsed.format == "courier"
    assert (rcpt.status, rcpt.command, rcpt.remote_mta, rcpt.reply_code) == ("5.1.1", "RCPT", "mx.example.com", "550")
    assert rcpt.diagnostic == "550 5.1.1 <rcpt@example.com>... User Unknown"


def test_no_such_domain_is_host_unknown() -> None:
    parsed = parse_message(DATA % b"<<< No such domain.")
    assert (reason_of(parsed), parsed.reports[0].diagnostic) == ("host_unknown", "No such domain.")


def test_crlf_copy_parses_the_same() -> None:
    data = DATA % b"    mx.example.com [192.0.2.1]:\n>>> DATA\n<<< 554 5.7.1 rejected"
    assert parse_message(data.replace(b"\n", b"\r\n")).reports[0].command == "DATA"
