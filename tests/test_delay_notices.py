"""Delay warnings are bounces whose reports say `dsn_action="delayed"`, never auto-replies.

Delivery notices carry `Auto-Submitted: auto-replied` as auto-replies do (Postfix and Exchange set
it); what tells them apart is what a DSN looks like: a delivery-status part, a daemon sender, a
delivery or delay subject. A delay warning in plain text (no delivery-status part) is read by the
plain-text fallback, which says the delay. (What a delay means, `retry` with a class-4 status, is
the classifier's business.)
"""

from __future__ import annotations

import textwrap

import pytest

from dsnworker.model import Kind
from dsnworker.parse import parse_message
from dsnworker.parse.bounce_text import delay_notice
from dsnworker.parse.mail import Mail


def mail(text: str) -> bytes:
    return textwrap.dedent(text).lstrip("\n").encode("utf-8")


EXCHANGE_DELAY = mail(
    """
    From: Microsoft Outlook <MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@example.com>
    To: newsletter@example.com
    Subject: Delivery delayed: Spring sale
    Auto-Submitted: auto-replied
    MIME-Version: 1.0
    Content-Type: multipart/mixed; boundary="D"

    --D
    Content-Type: text/plain; charset=utf-8

    Delivery is delayed to these recipients or groups:

    kim@example.jp (kim@example.jp)

    Subject: Spring sale

    This message hasn't been delivered yet. Delivery will continue to be attempted.

    --D
    Content-Type: message/rfc822

    From: Example Shop <newsletter@example.com>
    To: kim@example.jp
    Subject: Spring sale
    Message-ID: <sale.3@app1.example.com>

    Buy now.
    --D--
    """
)

RELAY_DELAY = mail(
    """
    From: Mail Relay <relay@mx.example.com>
    To: newsletter@example.com
    Subject: Delivery Status Notification (Delay)
    Auto-Submitted: auto-replied

    This is an automatically generated Delivery Status Notification.

    THIS IS A WARNING MESSAGE ONLY.

    YOU DO NOT NEED TO RESEND YOUR MESSAGE.

    Delivery to the following recipients has been delayed.

           hanako@example.jp
    """
)

AUTO_GENERATED_DELAY = mail(
    """
    From: Mail Relay <relay@mx.example.com>
    To: newsletter@example.com
    Subject: Warning: message delayed
    Auto-Submitted: auto-generated
    MIME-Version: 1.0
    Content-Type: multipart/mixed; boundary="W"

    --W
    Content-Type: text/plain

    Your message to taro@example.jp has not yet been delivered.
    The server 192.0.2.30 did not answer; we will keep trying for 4 more days.

    --W
    Content-Type: text/rfc822-headers

    From: Example Shop <newsletter@example.com>
    To: taro@example.jp
    Subject: Spring sale

    --W--
    """
)

# a delivery-status part the RFC 3464 parser cannot read (no recipient field it knows)
UNREADABLE_DELAY_REPORT = mail(
    """
    From: Mail Relay <relay@mx.example.com>
    To: newsletter@example.com
    Subject: Delivery Status Notification
    Auto-Submitted: auto-replied
    MIME-Version: 1.0
    Content-Type: multipart/report; report-type=delivery-status; boundary="R"

    --R
    Content-Type: text/plain

    Delivery to <ichiro@example.jp> is taking longer than usual.

    --R
    Content-Type: message/delivery-status

    Reporting-MTA: dns; mx.example.com

    Recipient: rfc822; ichiro@example.jp
    Action: delayed
    Status: 4.4.1

    --R--
    """
)

BODY_ONLY_DELAY = mail(
    """
    From: postmaster@mail.example.com
    To: newsletter@example.com
    Subject: Message status

    This message has not yet been delivered to jiro@example.jp.
    The mail system will continue trying for 4 more days. No action is required on your part.
    """
)


