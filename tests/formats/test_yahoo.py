"""Yahoo! Mail "Failure Notice"."""

from __future__ import annotations

from dsnworker.parse import parse_message

NOTICE = b"""From: MAILER-DAEMON@yahoo.com
To: sender@yahoo.example.com
Subject: Failure Notice
X-YMailISG: YtyUVyYWLDsbDhj3mu2nOlrk1HJCJucCscqR7TMgMtv3ChB8

Sorry, we were unable to deliver your message to the following address.

<alice@example.org>:
Remote host said: 550 5.1.1 <alice@example.org>... User Unknown
 [RCPT_TO]

<bob@example.net>:
No mx record found for domain=example.net

--- Below this line is a copy of the message.

To: alice@example.org, bob@example.net
Subject: hello
"""


def test_each_angle_bracketed_address_is_a_recipient() -> None:
    parsed = parse_message(NOTICE)
    assert parsed.format == "yahoo"
    assert [r.recipient for r in parsed.reports] == ["alice@example.org", "bob@example.net"]


def test_remote_host_said_prefix_and_command_bracket_are_taken_apart() -> None:
    report = parse_message(NOTICE).reports[0]
    assert report.diagnostic == "550 5.1.1 <alice@example.org>... User Unknown"
    assert (report.command, report.status, report.reply_code) == ("RCPT", "5.1.1", "550")


def test_yahoos_own_sentence_is_the_diagnostic_when_no_server_answered() -> None:
    assert parse_message(NOTICE).reports[1].diagnostic == "No mx record found for domain=example.net"
