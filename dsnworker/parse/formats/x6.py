"""X6: an unnamed gateway's "We had trouble delivering your message. Full details follow:" text.

Each failure is one sentence: "SMTP Server <MX> rejected recipient <RCPT> (Error following RCPT
command). It responded as follows: [550 5.1.1 User unknown]" - the remote host, the recipient,
the command and the reply in brackets. No delivery-status part is sent. Sisimai calls it X6.
"""

from __future__ import annotations

import re

from dsnworker.model import Kind, ParsedMessage
from dsnworker.parse.bounce_text import command_of, report_from_text
from dsnworker.parse.limits import READ_RECIPIENTS
from dsnworker.parse.mail import Mail
from dsnworker.parse.text import clean_address

NAME = "x6"
_MARKER = "We had trouble delivering your message. Full details follow:"
_FAILURE = re.compile(
    r"SMTP Server <([^<>\s]{1,255})> rejected recipient <([^<>\s]{1,512})> \(Error following ([A-Z ]{2,12}) "
    r"command\)\. It responded as follows: \[([^\]]{1,2000})\]?"
)


def parse(mail: Mail) -> ParsedMessage | None:
    body = mail.body_text
    if _MARKER not in body[:3000]:
        return None
    reports = [
        report_from_text(
            clean_address(m.group(2)), m.group(4), remote_mta=m.group(1).lower(), command=command_of(m.group(3))
        )
        for m in list(_FAILURE.finditer(" ".join(body.split())))[:READ_RECIPIENTS]
    ]
    if not reports:
        return None
    return ParsedMessage(kind=Kind.BOUNCE, format=NAME, reports=tuple(reports))
