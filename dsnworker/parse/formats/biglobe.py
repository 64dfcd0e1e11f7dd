"""BIGLOBE (NEC's Japanese ISP) bounces: two dashed headings around the address and the cause.

BIGLOBE's relays write "----- The following addresses had delivery problems -----", the failed
addresses one per line, then "----- Non-delivered information -----" and the cause in their own
words, with no delivery-status part. Their full-mailbox sentence ("The number of messages in
recipient's mailbox exceeded the local limit.") is a fixed text of theirs.
"""

from __future__ import annotations

import re

from dsnworker.model import Kind, ParsedMessage
from dsnworker.parse.bounce_text import report_from_text
from dsnworker.parse.limits import READ_RECIPIENTS
from dsnworker.parse.mail import Mail
from dsnworker.parse.text import ADDRESS_RE, clean_address

NAME = "biglobe"
# (?<!-): each heading starts where its run of '-' starts, not at every '-' of a long run (quadratic)
_PROBLEMS = re.compile(r"(?<!-)-{3,} The following addresses had delivery problems -{3,}")
_INFORMATION = re.compile(r"(?<!-)-{3,} Non-delivered information -{3,}")


def parse(mail: Mail) -> ParsedMessage | None:
    body = mail.body_text
    head = body[:5000]
    problems = _PROBLEMS.search(head) if "addresses had delivery problems" in head else None  # literal first
    information = _INFORMATION.search(body, problems.end()) if problems else None
    if problems is None or information is None:  # McAfee's gateway uses the first heading alone
        return None
    listing = body[problems.end() : information.start()][:5000]
    recipients = [clean_address(m.group(0)) for m in ADDRESS_RE.finditer(listing)][:READ_RECIPIENTS]
    paragraph = body[information.end() :].lstrip("\n").split("\n\n", 1)[0]
    cause = " ".join(line.strip() for line in paragraph.split("\n")[:20] if not line.startswith("--"))
    reports = [report_from_text(r, cause) for r in dict.fromkeys(recipients) if r]
    if not reports:
        return None
    return ParsedMessage(kind=Kind.BOUNCE, format=NAME, reports=tuple(reports))
