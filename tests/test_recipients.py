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

from dsnworker.analyser import Analyser
from dsnworker.model import Kind, ParsedMessage
from dsnworker.parse import limits, parse_message
from dsnworker.parse.text import clean_address
from tests.watchdog import watchdog

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


# --- 1. only addresses in recipient position ------------------------------------------------------


@pytest.mark.parametrize(
    "quoting",
    [
        pytest.param("", id="as-is"),
        pytest.param("> ", id="angle-quoted"),
        pytest.param("    ", id="indented"),
    ],
)
def test_quoted_original_headers_are_not_recipients(quoting: str) -> None:
    headers = (
        "From: Example Shop <news@example.com>\n"
        "To: Taro Yamada <taro@example.org>\n"
        "Cc: jiro@example.org\n"
        "Reply-To: support@example.com\n"
        "Subject: Spring sale\n"
    )
    parsed = parse_message(
        plain_bounce(
            "Your message could not be delivered to the following recipient:\n\n"
            "    hanako@example.net\n"
            "    550 5.1.1 Mailbox does not exist\n\n"
            "Your message began:\n\n" + "".join(quoting + line + "\n" for line in headers.splitlines())
        )
    )
    assert recipients(parsed) == ["hanako@example.net"]


def test_received_line_of_the_returned_message_is_not_a_recipient() -> None:
    parsed = parse_message(
        plain_bounce(
            """
            A message that you sent could not be delivered to one or more of its
            recipients. This is a permanent error. The following address failed:

            hanako@example.net:
            SMTP error from remote server for RCPT TO command, host: mx.example.net (192.0.2.10) reason: 550 5.1.1 unknown user

            Received: from mail.example.com ([192.0.2.25]) by relay.example.net
             with ESMTP id 4XyZ1Q2kzGz9sWq
             for <taro@example.org>; Tue, 24 Nov 2026 10:14:58 +0900
            From: <news@example.com>
            To: <hanako@example.net>
            """
        )
    )
    assert recipients(parsed) == ["hanako@example.net"]


def test_message_ids_are_not_recipients() -> None:
    parsed = parse_message(
        plain_bounce(
            """
            Delivery to the following recipient failed permanently:

                 hanako@example.net

            Technical details of permanent failure:
            550 5.1.1 The email account that you tried to reach does not exist.

              Message-ID: <1234.5f3a9c@mail.example.com>
              In-Reply-To: <20261124.abc@mail.example.org>
              References: <20261123.0042@mail.example.org>
               <20261124.abc@mail.example.org>
            """
        )
    )
    assert recipients(parsed) == ["hanako@example.net"]


def test_help_prose_addresses_are_not_recipients() -> None:
    parsed = parse_message(
        plain_bounce(
            """
            Your message to <hanako@example.net> could not be delivered: 550 5.1.1 no such user.

            The standard form of address at this university is NAME@example.edu.
            For further assistance, please contact helpdesk@example.edu.
            If you have questions, send mail to Campus Mail Support <mail-support@example.edu>.
            """
        )
    )
    assert recipients(parsed) == ["hanako@example.net"]


def test_signature_addresses_are_not_recipients() -> None:
    parsed = parse_message(
        plain_bounce(
            """
            The following address had a permanent fatal error:

            <hanako@example.net>
                (reason: 550 5.1.1 User unknown)

            --
            Jane Admin, mail services
            jane.admin@example.net
            """
        )
    )
    assert recipients(parsed) == ["hanako@example.net"]


def test_bounce_own_and_verp_addresses_are_not_recipients() -> None:
    parsed = parse_message(
        plain_bounce(
            """
            ... while talking to mx.example.net.:
            >>> MAIL From:<bounces+c1-hanako=example.net@mail.example.com>
            <<< 250 2.1.0 <bounces+c1-hanako=example.net@mail.example.com>... Sender ok
            >>> RCPT To:<hanako@example.net>
            <<< 550 5.1.1 <hanako@example.net>... User unknown

            <news-bounces@lists.example.com>: message from this list could not be delivered
            <owner-news@lists.example.com>: see above
            <returns@mail.example.com>: mail for this address is the sender's own
            """,
            headers="Delivered-To: returns@mail.example.com\nX-Original-To: returns@mail.example.com\n",
        )
    )
    assert recipients(parsed) == ["hanako@example.net"]


