"""OpenSMTPD bounces and delay reports: "This is the MAILER-DAEMON, please DO NOT REPLY".

OpenSMTPD lists the recipients unindented, one per line, as "RCPT: error" (the remote reply, or
its own words such as "Envelope expired" or "Domain does not exist"), between indented
boilerplate. Older versions send only this text; newer ones add a delivery-status part, whose
fields are kept and whose missing diagnostic is filled from the line.
"""

from __future__ import annotations

import re

from dsnworker.model import Kind, ParsedMessage, RecipientReport
from dsnworker.parse import rfc3464
from dsnworker.parse.bounce_text import merge_reports, report_from_text
from dsnworker.parse.limits import READ_RECIPIENTS
from dsnworker.parse.mail import Mail
from dsnworker.parse.text import clean_address

NAME = "opensmtpd"
_MARKER = re.compile(r"This is the MAILER-DAEMON, please DO NOT REPLY to this e-?mail")
_LINE = re.compile(r"(?m)^([^\s:<>]{1,512}@[^\s:<>]{1,255}): (.{1,2000})$")
_END = "Below is a copy of the original message"


def parse(mail: Mail) -> ParsedMessage | None:
    body = mail.body_text
    marker = _MARKER.search(body[:3000])
    if marker is None:
        return None
    end = body.find(_END, marker.end())
    text = body[marker.end() : end if end >= 0 else len(body)]
    delayed = "A message is delayed" in text
    lines: dict[str, RecipientReport] = {}
    for match in list(_LINE.finditer(text))[:READ_RECIPIENTS]:
        recipient = clean_address(match.group(1)) or match.group(1)
        diagnostic = " ".join(match.group(2).split())
        lines[recipient.lower()] = report_from_text(
            recipient, diagnostic, dsn_action="delayed" if delayed else "failed"
        )
    standard = rfc3464.standard(mail)
    if standard is None:
        reports = list(lines.values())
    else:
        reports = [merge_reports(r, lines.get((r.recipient or "").lower())) for r in standard.reports[:READ_RECIPIENTS]]
    if not reports:
        return None
    return ParsedMessage(kind=Kind.BOUNCE, format=NAME, reports=tuple(reports))
