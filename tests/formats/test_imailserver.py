"""IMail Server bounces: "<cause>: <rcpt>" lines, whose fixed causes name the reason."""

from __future__ import annotations

from dsnworker.parse import parse_message
from tests.formats import reason_of

DATA = b"""From: "Postmaster" <postmaster@example.org>
To: sender@example.org
Subject: Undeliverable Mail
X-Mailer: <SMTP32 v8.22>

%s


Original message follows.

To: rcpt@example.com
Subject: Hello
"""


def test_unknown_user_line() -> None:
    parsed = parse_message(DATA % b"Unknown user: rcpt@example.com")
    (rcpt,) = parsed.reports
    assert parsed.format == "imailserver"
    assert (rcpt.recipient, rcpt.diagnostic, reason_of(parsed)) == ("rcpt@example.com", "Unknown user", "user_unknown")


def test_mailbox_size_line_is_mailbox_full() -> None:
    assert reason_of(parse_message(DATA % b"User mailbox exceeds allowed size: rcpt@example.com")) == "mailbox_full"


def test_failed_attempts_line_is_expired() -> None:
    assert reason_of(parse_message(DATA % b"Delivery failed 20 attempts: rcpt@example.com")) == "expired"


def test_crlf_copy_parses_the_same() -> None:
    data = (DATA % b"Unknown user: rcpt@example.com").replace(b"\n", b"\r\n")
    assert reason_of(parse_message(data)) == "user_unknown"