def test_address_before_a_colon_in_a_sentence_is_not_a_recipient() -> None:
    parsed = parse_message(
        plain_bounce("Report generated by relay-admin@example.net: the message to <hanako@example.net> bounced.\n")
    )
    assert recipients(parsed) == ["hanako@example.net"]


@pytest.mark.parametrize(
    "line",
    [
        pytest.param("  hanako@example.net", id="alone-indented"),
        pytest.param("<hanako@example.net>:\n550 5.1.1 Sorry, no mailbox here by that name.", id="angle-colon"),
        pytest.param("hanako@example.net: 550 5.1.1 unknown user", id="address-colon-error"),
        pytest.param("'hanako@example.net' on 11/24/2026 10:15 AM", id="exchange-on-date"),
        pytest.param("Hanako Suzuki <hanako@example.net>", id="name-then-address"),
        pytest.param("Your message to <hanako@example.net> could not be delivered.", id="to"),
        pytest.param("Delivery failed for <hanako@example.net>: mailbox unavailable", id="for"),
        pytest.param("Failed command: RCPT TO:<hanako@example.net>", id="rcpt-to"),
        pytest.param("Recipient: hanako@example.net", id="recipient-label"),
        pytest.param("Original-Recipient: rfc822;hanako@example.net", id="original-recipient"),
        pytest.param("宛先: <hanako@example.net>", id="japanese-label"),
        pytest.param("The server said: 550 5.1.1 <hanako@example.net>: Recipient address rejected", id="reply"),
        pytest.param("550 <hanako@example.net>... User unknown", id="sendmail-dots"),
        pytest.param("Unknown user hanako@example.net", id="user"),
        pytest.param("Failed: hanako@example.net - mailbox full", id="label-then-what-failed"),
        pytest.param("    SMTP=hanako@example.net", id="exchange-smtp-form"),
    ],
)
def test_recipient_positions_are_found(line: str) -> None:
    parsed = parse_message(plain_bounce(f"This message could not be delivered.\n\n{line}\n"))
    assert recipients(parsed) == ["hanako@example.net"]


def test_returned_to_that_is_the_bounce_own_address_is_not_the_recipient() -> None:
    # a send to oneself with the real recipients in Bcc: the returned To is not who failed
    data = dsn(
        "Delivery to one recipient failed.\n",
        """
        Reporting-MTA: dns; mx.example.org

        Final-Recipient: rfc822;
        Action: failed
        Status: 5.1.1
        """,
        returned="To: sender@example.org\n",
    )
    assert recipients(parse_message(data)) == [None]


def test_returned_to_of_a_list_post_is_not_the_recipient() -> None:
    data = dsn(
        "Delivery to one recipient failed.\n",
        """
        Reporting-MTA: dns; mx.example.org

        Final-Recipient: rfc822;
        Action: failed
        Status: 5.1.1
        """,
        returned="To: news@lists.example.com\nList-Post: <mailto:news@lists.example.com>\n",
    )
    assert recipients(parse_message(data)) == [None]


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


# --- 3. one record per real recipient -------------------------------------------------------------


def test_recipient_in_two_field_groups_is_one_record() -> None:
    # a blank line between Original-Recipient and the rest makes two groups about one recipient
    data = dsn(
        "Delivery to the following recipient failed permanently: jdoe@example.com\n",
        """
        Reporting-MTA: dns; mx.example.org

        Original-Recipient: rfc822;jdoe@example.com

        Final-Recipient: rfc822;jdoe@example.com
        Action: failed
        Status: 5.1.1
        Diagnostic-Code: smtp; 550 5.1.1 <jdoe@example.com>: User unknown
        """,
    )
    (report,) = parse_message(data).reports
    assert (report.recipient, report.dsn_action, report.status) == ("jdoe@example.com", "failed", "5.1.1")


