# ruff: noqa: E501  (bounce lines are as long as the MTAs write them)
"""Recipient extraction: which addresses a bounce reports as failed, and one record for each.

Only addresses in recipient position count (not the returned message's headers, help prose,
signatures, Message-IDs or the sender's own bounce address); Exchange and X.400 forms give the SMTP
address inside or none; a recipient named twice is one record; a diagnostic taken from the text
stops where the next recipient is named; a report whose recipients are only in its text is still read.
"""

from __future__ import annotations

import textwrap

import pytest

from dsnworker.analyse import Analyser
from dsnworker.model import ParsedMessage
from dsnworker.parse import parse_message
from dsnworker.parse.text import clean_address

ANALYSER = Analyser.with_rules()


def message(text: str) -> bytes:
    """A message written in a test: dedented, LF line endings, UTF-8."""
    return textwrap.dedent(text).lstrip("\n").encode("utf-8")


def plain_bounce(body: str, headers: str = "") -> bytes:
    """A plain-text notice from an MTA no format module knows, sent to a VERP bounce address."""
    return (
        "Return-Path: <>\n"
        "From: Mail Delivery Service <mailer-daemon@relay.example.net>\n"
        "To: bounces+c1-hanako=example.net@mail.example.com\n"
        "Subject: Delivery failure notice\n"
        f"{headers}"
        "Content-Type: text/plain; charset=utf-8\n"
        "\n" + textwrap.dedent(body).lstrip("\n")
    ).encode("utf-8")


def dsn(human: str, status: str, returned: str = "To: jdoe@example.com\n", headers: str = "") -> bytes:
    """An RFC 3464 report: a text part, a delivery-status part and the returned headers."""
    return (
        "From: Mail Delivery Subsystem <MAILER-DAEMON@mx.example.org>\n"
        "To: sender@example.org\n"
        "Subject: Delivery Status Notification (Failure)\n"
        f"{headers}"
        "MIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\n\n'
        "--B\nContent-Type: text/plain; charset=us-ascii\n\n" + textwrap.dedent(human).lstrip("\n") + "\n"
        "--B\nContent-Type: message/delivery-status\n\n" + textwrap.dedent(status).lstrip("\n") + "\n"
        "--B\nContent-Type: text/rfc822-headers\n\n"
        "From: sender@example.org\n" + returned + "Subject: Spring sale\nMessage-ID: <spring.1@example.org>\n\n"
        "--B--\n"
    ).encode("utf-8")


def recipients(parsed: ParsedMessage) -> list[str | None]:
    return [r.recipient for r in parsed.reports]


# --- 2. Exchange and X.400 forms --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "address"),
    [
        ("SMTP=jdoe@example.com", "jdoe@example.com"),
        ("smtp:jdoe@example.com", "jdoe@example.com"),
        ("<SMTP:jdoe@example.com>", "jdoe@example.com"),
        ("IMCEASMTP-jdoe+40example+2Ecom@corp.example.com", "jdoe@example.com"),
        ("IMCEAEX-_O=ACME_OU=EXCHANGE+20ADMINISTRATIVE+20GROUP_CN=RECIPIENTS_CN=jdoe@corp.example.com", None),
        ("/S=Doe/G=John/OU=SALES/O=ACME/PRMD=ACME/ADMD=ATTMAIL/C=US/", None),
        ("/O=ACME/OU=EXCHANGE ADMINISTRATIVE GROUP (FYDIBOHF23SPDLT)/CN=RECIPIENTS/CN=jdoe", None),
        ("/C=US/ADMD= /PRMD=ACME/O=ACME/DDA.RFC-822=jdoe(a)example.com/", "jdoe@example.com"),
        ("smtpuser@example.com", "smtpuser@example.com"),
    ],
)
def test_exchange_and_x400_forms_give_the_smtp_address_inside_or_none(written: str, address: str | None) -> None:
    assert clean_address(written) == address


@pytest.mark.parametrize(
    "final",
    [
        pytest.param("X400; /S=Doe/G=John/OU=SALES/O=ACME/PRMD=ACME/ADMD=ATTMAIL/C=US/", id="x400"),
        pytest.param(
            "rfc822;IMCEAEX-_O=ACME_OU=FIRST+20ADMINISTRATIVE+20GROUP_CN=RECIPIENTS_CN=JDOE@corp.example.com",
            id="imceaex",
        ),
    ],
)
def test_original_recipient_wins_over_an_x400_or_exchange_final_recipient(final: str) -> None:
    data = dsn(
        "Your message did not reach some or all of the intended recipients.\n",
        f"""
        Reporting-MTA: dns; mail.corp.example.com

        Final-Recipient: {final}
        Original-Recipient: rfc822;john.doe@example.com
        Action: failed
        Status: 5.1.1
        """,
    )
    assert recipients(parse_message(data)) == ["john.doe@example.com"]


def test_x400_final_recipient_alone_is_never_the_recipient() -> None:
    data = dsn(
        "Your message did not reach some or all of the intended recipients.\n",
        """
        Reporting-MTA: dns; mail.corp.example.com

        Final-Recipient: X400; /S=Doe/G=John/OU=SALES/O=ACME/PRMD=ACME/ADMD=ATTMAIL/C=US/
        Action: failed
        Status: 5.1.1
        """,
        returned="To: John Doe <jdoe@example.com>\n",
    )
    assert recipients(parse_message(data)) == ["jdoe@example.com"]


def test_imcea_smtp_final_recipient_is_decoded() -> None:
    data = dsn(
        "Your message did not reach some or all of the intended recipients.\n",
        """
        Reporting-MTA: dns; mail.corp.example.com

        Final-Recipient: rfc822;IMCEASMTP-jdoe+40example+2Ecom@corp.example.com
        Action: failed
        Status: 5.1.1
        """,
    )
    assert recipients(parse_message(data)) == ["jdoe@example.com"]


def test_exchange_report_and_its_text_on_an_imceaex_recipient_are_one_record() -> None:
    data = message(
        """
        From: postmaster@corp.example.com
        To: sender@example.org
        Subject: Undeliverable: Spring sale
        MIME-Version: 1.0
        Content-Type: multipart/report; report-type=delivery-status; boundary="B"

        --B
        Content-Type: text/plain; charset=us-ascii

        Delivery has failed to these recipients or groups:

        John Doe
        The e-mail address you entered couldn't be found.

        Diagnostic information for administrators:

        Generating server: mail.corp.example.com

        jdoe@example.com
        #550 5.1.1 RESOLVER.ADR.RecipNotFound; not found ##

        Original message headers:

        Subject: Spring sale

        --B
        Content-Type: message/delivery-status

        Reporting-MTA: dns;mail.corp.example.com

        Final-recipient: rfc822;IMCEAEX-_O=ACME_OU=FIRST+20ADMINISTRATIVE+20GROUP_CN=RECIPIENTS_CN=JDOE@corp.example.com
        Original-Recipient: rfc822;jdoe@example.com
        Action: failed
        Status: 5.1.1

        --B--
        """
    )
    (report,) = parse_message(data).reports
    assert (report.recipient, report.status, report.reply_code) == ("jdoe@example.com", "5.1.1", "550")
    assert "RESOLVER.ADR.RecipNotFound" in (report.diagnostic or "")
