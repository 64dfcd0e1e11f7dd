"""An unnamed Japanese MTA ("Mail2000"-style relays): "---The following addresses had delivery errors---".

Its text lists each failed address with the cause in brackets, "rcpt@example.com [User unknown]",
under "The original message was received at ..." and that heading; no delivery-status part.
Sisimai calls this format X1. The bracketed text is the server's own account of the failure.
"""

from __future__ import annotations

import re

from dsnworker.model import Kind, ParsedMessage
from dsnworker.parse.bounce_text import report_from_text
from dsnworker.parse.limits import READ_RECIPIENTS
from dsnworker.parse.mail import Mail, part_text
from dsnworker.parse.text import clean_address

NAME = "x1"
_HEADING = re.compile(r"(?m)^-{3}The following addresses had delivery errors-{3}[ \t]*$")
_LINE = re.compile(r"^([^\s\[\]<>]{1,512}@[^\s\[\]<>]{1,255}) \[(.{1,500})\]\s*$")


def parse(mail: Mail) -> ParsedMessage | None:
    if b"had delivery errors---" not in mail.raw:
        return None
    # its Content-Type is often folded without a ';' ("text/plain\n charset=..."): read every text leaf
    body = "\n".join(part_text(part) for ctype, part in mail.leaves if ctype.startswith("text/"))
    heading = _HEADING.search(body[:5000])
    if heading is None:
        return None
    reports = []
    for line in body[heading.end() :].lstrip("\n").split("\n")[:READ_RECIPIENTS]:
        match = _LINE.match(line.strip())
        if match is None:
            break
        reports.append(report_from_text(clean_address(match.group(1)), match.group(2)))
    if not reports:
        return None
    return ParsedMessage(kind=Kind.BOUNCE, format=NAME, reports=tuple(reports))