def test_recipient_named_in_two_cases_is_one_record() -> None:
    data = dsn(
        "Delivery to the following recipient failed permanently.\n",
        """
        Reporting-MTA: dns; mx.example.org

        Final-Recipient: rfc822;JDoe@Example.com
        Action: failed
        Status: 5.1.1

        Final-Recipient: rfc822;jdoe@example.com
        Action: failed
        Status: 5.1.1
        Diagnostic-Code: smtp; 550 5.1.1 User unknown
        """,
    )
    (report,) = parse_message(data).reports
    assert report.diagnostic == "550 5.1.1 User unknown"


def test_recipient_less_group_beside_named_ones_gives_no_extra_record() -> None:
    data = dsn(
        "Delivery to the following recipients failed permanently.\n",
        """
        Reporting-MTA: dns; mx.example.org

        Final-Recipient: rfc822;
        Action: failed
        Status: 5.0.0

        Final-Recipient: rfc822;jdoe@example.com
        Action: failed
        Status: 5.1.1
        """,
    )
    out = ANALYSER.analyse(data, "x")
    assert [(o.report.recipient, o.verdict.status) for o in out if o.report] == [("jdoe@example.com", "5.1.1")]


def test_address_written_twice_in_plain_text_is_one_recipient() -> None:
    parsed = parse_message(
        plain_bounce(
            """
            Delivery has failed to these recipients or groups:

            hanako@example.net<mailto:hanako@example.net>
            The recipient's mailbox is full and can't accept messages now.

            Diagnostic information:

            Hanako@Example.net
            Remote server returned '552 5.2.2 Mailbox full'
            """
        )
    )
    assert recipients(parsed) == ["hanako@example.net"]


# --- 4. a recipient's diagnostic stops at the next recipient --------------------------------------


def test_diagnostic_from_the_text_stops_at_the_next_recipient() -> None:
    # no Diagnostic-Code fields: the lines next to each address are its diagnostic
    data = dsn(
        """
        The following recipients could not be reached:
        jdoe@example.com: 550 5.1.1 mailbox unavailable
        mroe@example.com: 554 5.7.1 Client host [192.0.2.25] blocked using zen.spamhaus.org
        """,
        """
        Reporting-MTA: dns; mx.example.org

        Final-Recipient: rfc822;jdoe@example.com
        Action: failed
        Status: 5.1.1

        Final-Recipient: rfc822;mroe@example.com
        Action: failed
        Status: 5.7.1
        """,
        returned="To: jdoe@example.com, mroe@example.com\n",
    )
    first, second = parse_message(data).reports
    assert first.diagnostic == "550 5.1.1 mailbox unavailable"
    assert second.diagnostic == "554 5.7.1 Client host [192.0.2.25] blocked using zen.spamhaus.org"


def test_plain_text_diagnostic_stops_at_the_next_recipient() -> None:
    parsed = parse_message(
        plain_bounce(
            """
            Your message could not be delivered to these recipients:
            <hanako@example.net>
              552 5.2.2 Mailbox full
            <jiro@example.net>
              550 5.1.1 No such user
            """
        )
    )
    assert [(r.recipient, r.diagnostic) for r in parsed.reports] == [
        ("hanako@example.net", "552 5.2.2 Mailbox full"),
        ("jiro@example.net", "550 5.1.1 No such user"),
    ]


# --- 5. missed bounces ------------------------------------------------------------------------------


