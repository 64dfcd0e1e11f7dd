"""Auto-replies (RFC 3834 and the out-of-office conventions that predate it) -> `vacation`.

The recipient is the person whose mailbox answered: the auto-reply's From. Delivery notices carry
`Auto-Submitted: auto-replied` too: one that looks like a DSN (a delivery-status part, a delivery
or delay subject) is left to the bounce parsers after this one.
"""

from __future__ import annotations

import re

from dsnworker.model import Kind, ParsedMessage, RecipientReport
from dsnworker.parse.bounce_text import DELAY_SUBJECT
from dsnworker.parse.mail import Mail
from dsnworker.parse.text import header_address

NAME = "autoreply"
_SUBJECT = re.compile(
    r"(?i)^\s*(?:auto(?:matic)?[ \-]?(?:reply|response|antwort)|auto:|out of (?:the )?office|"
    r"away from (?:my|the) (?:desk|office)|away until|on vacation|vacation reply|abwesenheit|"
    r"r[ée]ponse automatique|absence|自動応答|自動返信|不在)"
)
_HEADERS = (
    ("auto-submitted", re.compile(r"(?i)^auto-(?:replied|notified)")),
    ("x-autoreply", re.compile(r"(?i)^(?:yes|true)")),
    ("x-autorespond", re.compile(r".")),
    ("x-autoresponder", re.compile(r".")),
    ("precedence", re.compile(r"(?i)^auto[_-]reply")),
)
_DAEMON = re.compile(r"(?i)mailer-daemon|postmaster|mail delivery|mdaemon")
# Subjects a delivery notice opens with (delays: bounce_text.DELAY_SUBJECT). From the start only: a
# person's auto-reply to a mail about a failed delivery says "Automatic reply: Undeliverable ...".
_NOTICE_SUBJECT = re.compile(
    r"(?i)^\s*(?:undeliver|undelivered mail|delivery (?:status notification|failure|has failed|failed|notification)|"
    r"mail delivery (?:failed|failure)|returned mail|failure notice|non-?deliver|warning: could not send)"
)


def parse(mail: Mail) -> ParsedMessage | None:
    if _DAEMON.search(mail.from_):
        return None
    by_header = any(pattern.search(mail.header(name)) for name, pattern in _HEADERS if mail.header(name))
    if not (by_header or _SUBJECT.search(mail.subject)) or _delivery_notice(mail):
        return None
    recipient = header_address(mail.from_)  # a display name alone is nobody
    report = RecipientReport(
        recipient=recipient, diagnostic=mail.subject or None, recipient_source="sender" if recipient else None
    )
    return ParsedMessage(kind=Kind.VACATION, format=NAME, reports=(report,), subject=mail.subject or None)


def _delivery_notice(mail: Mail) -> bool:
    """A DSN, bounce or delay warning, which carries `Auto-Submitted: auto-replied` too (Postfix,
    Exchange): a delivery-status part, or a subject that opens like a delivery notice."""
    return (
        mail.delivery_status is not None
        or "delivery-status" in mail.header("Content-Type").lower()
        or bool(_NOTICE_SUBJECT.search(mail.subject) or DELAY_SUBJECT.search(mail.subject))
    )
