"""X3: an unnamed MTA's "This is an automatically generated Delivery Status Notification." text.

It lists the recipients as "* rcpt@..." under "Delivery to the following recipients failed
permanently:" and, under "Technical details:", the session line "SMTP:RCPT host 192.0.2.8: 553
...": the command, the remote host and its reply. Versions whose delivery-status part names the
recipients are left to the standard parser; this module reads the others. Sisimai calls this format X3.
"""

from __future__ import annotations

import re

from dsnworker.model import Kind, ParsedMessage
from dsnworker.parse import rfc3464
from dsnworker.parse.bounce_text import command_of, report_from_text
from dsnworker.parse.limits import READ_RECIPIENTS
from dsnworker.parse.mail import Mail
from dsnworker.parse.text import clean_address

NAME = "x3"
_MARKER = "This is an automatically generated Delivery Status Notification."
_RECIPIENT = re.compile(r"(?m)^[ \t]+\* ([^\s<>]{1,512}@[^\s<>]{1,255})[ \t]*$")
_SESSION = re.compile(r"(?m)^SMTP:([A-Z ]{2,12}?) host ([\w.\-\[\]:]{1,255}): (.{1,2000})$")


def parse(mail: Mail) -> ParsedMessage | None:
    body = mail.body_text
    if _MARKER not in body[:3000] or rfc3464.standard(mail) is not None:
        return None
    details = body.find("Technical details:")
    listing = body[: details if details >= 0 else len(body)]
    recipients = [clean_address(m.group(1)) for m in _RECIPIENT.finditer(listing)][:READ_RECIPIENTS]
    session = _SESSION.search(body, details) if details >= 0 else None
    if session:
        diagnostic, command, remote = session.group(3), command_of(session.group(1)), session.group(2).lower()
    else:
        diagnostic = " ".join(body[details + 18 :].split("====", 1)[0].split()) if details >= 0 else ""
        command = remote = None
    reports = [report_from_text(r, diagnostic, command=command, remote_mta=remote) for r in recipients if r]
    if not reports:
        return None
    return ParsedMessage(kind=Kind.BOUNCE, format=NAME, reports=tuple(reports))
