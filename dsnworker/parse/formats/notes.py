"""Lotus Notes' SMTP MTA (the pre-Domino gateway): "------- Failure Reasons --------" blocks.

Between "------- Failure Reasons --------" and "------- Returned Message --------" it writes, per
recipient, its own sentence for the cause followed by the address on the next line. No
delivery-status part is sent. "User not listed in public Name & Address Book" (in Japanese
versions "ディレクトリのリストにありません") is the gateway's own word for an unknown user.
"""

from __future__ import annotations

import re

from dsnworker.model import Kind, ParsedMessage
from dsnworker.parse.bounce_text import report_from_text
from dsnworker.parse.limits import READ_RECIPIENTS
from dsnworker.parse.mail import Mail
from dsnworker.parse.text import ADDRESS_RE, clean_address

NAME = "notes"
_START = re.compile(r"(?m)^-{5,} Failure Reasons +-{5,}[ \t]*$")
_END = re.compile(r"(?m)^-{5,} Returned Message +-{5,}[ \t]*$")


def parse(mail: Mail) -> ParsedMessage | None:
    body = mail.body_text
    head = body[:5000]
    start = _START.search(head) if "Failure Reasons" in head else None  # the literal first: a cheap test
    if start is None:
        return None
    end = _END.search(body, start.end())
    reports = []
    cause: list[str] = []
    for line in body[start.end() : end.start() if end else len(body)].split("\n")[:300]:
        text = line.strip()
        if ADDRESS_RE.fullmatch(text.strip("<>") or "-"):
            diagnostic = " ".join(cause)
            reports.append(report_from_text(clean_address(text), diagnostic))
            cause = []
        elif text:
            cause.append(text)
        if len(reports) >= READ_RECIPIENTS:
            break
    if not reports:
        return None
    return ParsedMessage(kind=Kind.BOUNCE, format=NAME, reports=tuple(reports))
