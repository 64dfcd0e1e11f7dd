"""Auto-replies (RFC 3834 and the out-of-office conventions that predate it) -> `vacation`.

The recipient is the person whose mailbox answered: the auto-reply's From.
"""

from __future__ import annotations

import re

from dsnworker.model import Kind, ParsedMessage, RecipientReport
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


def parse(mail: Mail) -> ParsedMessage | None:
    if _DAEMON.search(mail.from_):
        return None
    by_header = any(pattern.search(mail.header(name)) for name, pattern in _HEADERS if mail.header(name))
    if not (by_header or _SUBJECT.search(mail.subject)):
        return None
    recipient = header_address(mail.from_)  # a display name alone is nobody
    report = RecipientReport(recipient=recipient, diagnostic=mail.subject or None)
    return ParsedMessage(kind=Kind.VACATION, format=NAME, reports=(report,), subject=mail.subject or None)
