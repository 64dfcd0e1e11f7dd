"""Oracle/Sun Messaging Server and PMDF reports: the labelled lines per recipient."""

from __future__ import annotations

from dsnworker.parse import parse_message
from tests.formats import reason_of

HEAD = b"""From: Internet Mail Delivery <postmaster@mx.example.org>
To: sender@example.org
Subject: Delivery Notification: Delivery has failed
MIME-version: 1.0
Content-type: multipart/report; boundary="Boundary_(ID_1)"; report-type=delivery-status

"""
TEXT = b"""This report relates to a message you sent with the following header fields:

  Message-id: <hello@example.org>
  To: rcpt@example.com
  Subject: Hello

Your message cannot be delivered to the following recipients:

%s
"""


def test_broken_multipart_text_is_still_read() -> None:
    blocks = b"".join(
        b"  Recipient address: %s@example.com\n  Reason: Remote SMTP server has rejected address\n"
        b"  Diagnostic code: smtp;550 5.1.1 <%s@example.com>... User Unknown\n"
        b"  Remote system: dns;mx.example.com (TCP|192.0.2.1|47323|192.0.2.2|25) (mx.example.com ESMTP)\n\n"
        % (name, name)
        for name in (b"a", b"b")
    )
    parsed = parse_message(HEAD + TEXT % blocks)  # the declared boundary never occurs
    assert parsed.format == "messagingserver"
    assert [(r.recipient, r.status, r.command, r.remote_mta) for r in parsed.reports] == [
        ("a@example.com", "5.1.1", "RCPT", "mx.example.com"),
        ("b@example.com", "5.1.1", "RCPT", "mx.example.com"),
    ]
    assert parsed.reports[0].diagnostic == "550 5.1.1 <a@example.com>... User Unknown"


def test_sender_rejection_is_mail_command() -> None:
    block = (
        b"  Recipient address: rcpt@example.com\n  Reason: Server rejected MAIL FROM address\n"
        b"  Diagnostic code: smtp;501 5.1.8 Sender address rejected\n"
    )
    assert parse_message(HEAD + TEXT % block).reports[0].command == "MAIL"


def test_illegal_domain_is_host_unknown_with_the_reason_as_diagnostic() -> None:
    block = b"  Recipient address: rcpt@nx.example.com\n  Reason: Illegal host/domain name found\n"
    parsed = parse_message(HEAD + TEXT % block)
    assert (reason_of(parsed), parsed.reports[0].diagnostic) == ("host_unknown", "Illegal host/domain name found")


def test_cr_only_copy_parses_the_same() -> None:
    block = b"  Recipient address: rcpt@nx.example.com\n  Reason: Illegal host/domain name found\n"
    parsed = parse_message((HEAD + TEXT % block).replace(b"\n", b"\r"))
    assert (parsed.reports[0].recipient, reason_of(parsed)) == ("rcpt@nx.example.com", "host_unknown")
