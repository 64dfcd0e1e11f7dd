"""Courier MTA bounces: the SMTP exchange quoted under each recipient, beside the standard part.

Courier writes "running the Courier mail server" and, per recipient, "<RCPT>:", the remote host
("    mx.example.org [192.0.2.1]:") and the exchange: ">>> RCPT TO:<...>" (the command) and
"<<< 550 ..." (the reply), or only "<<< " and Courier's own words ("No such domain."). Its
delivery-status part says "Status: 5.0.0"; the exchange gives the command and the specific code.
"""

from __future__ import annotations

import re

from dsnworker.model import Kind, ParsedMessage, RecipientReport
from dsnworker.parse import rfc3464
from dsnworker.parse.bounce_text import command_of, join_reply, merge_reports, report_from_text
from dsnworker.parse.limits import READ_RECIPIENTS
from dsnworker.parse.mail import Mail
from dsnworker.parse.text import clean_address

NAME = "courier"
_MARKER = "running the Courier mail server"
_RECIPIENT = re.compile(r"^<([^<>\s]{1,512}@[^<>\s]{1,255})>:$")
_HOST = re.compile(r"^([\w.\-]{1,255}) \[[\d.:a-fA-F]{1,64}\]:$")


def parse(mail: Mail) -> ParsedMessage | None:
    body = mail.body_text
    if _MARKER not in body[:2000]:
        return None
    texts: dict[str, RecipientReport] = {}
    current: list[str] = []
    recipient = remote = command = None
    for line in [*body.split("\n")[:1000], ""]:
        text = line.strip()
        if (_RECIPIENT.match(text) or not text or text.startswith("----")) and recipient and current:
            diagnostic = join_reply(current)
            texts[recipient.lower()] = report_from_text(recipient, diagnostic, remote_mta=remote, command=command)
            recipient, current = None, []
        if found := _RECIPIENT.match(text):
            recipient, remote, command, current = clean_address(found.group(1)), None, None, []
        elif (host := _HOST.match(text)) and recipient:
            remote = host.group(1).lower()
        elif text.startswith(">>> ") and recipient:
            command = command_of(text[4:])
        elif text.startswith("<<< ") and recipient:
            current.append(text[4:])
    standard = rfc3464.standard(mail)
    if standard is None:
        reports = list(texts.values())[:READ_RECIPIENTS]
    else:
        reports = [merge_reports(r, texts.get((r.recipient or "").lower())) for r in standard.reports[:READ_RECIPIENTS]]
    if not reports:
        return None
    return ParsedMessage(kind=Kind.BOUNCE, format=NAME, reports=tuple(reports))
