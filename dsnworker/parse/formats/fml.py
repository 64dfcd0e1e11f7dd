"""fml (the Japanese mailing-list manager) error notices: loop alerts, refused posts, security alerts.

fml marks every message it sends with "X-MLServer: fml [...]". Its notices to a poster or the list
admin have fixed subjects ("Loop Alert: ...", "NOT MEMBER article from ...", "Security Alert")
and a first line saying which address is concerned ("Duplicated Message-ID in <list@...>."),
before "Original mail as follows:". The subject is fml's own statement of the cause.
"""

from __future__ import annotations

import re

from dsnworker.model import Kind, ParsedMessage
from dsnworker.parse.bounce_text import report_from_text
from dsnworker.parse.mail import Mail
from dsnworker.parse.text import clean_address

NAME = "fml"
_NOTICE = re.compile(
    r"fml system error message|Loop Alert: |Loop Back Warning: |WARNING: UNIX FROM Loop|NOT MEMBER article from|"
    r"reject mail |Spam mail from a spammer is rejected|are not member|Security Alert"
)
_ANGLE = re.compile(r"<([^<>\s]{1,512}@[^<>\s]{1,255})>")


def parse(mail: Mail) -> ParsedMessage | None:
    if not mail.header("X-MLServer").lower().startswith("fml"):
        return None
    if not _NOTICE.search(mail.subject):
        return None  # an ordinary list post or a command reply, not an error notice
    text = mail.body_text.split("Original mail as follows:", 1)[0]
    lines = [line.strip() for line in text.strip().split("\n\n", 1)[0].split("\n")[:20] if line.strip()]
    diagnostic = " ".join([mail.subject, *lines])  # the subject is fml's statement of the cause
    found = _ANGLE.search(diagnostic)
    recipient = clean_address(found.group(1)) if found else None
    return ParsedMessage(kind=Kind.BOUNCE, format=NAME, reports=(report_from_text(recipient, diagnostic),))
