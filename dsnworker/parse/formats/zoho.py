"""Zoho Mail bounces: "RCPT Invalid Address, ERROR_CODE :550, ERROR_CODE :<reply text>" lines.

Zoho borrows Exim's opening sentences ("This message was created automatically by mail delivery
software.") but lists each recipient unindented on one line, with its own label ("Invalid
Address", "Error") and the remote reply split in two "ERROR_CODE :" fields: the reply code, then
the text. No delivery-status part is sent.
"""

from __future__ import annotations

import re

from dsnworker.model import Kind, ParsedMessage
from dsnworker.parse.bounce_text import report_from_text
from dsnworker.parse.limits import READ_RECIPIENTS
from dsnworker.parse.mail import Mail
from dsnworker.parse.text import clean_address

NAME = "zoho"
_LINE = re.compile(
    r"(?m)^([^\s<>]{1,512}@[^\s<>]{1,255}) [^,\n]{0,80}, ERROR_CODE :([245]\d\d)?, ERROR_CODE :[ ,]*(.{0,2000})$"
)


def parse(mail: Mail) -> ParsedMessage | None:
    body = mail.body_text
    if "ERROR_CODE :" not in body:
        return None
    reports = []
    for match in list(_LINE.finditer(body))[:READ_RECIPIENTS]:
        diagnostic = " ".join(f"{match.group(2) or ''} {match.group(3)}".split())
        reports.append(report_from_text(clean_address(match.group(1)), diagnostic, reply_code=match.group(2)))
    if not reports:
        return None
    return ParsedMessage(kind=Kind.BOUNCE, format=NAME, reports=tuple(reports))
