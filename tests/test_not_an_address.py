"""Never suppress what is not an address, in layers: parsers take no address from a To that holds
none; the core makes any outcome whose recipient is not a valid address `review`, never hard; the
suppression sink refuses such a row (tests/test_sinks.py); the worker emits no suppression for it
(tests/test_worker_pipeline.py).
"""

from __future__ import annotations

import textwrap

import pytest

from dsnworker.parse import parse_message
from dsnworker.parse.text import header_address


def complaint(to: str, original_rcpt_to: str | None = None) -> bytes:
    """An ARF abuse report whose returned message was sent To `to`."""
    field = f"Original-Rcpt-To: {original_rcpt_to}\n" if original_rcpt_to else ""
    return textwrap.dedent(
        f"""\
        From: feedback@fbl.example.net
        To: abuse@example.com
        Subject: Abuse report
        MIME-Version: 1.0
        Content-Type: multipart/report; report-type=feedback-report; boundary="arf"

        --arf
        Content-Type: text/plain

        This is an email abuse report.

        --arf
        Content-Type: message/feedback-report

        Feedback-Type: abuse
        User-Agent: FBL/1.0
        Version: 1
        {field}
        --arf
        Content-Type: text/rfc822-headers

        From: Example Shop <newsletter@example.com>
        To: {to}
        Subject: Spring sale
        Message-ID: <sale.2@app1.example.com>

        --arf--
        """
    ).encode()


# --- the parsers: no address where a To holds none -------------------------------------------------


@pytest.mark.parametrize(
    "to",
    ["<Undisclosed Recipients>", "undisclosed-recipients:;", '"undisclosed"', "Undisclosed Recipients <>"],
    ids=["angled-display-name", "empty-group", "quoted-display-name", "display-name-empty-angle"],
)
def test_a_complaint_whose_to_holds_no_address_names_no_recipient(to: str) -> None:
    (report,) = parse_message(complaint(to)).reports
    assert report.recipient is None


def test_a_complaint_whose_to_is_a_group_with_a_member_names_that_member() -> None:
    (report,) = parse_message(complaint("Friends: hanako@example.net;")).reports
    assert report.recipient == "hanako@example.net"


def test_a_complaint_whose_original_rcpt_to_is_no_address_falls_back_to_the_returned_to() -> None:
    (report,) = parse_message(complaint("hanako@example.net", original_rcpt_to="<undisclosed>")).reports
    assert report.recipient == "hanako@example.net"


def test_an_auto_reply_from_a_display_name_alone_names_no_recipient() -> None:
    data = b"From: Out of Office\nSubject: Automatic reply: Spring sale\nAuto-Submitted: auto-replied\n\nAway.\n"
    (report,) = parse_message(data).reports
    assert report.recipient is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Hanako <hanako@example.net>", "hanako@example.net"),
        ("hanako@example.net, taro@example.net", "hanako@example.net"),
        ("<Undisclosed Recipients>", None),
        ("undisclosed-recipients:;", None),
        ("<@example.net>", None),
        ("", None),
    ],
)
def test_header_address_is_the_first_address_or_none(value: str, expected: str | None) -> None:
    assert header_address(value) == expected
