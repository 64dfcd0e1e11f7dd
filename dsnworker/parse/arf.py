"""Abuse complaints: the Abuse Reporting Format (RFC 5965) and Microsoft's JMRP-style reports.

A complaint is not a bounce, but it is the strongest reason to stop mailing someone: each
complaining recipient becomes one `feedback` report.
"""

from __future__ import annotations

from dsnworker.model import Kind, ParsedMessage, RecipientReport
from dsnworker.parse.mail import Mail, part_text
from dsnworker.parse.returned import returned_message
from dsnworker.parse.text import field_blocks, header_address, strip_type

NAME = "arf"


def parse(mail: Mail) -> ParsedMessage | None:
    reports = mail.parts_of_type("message/feedback-report")
    if reports:
        return _from_fields(mail, part_text(reports[0]))
    if "report-type=feedback-report" in mail.header("Content-Type").replace(" ", "").lower():
        return _from_fields(mail, mail.body_text)
    if b"X-HmXmrOriginalRecipient" not in mail.raw:  # cheap test before looking for the original
        return None
    returned = returned_message(mail)
    if returned is not None and returned.get("X-HmXmrOriginalRecipient"):
        recipient = header_address(str(returned.get("X-HmXmrOriginalRecipient")))
        report = RecipientReport(recipient=recipient, feedback_type="abuse", recipient_source="returned")
        return ParsedMessage(kind=Kind.FEEDBACK, format="jmrp", reports=(report,))
    return None


def _from_fields(mail: Mail, text: str) -> ParsedMessage | None:
    fields: list[tuple[str, str]] = [pair for block in field_blocks(text) for pair in block]
    feedback_type = next((v.strip().lower() for n, v in fields if n == "feedback-type"), None)
    if feedback_type is None:
        return None
    # an address or nothing: "Undisclosed Recipients" is nobody to suppress
    recipients = [header_address(strip_type(v)) for n, v in fields if n in ("original-rcpt-to", "removal-recipient")]
    recipients = [r for r in recipients if r]
    read_in = "dsn"  # the report's own fields
    if not recipients:
        returned = returned_message(mail)
        to = str(returned.get("To", "")) if returned is not None else ""
        recipients = [r for r in [header_address(to)] if r]
        read_in = "returned"
    if not recipients:
        recipients = [None]  # type: ignore[list-item]
    source_ip = next((v for n, v in fields if n == "source-ip"), None)
    reporting = next((strip_type(v) for n, v in fields if n == "reporting-mta"), None)
    return ParsedMessage(
        kind=Kind.FEEDBACK,
        format=NAME,
        reports=tuple(
            RecipientReport(
                recipient=r,
                feedback_type=feedback_type,
                recipient_source=read_in if r else None,
                reporting_mta=reporting or None,
                diagnostic=f"feedback-type={feedback_type}" + (f" source-ip={source_ip}" if source_ip else ""),
            )
            for r in recipients
        ),
    )