def test_second_delivery_status_part_holds_the_recipients() -> None:
    data = message(
        """
        From: Mail Delivery System <MAILER-DAEMON@mx.example.org>
        To: sender@example.org
        Subject: Returned mail: delivery failed
        MIME-Version: 1.0
        Content-Type: multipart/report; report-type=delivery-status; boundary="B"

        --B
        Content-Type: text/plain

        Your message could not be delivered.

        --B
        Content-Type: message/delivery-status

        This report lists the recipients whose delivery failed.

        --B
        Content-Type: message/delivery-status

        Reporting-MTA: dns; mx.example.org

        Final-Recipient: rfc822; jdoe@example.com
        Action: failed
        Status: 5.2.2
        Diagnostic-Code: smtp; 552 5.2.2 Mailbox full

        --B--
        """
    )
    parsed = parse_message(data)
    assert parsed.kind is Kind.BOUNCE
    assert [(r.recipient, r.status) for r in parsed.reports] == [("jdoe@example.com", "5.2.2")]


def test_report_without_recipient_groups_takes_the_recipient_from_its_text() -> None:
    data = message(
        """
        From: Mail Delivery System <MAILER-DAEMON@mx.example.org>
        To: sender@example.org
        Subject: Delivery Status Notification (Failure)
        Auto-Submitted: auto-replied
        MIME-Version: 1.0
        Content-Type: multipart/report; report-type=delivery-status; boundary="B"

        --B
        Content-Type: text/plain

        Your message to <jdoe@example.com> could not be delivered.
        The remote server said: 550 5.1.1 User unknown

        For help, please contact postmaster@mx.example.org.

        --B
        Content-Type: message/delivery-status

        Reporting-MTA: dns; mx.example.org
        Action: failed
        Status: 5.1.1

        --B
        Content-Type: text/rfc822-headers

        From: sender@example.org
        To: Team <team@example.com>, jdoe@example.com
        Subject: Spring sale

        --B--
        """
    )
    parsed = parse_message(data)
    assert (parsed.kind, parsed.format) == (Kind.BOUNCE, "rfc3464")
    (report,) = parsed.reports
    assert (report.recipient, report.dsn_action, report.status) == ("jdoe@example.com", "failed", "5.1.1")
    assert report.reporting_mta == "mx.example.org"


# --- hostile input stays linear ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        pytest.param("".join(f"<user{n}@example.net>: 550 unknown\n" for n in range(25_000)), id="25000-lines"),
        pytest.param("to <a@example.net> " * 60_000 + "\n", id="one-megabyte-line"),
        pytest.param("Recipient: " + "a" * 2_000_000 + "@example.net\n", id="two-megabyte-local-part"),
    ],
)
def test_hostile_plain_text_stays_fast_and_bounded(body: str) -> None:
    with watchdog(120, "a hostile plain-text bounce"):  # stops a hang; bench/linearity.py has the figures
        parsed = parse_message(plain_bounce(body))
    assert len(parsed.reports) <= limits.RECIPIENTS


def test_report_of_25000_recipients_without_diagnostic_codes_stays_fast() -> None:
    # each recipient's diagnostic is looked for in a megabyte of text, bounded by the next recipient
    human = "".join(
        f"user{n}@example.net: 550 5.1.1 unknown\n" + "    no such mailbox here\n" * 5 for n in range(25_000)
    )
    groups = "".join(
        f"Final-Recipient: rfc822; user{n}@example.net\nAction: failed\nStatus: 5.1.1\n\n" for n in range(25_000)
    )
    data = dsn(human + "x" * 1_000_000 + "\n", "Reporting-MTA: dns; mx.example.org\n\n" + groups)
    with watchdog(120, "a report of 25,000 recipients"):  # stops a hang; bench/linearity.py has the figures
        parsed = parse_message(data)
    reports = parsed.reports
    assert len(reports) == limits.RECIPIENTS  # the first hundred, and the outcome says the rest was cut
    assert limits.CUT_RECIPIENTS in parsed.truncated
    first = reports[0].diagnostic or ""
    assert first.startswith("550 5.1.1 unknown no such mailbox here") and "user1@" not in first
