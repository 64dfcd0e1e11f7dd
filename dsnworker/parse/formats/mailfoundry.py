"""MailFoundry gateway bounces: "Unable to deliver message to: <rcpt>" and the remote's answer.

MailFoundry writes, per recipient, "Unable to deliver message to: <rcpt>", "Delivery failed for
the following reason:" and "HOST[IP] responded with failure: 552 ...", then whether it will try
again. No delivery-status part is sent.
"""

from __future__ import annotations

import re

from dsnworker.model import Kind, ParsedMessage
from dsnworker.parse.bounce_text import report_from_text
from dsnworker.parse.limits import READ_RECIPIENTS
from dsnworker.parse.mail import Mail
from dsnworker.parse.text import clean_address

NAME = "mailfoundry"
_ENTRY = re.compile(
    r"Unable to deliver message to: <([^<>\s]{1,512})>\s+Delivery failed for the following reason:\s+(.{1,2000}?)"
    r"(?:\n\s*\n|$)",
    re.S,
)
_RESPONDED = re.compile(r"^([\w.\-]{1,255})\[[^\]]{0,64}\] responded with failure: ")


def parse(mail: Mail) -> ParsedMessage | None:
    body = mail.body_text
    if "Delivery failed for the following reason:" not in body[:5000]:
        return None
    reports = []
    for match in list(_ENTRY.finditer(body[:50000]))[:READ_RECIPIENTS]:
        reason = " ".join(match.group(2).split())
        responded = _RESPONDED.match(reason)
        remote = responded.group(1).lower() if responded else None
        diagnostic = reason[responded.end() :] if responded else reason
        reports.append(report_from_text(clean_address(match.group(1)), diagnostic, remote_mta=remote))
    if not reports:
        return None
    return ParsedMessage(kind=Kind.BOUNCE, format=NAME, reports=tuple(reports))
