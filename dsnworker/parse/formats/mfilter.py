"""m-FILTER (Digital Arts' Japanese mail filter gateway) bounces: dashed section labels.

m-FILTER writes a Japanese preamble, the failed addresses one per line, then
"-------server message" with the remote reply and "-------SMTP command" with the command that
reply answered, then "-------original message" (or "-------original mail info"). No
delivery-status part is sent.
"""

from __future__ import annotations

import re

from dsnworker.model import Kind, ParsedMessage
from dsnworker.parse.bounce_text import command_of, report_from_text
from dsnworker.parse.limits import READ_RECIPIENTS
from dsnworker.parse.mail import Mail
from dsnworker.parse.text import ADDRESS_RE, clean_address

NAME = "mfilter"
_SERVER = "-------server message"
_COMMAND = "-------SMTP command"
_SECTION = re.compile(r"(?m)^-------[a-zA-Z ]{1,40}$")


def parse(mail: Mail) -> ParsedMessage | None:
    body = mail.body_text
    at = body.find(_SERVER)
    if at < 0 or _COMMAND not in body:
        return None
    listing = body[max(0, at - 5000) : at].split("\n")
    recipients = [
        clean_address(line.strip()) for line in listing if ADDRESS_RE.fullmatch(line.strip().strip("<>") or "-")
    ]
    diagnostic = _section(body, _SERVER)
    command = command_of(_section(body, _COMMAND))
    named = [r for r in dict.fromkeys(recipients) if r][:READ_RECIPIENTS]
    reports = [report_from_text(r, diagnostic, command=command) for r in named]
    if not reports:
        return None
    return ParsedMessage(kind=Kind.BOUNCE, format=NAME, reports=tuple(reports))


def _section(body: str, label: str) -> str:
    at = body.find(label)
    if at < 0:
        return ""
    start = at + len(label)
    end = _SECTION.search(body, start)
    return " ".join(body[start : end.start() if end else start + 2000].split())
