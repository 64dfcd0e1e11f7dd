"""Sendmail bounces: the session transcript, with or without a delivery-status part."""

from __future__ import annotations

from dsnworker.parse import parse_message
from tests.formats import reason_of

V8 = b"""From: Mail Delivery Subsystem <MAILER-DAEMON@mx.example.org>
To: <sender@example.org>
Subject: Returned mail: see transcript for details
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B"

--B

The original message was received at Thu, 29 Apr 2010 23:34:45 +0900
from localhost [127.0.0.1]

   ----- The following addresses had permanent fatal errors -----
<rcpt@example.com>
    (reason: 550 5.1.1 <rcpt@example.com>... User Unknown)

   ----- Transcript of session follows -----
... while talking to mx.example.com.:
>>> DATA
<<< 550 5.1.1 <rcpt@example.com>... User Unknown
550 5.1.1 <rcpt@example.com>... User unknown
<<< 503 5.0.0 Need RCPT (recipient)

--B
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.org

Final-Recipient: RFC822; rcpt@example.com
Action: failed
Status: 5.1.1
%(fields)s
--B--
"""

V5 = b"""From: Mail Delivery Subsystem <MAILER-DAEMON@mx.example.org>
To: sender@example.org
Subject: Returned mail: User unknown

   ----- Transcript of session follows -----
While talking to mx.example.edu:
>>> MAIL From:<sender@example.org>
<<< 550 Insecure Mail Relay
554 <a@example.edu>... Remote protocol error
550 example.net (smtp)... 550 Host unknown
554 <b@example.net>... 550 Host unknown (Authoritative answer from name server)

   ----- Unsent message follows -----
From: sender@example.org
To: a@example.edu
Subject: Hello
"""


def test_pipelined_reply_after_data_is_a_rcpt_rejection() -> None:
    parsed = parse_message(
        V8 % {b"fields": b"Remote-MTA: DNS; mx.example.com\nDiagnostic-Code: SMTP; 550 5.1.1 unknown\n"}
    )
    (rcpt,) = parsed.reports
    assert parsed.format == "sendmail"
    assert (rcpt.recipient, rcpt.status, rcpt.command, rcpt.remote_mta) == (
        "rcpt@example.com",
        "5.1.1",
        "RCPT",
        "mx.example.com",
    )


def test_empty_diagnostic_code_is_filled_from_the_transcript() -> None:
    rcpt = parse_message(V8 % {b"fields": b""}).reports[0]
    assert rcpt.diagnostic == "550 5.1.1 <rcpt@example.com>... User Unknown"
    assert rcpt.reply_code == "550"


def test_version5_transcript_gives_one_report_per_recipient_with_its_own_reply() -> None:
    parsed = parse_message(V5)
    assert [(r.recipient, r.diagnostic, r.command, r.remote_mta) for r in parsed.reports] == [
        ("a@example.edu", "550 Insecure Mail Relay", "MAIL", "mx.example.edu"),
        ("b@example.net", "550 Host unknown (Authoritative answer from name server)", None, None),
    ]


def test_unknown_mailer_error_is_mailer_error() -> None:
    data = V8.replace(
        b"... while talking to mx.example.com.:\n>>> DATA\n<<< 550 5.1.1 <rcpt@example.com>... User Unknown\n"
        b"550 5.1.1 <rcpt@example.com>... User unknown\n<<< 503 5.0.0 Need RCPT (recipient)\n",
        b"script.pl: cannot connect to database\n554 5.3.0 unknown mailer error 255\n",
    ).replace(b"<rcpt@example.com>\n    (reason: 550 5.1.1 <rcpt@example.com>... User Unknown)\n", b"")
    parsed = parse_message(data % {b"fields": b"Diagnostic-Code: X-Unix; 255\n"})
    rcpt = parsed.reports[0]
    assert reason_of(parsed) == "mailer_error"
    assert "cannot connect to database" in (rcpt.diagnostic or "")


def test_forwarded_quoted_bounce_is_unquoted() -> None:
    quoted = b"\n".join(b"> " + line for line in V5.split(b"\n\n", 1)[1].split(b"\n"))
    data = b"From: someone@example.org\nTo: sender@example.org\nSubject: Fwd: Returned mail\n\nFYI\n\n" + quoted
    assert [r.recipient for r in parse_message(data).reports] == ["a@example.edu", "b@example.net"]


def test_cr_only_copy_parses_the_same() -> None:
    parsed = parse_message(V5.replace(b"\n", b"\r"))
    assert [(r.recipient, r.command) for r in parsed.reports] == [("a@example.edu", "MAIL"), ("b@example.net", None)]


def test_fatal_errors_heading_without_reason_takes_the_transcript() -> None:
    data = (
        b"From: MAILER-DAEMON@mx.example.org\nTo: sender@example.org\nSubject: FAILURE NOTICE : Hello\n\n"
        b"The original message was received at Thu, 29 Apr 2011 23:34:45 +0900\nfrom example.org\n\n"
        b"  ----- The following addresses had permanent fatal errors -----\n"
        b">>> rcpt@example.com <rcpt@example.com>\n\n"
        b"  ----- Transcript of session follows -----\n"
        b"550 sorry, no mailbox here by that name (#5.1.1 - chkusr)\n"
    )
    rcpt = parse_message(data).reports[0]
    assert (rcpt.recipient, rcpt.status, rcpt.reply_code) == ("rcpt@example.com", "5.1.1", "550")
    assert rcpt.diagnostic == "550 sorry, no mailbox here by that name (#5.1.1 - chkusr)"


def test_notice_carrying_the_report_as_attachment_reads_the_attached_report() -> None:
    inner = (
        b"From: Mail Delivery Subsystem <MAILER-DAEMON@mx.example.org>\nTo: sender@example.org\n"
        b"Subject: Returned mail: User unknown\nMIME-Version: 1.0\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="IN"\n\n'
        b"--IN\n\n   ----- The following addresses had permanent delivery errors -----\nrcpt@example.com\n\n"
        b"--IN\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.org\n\n"
        b"Final-Recipient: RFC822; rcpt@example.com\nAction: failed\nStatus: 5.1.1\n"
        b"Diagnostic-Code: SMTP; 550 5.1.1 User unknown\n\n--IN--\n"
    )
    outer = (
        b"From: postmaster@example.net\nTo: sender@example.org\nMIME-Version: 1.0\n"
        b'Content-Type: multipart/mixed; boundary="OUT"\n\n'
        b"--OUT\nContent-Type: text/plain\n\nThe original message was received at Thu Oct 13 15:22:22 2015\n"
        b"----- The following addresses had permanent delivery errors -----\n\n"
        b"--OUT\nContent-Type: message/rfc822\n\n" + inner + b"\n--OUT--\n"
    )
    rcpt = parse_message(outer).reports[0]
    assert (rcpt.recipient, rcpt.status, rcpt.diagnostic) == ("rcpt@example.com", "5.1.1", "550 5.1.1 User unknown")
