"""Apache James bounces: the error after "Error message below:", the recipient from "RCPT TO:"."""

from __future__ import annotations

from dsnworker.parse import parse_message

DATA = b"""From: postmaster@example.org
To: sender@example.org
Subject: Re: Hello
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="OUT"

--OUT
Content-Type: multipart/alternative;
boundary="IN"

--IN
Content-Type: text/plain; charset=us-ascii

Error: Invalid user address

Error message below:
550 - Requested action not taken: no such user here

Message details:
  Subject: Hello
  Sent date: Wed Jun 12 02:21:53 GMT 2013
  MAIL FROM: sender@example.org
  RCPT TO: rcpt@example.com
  From: sender@example.org
  Size (in bytes): 39

--IN--
--OUT--
"""


def test_error_and_rcpt_to_even_when_the_inner_boundary_is_misfolded() -> None:
    parsed = parse_message(DATA)
    (rcpt,) = parsed.reports
    assert parsed.format == "apachejames"
    assert (rcpt.recipient, rcpt.reply_code) == ("rcpt@example.com", "550")
    assert rcpt.diagnostic == "550 - Requested action not taken: no such user here"


def test_failed_recipients_list() -> None:
    data = (
        b"From: postmaster@example.org\nTo: sender@example.org\nSubject: [BOUNCE]\n\n"
        b"Hi. This is the James mail server at mx.example.org.\n"
        b"I'm afraid I wasn't able to deliver your message to the following addresses.\n\n"
        b"Failed recipient(s):\nrcpt@example.com\n\nError message:\n550 5.1.1 unknown user\n\n"
    )
    rcpt = parse_message(data).reports[0]
    assert (rcpt.recipient, rcpt.diagnostic) == ("rcpt@example.com", "550 5.1.1 unknown user")


def test_cr_only_copy_parses_the_same() -> None:
    assert parse_message(DATA.replace(b"\n", b"\r")).reports[0].recipient == "rcpt@example.com"
