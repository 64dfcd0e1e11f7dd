"""fml error notices: the subject names the cause, the first line the address concerned."""

from __future__ import annotations

from dsnworker.parse import parse_message
from tests.formats import reason_of

DATA = b"""From: list-admin@example.org
To: list-admin@example.org
Subject: Loop Alert: Duplicated Message-ID (list ML)
X-MLServer: fml [fml 4.0.3 release (20011202/4.0.3)]

Duplicated Message-ID in <list@example.org>.

Original mail as follows:

   From: sender@example.org
   Subject: Hello
"""


def test_loop_alert_is_system_error_for_the_list_address() -> None:
    parsed = parse_message(DATA)
    (rcpt,) = parsed.reports
    assert parsed.format == "fml"
    assert (rcpt.recipient, reason_of(parsed)) == ("list@example.org", "system_error")
    assert rcpt.diagnostic == "Loop Alert: Duplicated Message-ID (list ML) Duplicated Message-ID in <list@example.org>."


def test_ordinary_list_post_is_not_an_fml_notice() -> None:
    data = DATA.replace(b"Loop Alert: Duplicated Message-ID (list ML)", b"[list:00042] Hello")
    assert parse_message(data).format != "fml"


def test_crlf_copy_parses_the_same() -> None:
    assert reason_of(parse_message(DATA.replace(b"\n", b"\r\n"))) == "system_error"