@pytest.mark.parametrize(
    ("data", "recipient"),
    [
        (EXCHANGE_DELAY, "kim@example.jp"),
        (RELAY_DELAY, "hanako@example.jp"),
        (AUTO_GENERATED_DELAY, "taro@example.jp"),
        (UNREADABLE_DELAY_REPORT, "ichiro@example.jp"),
        (BODY_ONLY_DELAY, "jiro@example.jp"),
    ],
    ids=["exchange-delivery-delayed", "dsn-delay-subject", "auto-generated-warning", "dsn-part-unread", "body-only"],
)
def test_a_delay_warning_is_a_bounce_whose_reports_say_delayed(data: bytes, recipient: str) -> None:
    parsed = parse_message(data)
    assert parsed.kind is Kind.BOUNCE
    assert [(r.recipient, r.dsn_action) for r in parsed.reports] == [(recipient, "delayed")]


def test_an_auto_replied_delay_warning_is_not_vacation() -> None:
    assert parse_message(EXCHANGE_DELAY).kind is not Kind.VACATION


def test_an_auto_replied_report_with_a_delivery_status_part_is_not_vacation() -> None:
    assert parse_message(UNREADABLE_DELAY_REPORT).kind is not Kind.VACATION


def test_an_auto_replied_failure_notice_in_plain_text_is_not_vacation() -> None:
    data = mail(
        """
        From: Microsoft Outlook <MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@example.com>
        To: newsletter@example.com
        Subject: Undeliverable: Spring sale
        Auto-Submitted: auto-replied

        Delivery has failed to these recipients or groups:

        saburo@example.jp
        The email address you entered couldn't be found. 550 5.1.1 User unknown
        """
    )
    parsed = parse_message(data)
    assert parsed.kind is Kind.BOUNCE
    assert [(r.recipient, r.dsn_action) for r in parsed.reports] == [("saburo@example.jp", None)]


def test_a_persons_auto_reply_quoting_a_delivery_subject_is_still_vacation() -> None:
    data = mail(
        """
        From: Kenji Sato <kenji.sato@example.jp>
        To: newsletter@example.com
        Subject: Automatic reply: Delivery delayed: Spring sale
        Auto-Submitted: auto-replied

        I am out of the office until Monday; your message will be read then.
        """
    )
    assert parse_message(data).kind is Kind.VACATION


def test_a_shops_parcel_delay_notice_is_not_a_delay_warning() -> None:
    data = mail(
        """
        From: Example Shop <orders@example.com>
        To: kim@example.jp
        Subject: Delivery delayed: your order 1234

        Your delivery has been delayed by the carrier; it will now arrive on Friday.
        Questions? Write to help@example.com.
        """
    )
    assert parse_message(data).kind is Kind.NOT_BOUNCE


def test_a_plain_text_failure_notice_does_not_say_delayed() -> None:
    data = mail(
        """
        From: MAILER-DAEMON@mail.example.com
        To: newsletter@example.com
        Subject: failure notice

        Your message to shiro@example.jp could not be delivered.
        550 5.1.1 shiro@example.jp: Recipient address rejected: User unknown
        The message will not be retried.
        """
    )
    reports = parse_message(data).reports
    assert [(r.recipient, r.dsn_action) for r in reports] == [("shiro@example.jp", None)]


def test_a_report_whose_recipients_failed_beside_delayed_ones_is_no_delay_warning() -> None:
    mixed = UNREADABLE_DELAY_REPORT.replace(
        b"Status: 4.4.1\n", b"Status: 4.4.1\n\nRecipient: rfc822; goro@example.jp\nAction: failed\nStatus: 5.1.1\n"
    )
    assert b"Action: failed" in mixed
    assert delay_notice(Mail(mixed)) is False
    # each recipient the report reads keeps its own group's action: none is marked delayed for another's
    assert [(r.recipient, r.dsn_action) for r in parse_message(mixed).reports] == [("ichiro@example.jp", "delayed")]
