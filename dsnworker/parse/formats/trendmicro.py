"""Trend Micro InterScan Messaging Security Suite (IMSS) bounces: the quoted SMTP exchange.

InterScan writes "Message from InterScan Messaging Security Suite" (or sends from "InterScan
MSS") and shows the failed exchange as "Sent <<< RCPT TO:<rcpt>" / "Received >>> 550 ...", or
only "Reason: Unable to deliver message to <rcpt> (and other recipients in the same domain)."
No delivery-status part is sent.
"""

from __future__ import annotations

import re

from dsnworker.model import Kind, ParsedMessage, RecipientReport
from dsnworker.parse.bounce_text import command_of, report_from_text
from dsnworker.parse.limits import READ_RECIPIENTS
from dsnworker.parse.mail import Mail
from dsnworker.parse.text import clean_address, find_addresses

NAME = "trendmicro"
_UNABLE = re.compile(r"Unable to deliver message to <([^<>\s]{1,512})>")


def parse(mail: Mail) -> ParsedMessage | None:
    body = mail.body_text
    if "InterScan" not in mail.from_ and "Message from InterScan" not in body[:2000]:
        return None
    reports: list[RecipientReport] = []
    sent = ""
    for line in body.split("\n")[:500]:
        text = line.strip()
        if text.startswith("Sent <<< "):
            sent = text[9:]
        elif text.startswith("Received >>> ") and text[13:14] in ("4", "5"):
            addresses = find_addresses(sent) if command_of(sent) == "RCPT" else []
            for address in addresses[:1] or [None]:
                reports.append(report_from_text(clean_address(address), text[13:], command=command_of(sent)))
    if not reports:
        for match in list(_UNABLE.finditer(body))[:READ_RECIPIENTS]:
            line = body[body.rfind("\n", 0, match.start()) + 1 : body.find("\n", match.end())]
            reports.append(report_from_text(clean_address(match.group(1)), line.strip().removeprefix("Reason:")))
    if not reports:
        return None
    return ParsedMessage(kind=Kind.BOUNCE, format=NAME, reports=tuple(reports[:READ_RECIPIENTS]))
