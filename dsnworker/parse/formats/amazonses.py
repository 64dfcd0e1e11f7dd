"""Amazon SES: its JSON notifications (SNS e-mail) and the DSNs it writes for its senders.

A notification's body is SES's JSON: `notificationType` (or `eventType` for event publishing) is
Bounce (one report per bouncedRecipients entry, bounceSubType stating the reason where it is a
category: MailboxFull, NoEmail, Suppressed, ...), Complaint (a feedback report), Delivery (success),
DeliveryDelay, or Reject (SES found a virus and sent to no one). E-mail transports fold long lines
with "!" + newline + space; that is undone first.
SES's older DSNs wrap the remote server's reply in its own words,
`5.1.0 - Unknown address error 550-'5.7.1 ... Access denied' (delivery attempts: 0)`; the quoted
reply is the diagnostic, its status beats the generic one SES puts in Status.
"""

from __future__ import annotations

import json
import re
from typing import Any

from dsnworker.model import Kind, ParsedMessage, RecipientReport, evolved
from dsnworker.parse import rfc3464
from dsnworker.parse.limits import READ_RECIPIENTS
from dsnworker.parse.mail import Mail
from dsnworker.parse.text import clean_address, find_reply_code, find_status, host_of, strip_type

NAME = "amazonses"
_SUBTYPE_HINTS = {
    "mailboxfull": "mailbox_full",
    "messagetoolarge": "message_too_big",
    "noemail": "user_unknown",
    "suppressed": "suppressed",
    "onaccountsuppressionlist": "suppressed",
}
_WRAPPED = re.compile(
    r"^([245]\.\d{1,3}\.\d{1,3}) - [^']{1,80}?([245]\d\d)[\- ]'(.*)'(?: \(delivery attempts: \d+\))?$"
)


def parse(mail: Mail) -> ParsedMessage | None:
    if mail.header("x-amz-sns-message-id") or "sns.amazonaws.com" in mail.from_.lower():
        return _notification(mail.body_text)
    marks = mail.header("X-SES-Outgoing") or mail.header("X-AWS-Outgoing") or "amazonses.com" in mail.from_.lower()
    if not marks or not mail.delivery_status:
        return None
    standard = rfc3464.standard(mail)
    reports = [_unwrap(r) for r in standard.reports] if standard else []
    return ParsedMessage(kind=Kind.BOUNCE, format=NAME, reports=tuple(reports)) if reports else None


def _unwrap(report: RecipientReport) -> RecipientReport:
    """SES's `N.N.N - words NNN-'remote reply'` -> the remote reply, its status and code."""
    match = _WRAPPED.match(report.diagnostic or "")
    if match is None:
        return report
    remote = match.group(3).strip()
    status = find_status(remote) or match.group(1)
    return evolved(report, diagnostic=f"{match.group(2)} {remote}", status=status, reply_code=match.group(2))


def _notification(body: str) -> ParsedMessage | None:
    text = body.replace("!\n ", "")
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        return None
    try:
        data = json.loads(text[start : end + 1])
        if isinstance(data, dict) and isinstance(data.get("Message"), str):  # a raw SNS envelope
            data = json.loads(data["Message"])
    except (ValueError, RecursionError):  # broken or hostile JSON: not a notification we can read
        return None
    if not isinstance(data, dict):
        return None
    kind = str(data.get("notificationType") or data.get("eventType") or "").lower()
    section = _dict(data.get({"deliverydelay": "deliveryDelay"}.get(kind, kind)))
    reporting = host_of(str(section.get("reportingMTA") or "")) or None
    if kind == "bounce":
        hint = _SUBTYPE_HINTS.get(str(section.get("bounceSubType") or "").lower())
        reports = [_recipient(r, "failed", reporting, hint) for r in _list(section.get("bouncedRecipients"))]
    elif kind == "deliverydelay":
        reports = [_recipient(r, "delayed", reporting, None) for r in _list(section.get("delayedRecipients"))]
    elif kind == "complaint":
        feedback = str(section.get("complaintFeedbackType") or "") or None
        reports = [
            RecipientReport(recipient=clean_address(str(r.get("emailAddress") or "")), feedback_type=feedback)
            for r in _list(section.get("complainedRecipients"))
        ]
        return ParsedMessage(kind=Kind.FEEDBACK, format=NAME, reports=tuple(reports)) if reports else None
    elif kind in ("delivery", "reject"):  # a success, or SES found a virus and sent to no one
        sent = section.get("recipients") if kind == "delivery" else _dict(data.get("mail")).get("destination")
        words = str(section.get("smtpResponse") or section.get("reason") or "")
        action, hint = ("delivered", None) if kind == "delivery" else ("failed", "virus_detected")
        entries = [{"emailAddress": r, "diagnosticCode": words} for r in sent or [] if isinstance(r, str)]
        reports = [_recipient(e, action, reporting, hint) for e in entries[:READ_RECIPIENTS]]
    else:
        return None
    return ParsedMessage(kind=Kind.BOUNCE, format=NAME, reports=tuple(reports)) if reports else None


def _recipient(entry: dict[str, Any], action: str, reporting: str | None, hint: str | None) -> RecipientReport:
    diagnostic = strip_type(str(entry.get("diagnosticCode") or "")) or None
    return RecipientReport(
        recipient=clean_address(str(entry.get("emailAddress") or "")),
        dsn_action=str(entry.get("action") or action).lower(),
        status=find_status(str(entry.get("status") or "")) or find_status(diagnostic),
        reply_code=find_reply_code(diagnostic),
        diagnostic=diagnostic,
        reporting_mta=reporting,
        hint=hint,
    )


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)][:READ_RECIPIENTS] if isinstance(value, list) else []
