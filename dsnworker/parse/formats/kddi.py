"""au one net / KDDI (dion.ne.jp) error notices: "Could not be delivered to: <addr>".

Sent from no-reply@*.dion.ne.jp (via *.auone-net.jp), sometimes with a Japanese preamble and a
bland Subject ("Mail"), so the bounce-subject heuristics miss them. After "Your mail sent on:"
comes `Could not be delivered to: <addr>` and, on the next line, the reason in English
("As their mailbox is full.", "Due to the following SMTP relay error: ...").
"""

from __future__ import annotations

import re

from dsnworker.model import Kind, ParsedMessage
from dsnworker.parse.bounce_text import report_from_text
from dsnworker.parse.limits import READ_RECIPIENTS
from dsnworker.parse.mail import Mail
from dsnworker.parse.text import clean_address, unfold

NAME = "kddi"
_MARKER = "Could not be delivered to:"
_RECIPIENT = re.compile(r"(?m)^[ \t]*Could not be delivered to:[ \t]*<?([^<>\s]{1,256}@[^<>\s]{1,255})>?[ \t]*$")


def parse(mail: Mail) -> ParsedMessage | None:
    sender = mail.from_.lower() + " " + mail.header("Reply-To").lower()
    if "dion.ne.jp" not in sender and "auone-net.jp" not in sender:
        return None
    body = mail.body_text
    if _MARKER not in body:
        return None
    matches = list(_RECIPIENT.finditer(body))[:READ_RECIPIENTS]
    reports = []
    for index, match in enumerate(matches):
        stop = matches[index + 1].start() if index + 1 < len(matches) else len(body)
        diagnostic = unfold(body[match.end() : stop].strip().split("\n\n", 1)[0])
        reports.append(report_from_text(clean_address(match.group(1)), diagnostic or None, dsn_action="failed"))
    return ParsedMessage(kind=Kind.BOUNCE, format=NAME, reports=tuple(reports)) if reports else None
