"""Ipswitch (Progress) IMail Server bounces: "<cause>: <rcpt>" lines before "Original message follows."

IMail states the cause in its own words in front of each address ("Unknown user: rcpt",
"User mailbox exceeds allowed size: rcpt", "Delivery failed 20 attempts: rcpt") or gives the
remote reply; no delivery-status part is sent. Those fixed causes name the reason. It is known by
its X-Mailer ("<SMTP32 v8.22>") or its fixed subject, "Undeliverable Mail".
"""

from __future__ import annotations

import re

from dsnworker.model import Kind, ParsedMessage
from dsnworker.parse.bounce_text import report_from_text
from dsnworker.parse.limits import READ_RECIPIENTS
from dsnworker.parse.mail import Mail
from dsnworker.parse.text import clean_address

NAME = "imailserver"
_END = "Original message follows."
_LINE = re.compile(r"(?m)^([^\n:]{3,300}): <?([^\s<>:]{1,512}@[^\s<>:]{1,255})>?[ \t]*$")


def parse(mail: Mail) -> ParsedMessage | None:
    if not mail.header("X-Mailer").startswith("<SMTP32") and mail.subject != "Undeliverable Mail":
        return None
    body = mail.body_text
    end = body.find(_END)
    if end < 0:
        return None
    reports = []
    for match in list(_LINE.finditer(body[:end]))[:READ_RECIPIENTS]:
        cause = match.group(1).strip()
        reports.append(report_from_text(clean_address(match.group(2)), cause))
    if not reports:
        return None
    return ParsedMessage(kind=Kind.BOUNCE, format=NAME, reports=tuple(reports))
