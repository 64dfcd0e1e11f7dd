"""HCL (IBM, Lotus) Domino bounces: "Your message ... was not delivered to: ... because: ...".

Domino's text has three labelled paragraphs: the returned message's subject after "Your message",
the recipients after "was not delivered to:" and the cause after "because:". The cause is Domino's
own sentence when the router refused the address ("User x (rcpt) not listed in Domino
Directory", in the server's language), else the remote reply. A delivery-status part, when sent,
keeps its fields; the cause fills in a missing diagnostic.
"""

from __future__ import annotations

import re

from dsnworker.model import Kind, ParsedMessage, evolved
from dsnworker.parse import rfc3464
from dsnworker.parse.bounce_text import report_from_text
from dsnworker.parse.limits import READ_RECIPIENTS
from dsnworker.parse.mail import Mail
from dsnworker.parse.text import ADDRESS_RE, clean_address

NAME = "domino"
_NOT_DELIVERED = re.compile(r"(?m)^was not delivered to:[ \t]*$")
_BECAUSE = re.compile(r"(?m)^because:[ \t]*$")


def parse(mail: Mail) -> ParsedMessage | None:
    body = mail.body_text
    # the literal before the "^" searches: those are tried at every position of the text
    if "Your message" not in body[:3000] or "was not delivered to:" not in body:
        return None
    listed = _NOT_DELIVERED.search(body)
    because = _BECAUSE.search(body, listed.end()) if listed else None
    if listed is None or because is None:
        return None
    recipients = [clean_address(m.group(0)) for m in ADDRESS_RE.finditer(body[listed.end() : because.start()][:5000])]
    cause = " ".join(body[because.end() :].lstrip("\n").split("\n\n", 1)[0].split())
    standard = rfc3464.standard(mail)
    if standard is not None:
        reports = [evolved(r, diagnostic=r.diagnostic or cause or None) for r in standard.reports]
    else:
        reports = [report_from_text(r, cause) for r in dict.fromkeys(recipients) if r]
    if not reports:
        return None
    return ParsedMessage(kind=Kind.BOUNCE, format=NAME, reports=tuple(reports[:READ_RECIPIENTS]))
