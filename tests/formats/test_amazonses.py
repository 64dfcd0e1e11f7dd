# ruff: noqa: E501  (bounce lines are as long as the provider writes them)
"""Amazon SES: JSON notifications by e-mail, and SES's own DSNs."""

from __future__ import annotations

from dsnworker.model import Kind
from dsnworker.parse import parse_message

HEAD = b"""From: SES Notifications <no-reply@sns.amazonaws.com>
To: ops@example.org
Subject: AWS Notification Message
x-amz-sns-message-id: 0b7f8a4e-0000-5bae-bf50-8fc1aad3f981
Content-Type: text/plain; charset=UTF-8

"""
FOOTER = b"""

--
If you wish to stop receiving notifications from this topic, please click or visit the link below to unsubscribe:
https://sns.us-west-2.amazonaws.com/unsubscribe.html?SubscriptionArn=arn:aws:sns:us-west-2:123456789012:ses
"""


def notification(json_text: bytes) -> bytes:
    return HEAD + json_text + FOOTER


BOUNCE = notification(
    b'{"notificationType":"Bounce","bounce":{"bounceType":"Transient","bounceSubType":"MailboxFull",'
    b'"bouncedRecipients":[{"emailAddress":"alice@example.com","action":"failed","status":"5.2.2",'
    b'"diagnosticCode":"smtp; 552 5.2.2 Mailbox full"},{"emailAddress":"bob@example.com"}],'
    b'"reportingMTA":"dsn; a27-23.smtp-out.us-west-2.amazonses.com"},"mail":{"source":"news@example.org"}}'
)


def test_bounce_notification_gives_one_report_per_bounced_recipient() -> None:
    parsed = parse_message(BOUNCE)
    assert parsed.format == "amazonses"
    assert [r.recipient for r in parsed.reports] == ["alice@example.com", "bob@example.com"]
    first = parsed.reports[0]
    assert (first.status, first.reply_code, first.diagnostic) == ("5.2.2", "552", "552 5.2.2 Mailbox full")
    assert first.reporting_mta == "a27-23.smtp-out.us-west-2.amazonses.com"


def test_bounce_sub_type_mailbox_full_is_stated_as_the_hint() -> None:
    assert {r.hint for r in parse_message(BOUNCE).reports} == {"mailbox_full"}


def test_suppressed_sub_type_is_suppressed() -> None:
    data = notification(
        b'{"notificationType":"Bounce","bounce":{"bounceType":"Permanent","bounceSubType":"OnAccountSuppressionList",'
        b'"bouncedRecipients":[{"emailAddress":"carol@example.com","diagnosticCode":"Amazon SES did not send the message"}]}}'
    )
    assert parse_message(data).reports[0].hint == "suppressed"


def test_complaint_is_feedback_with_its_type() -> None:
    data = notification(
        b'{"notificationType":"Complaint","complaint":{"complainedRecipients":[{"emailAddress":"dave@example.com"}],'
        b'"complaintFeedbackType":"abuse"},"mail":{}}'
    )
    parsed = parse_message(data)
    assert parsed.kind is Kind.FEEDBACK
    assert (parsed.reports[0].recipient, parsed.reports[0].feedback_type) == ("dave@example.com", "abuse")


def test_delivery_is_a_success_report() -> None:
    data = notification(
        b'{"notificationType":"Delivery","mail":{},"delivery":{"recipients":["erin@example.com"],'
        b'"smtpResponse":"250 2.6.0 Message received"}}'
    )
    report = parse_message(data).reports[0]
    assert (report.recipient, report.dsn_action, report.status) == ("erin@example.com", "delivered", "2.6.0")


def test_line_folding_with_exclamation_mark_is_undone() -> None:
    folded = BOUNCE.replace(b'"bob@example.com"', b'"bob@exa!\n mple.com"')
    assert [r.recipient for r in parse_message(folded).reports] == ["alice@example.com", "bob@example.com"]


def test_broken_json_is_not_a_bounce_and_does_not_raise() -> None:
    assert parse_message(notification(b'{"notificationType":"Bounce","bounce":')).kind is Kind.NOT_BOUNCE


def test_wrapped_remote_reply_in_an_ses_dsn_is_unwrapped() -> None:
    data = b"""From: MAILER-DAEMON@email-bounces.amazonses.com
To: sender@example.org
Subject: Delivery Status Notification (Failure)
X-AWS-Outgoing: 192.0.2.156
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="b1"

--b1
Content-Type: text/plain

The following message to <frank@example.com> was undeliverable.

--b1
Content-Type: message/delivery-status

Reporting-MTA: dns; a192-79.smtp-out.amazonses.com

Final-Recipient: rfc822;frank@example.com
Action: failed
Status: 5.0.0 (permanent failure)
Diagnostic-Code: smtp; 5.1.0 - Unknown address error 550-'5.2.2 <frank@example.com>... Mailbox Full' (delivery attempts: 0)

--b1--
"""
    report = parse_message(data).reports[0]
    assert report.diagnostic == "550 5.2.2 <frank@example.com>... Mailbox Full"
    assert (report.status, report.reply_code) == ("5.2.2", "550")


def test_hostile_deeply_nested_json_does_not_raise() -> None:
    assert parse_message(notification(b'{"a":' * 100_000 + b"1" + b"}" * 100_000)).kind is Kind.NOT_BOUNCE


def test_reject_event_reports_every_destination_as_a_virus_refusal() -> None:
    data = notification(
        b'{"eventType":"Reject","mail":{"destination":["gina@example.com","hank@example.com"]},'
        b'"reject":{"reason":"Bad content"}}'
    )
    reports = parse_message(data).reports
    assert [(r.recipient, r.hint, r.diagnostic) for r in reports] == [
        ("gina@example.com", "virus_detected", "Bad content"),
        ("hank@example.com", "virus_detected", "Bad content"),
    ]


def test_open_and_click_events_are_not_bounces() -> None:
    data = notification(b'{"eventType":"Open","mail":{"destination":["ivy@example.com"]},"open":{}}')
    assert parse_message(data).kind is Kind.NOT_BOUNCE
