"""Never suppress what is not an address, in layers: parsers take no address from a To that holds
none; the core makes any outcome whose recipient is not a valid address `review`, never hard; the
suppression sink refuses such a row (tests/test_sinks.py); the worker emits no suppression for it
(tests/test_worker_pipeline.py).
"""

from __future__ import annotations

import textwrap

import pytest

from dsnworker.analyser import Analyser
from dsnworker.explain import explain
from dsnworker.output import outcome_record
from dsnworker.parse import parse_message
from dsnworker.parse.address import address_info, address_problem
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


def dsn(recipient: str, status: str = "5.1.1", diagnostic: str = "550 5.1.1 User unknown") -> bytes:
    return textwrap.dedent(
        f"""\
        From: MAILER-DAEMON@mail.example.com (Mail Delivery System)
        To: bounces@example.com
        Subject: Undelivered Mail Returned to Sender
        MIME-Version: 1.0
        Content-Type: multipart/report; report-type=delivery-status; boundary="B"

        --B
        Content-Type: message/delivery-status

        Reporting-MTA: dns; mail.example.com

        Final-Recipient: rfc822; {recipient}
        Action: failed
        Status: {status}
        Remote-MTA: dns; mx1.example.jp
        Diagnostic-Code: smtp; {diagnostic}

        --B--
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


# --- what is an address ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "kim@example.jp",
        '"taro yamada"@example.jp',  # white space inside quotes
        "taro..yamada@docomo.ne.jp",  # the carriers' legacy local parts are not judged
        "kim@[192.0.2.1]",  # an address literal needs no dot
        "ユーザー@例え.jp",
    ],
)
def test_a_valid_address_has_no_problem(address: str) -> None:
    assert address_problem(address) is None
    assert address_info(address).problem is None


@pytest.mark.parametrize(
    ("address", "problem"),
    [
        ("Undisclosed Recipients", "no '@'"),
        ("@example.jp", "an empty local part"),
        ("kim@", "an empty domain"),
        ("taro yamada@example.jp", "white space outside quotes"),
        ("kim@example .jp", "white space in the domain"),
        ("kim@mailhost", "a domain without a dot"),
        ("kim@example..jp", "an empty label"),
        (None, "no recipient"),
    ],
)
def test_what_is_not_an_address_says_why(address: str | None, problem: str) -> None:
    assert problem in (address_problem(address) or "")
    assert problem in (address_info(address).problem or "")


# --- the core: review, never hard, whatever the rule said -----------------------------------------


def test_a_complaint_with_no_address_is_reviewed_not_suppressed(analyser: Analyser) -> None:
    (outcome,) = analyser.analyse(complaint("<Undisclosed Recipients>"), "arf")
    verdict = outcome.verdict
    assert (verdict.reason, verdict.action, verdict.hard) == ("feedback", "review", False)


def test_a_hard_bounce_for_a_non_address_keeps_its_reason_but_is_reviewed_and_not_hard(analyser: Analyser) -> None:
    (outcome,) = analyser.analyse(dsn("kim@mailhost"), "dsn")
    verdict = outcome.verdict
    assert (verdict.reason, verdict.action, verdict.hard) == ("user_unknown", "review", False)


def test_a_soft_bounce_for_a_non_address_is_reviewed_not_counted(analyser: Analyser) -> None:
    data = dsn("Undisclosed Recipients", "4.2.2", "452 4.2.2 Mailbox full")
    (outcome,) = analyser.analyse(data, "dsn")
    assert (outcome.verdict.reason, outcome.verdict.action) == ("mailbox_full", "review")


def test_the_record_of_a_non_address_says_invalid_recipient(analyser: Analyser) -> None:
    (outcome,) = analyser.analyse(dsn("kim@mailhost"), "dsn")
    assert outcome_record(outcome)["invalid_recipient"] is True


def test_the_record_of_an_address_has_no_invalid_recipient_key(analyser: Analyser) -> None:
    (outcome,) = analyser.analyse(dsn("kim@example.jp"), "dsn")
    assert "invalid_recipient" not in outcome_record(outcome)
    assert (outcome.verdict.action, outcome.verdict.hard) == ("suppress", True)


def test_an_address_literal_is_suppressed_like_any_address(analyser: Analyser) -> None:
    (outcome,) = analyser.analyse(dsn("kim@[192.0.2.1]"), "dsn")
    assert (outcome.verdict.action, outcome.verdict.hard) == ("suppress", True)


def test_explain_says_why_a_recipient_is_not_acted_upon(analyser: Analyser) -> None:
    text = explain(analyser, dsn("kim@mailhost"), "dsn.eml")
    assert "not an address:     a domain without a dot in 'kim@mailhost'" in text
    assert "user_unknown (hard=false, action=review)" in text
