"""Google Groups' "the group you tried to contact may not exist, or you may not have permission".

Google Groups answers a post it refuses with a fixed, localised letter from
mailer-daemon@googlemail.com (no delivery-status part): a greeting, the group name, a bullet list
of possible causes, and a link to https://groups.google.com/support/. The refused address is the
group, in X-Failed-Recipients. The letter has one meaning in every language, that the group refused
this sender's post, so it states its reason itself: `rejected`.
"""

from __future__ import annotations

import re

from dsnworker.model import Kind, ParsedMessage, RecipientReport
from dsnworker.parse.limits import READ_RECIPIENTS
from dsnworker.parse.mail import Mail
from dsnworker.parse.text import clean_address, unfold

NAME = "googlegroups"
_END = re.compile(r"(?m)^-{3,} ?Original message")
_BULLET = re.compile(r"(?m)^[ \t]*\*[ \t]*\S")


def parse(mail: Mail) -> ParsedMessage | None:
    if "mailer-daemon@google" not in mail.from_.lower():
        return None
    body = mail.body_text
    if "groups.google.com/support" not in body:
        return None
    end = _END.search(body)
    text = body[: end.start()] if end else body[:5000]
    recipients = [clean_address(a) for a in mail.header("X-Failed-Recipients").split(",")]
    found = list(dict.fromkeys(r for r in recipients if r))[:READ_RECIPIENTS]
    diagnostic = unfold(text)[:2000] or None
    hint = "rejected" if _BULLET.search(text) else None
    reports = tuple(
        RecipientReport(recipient=r, dsn_action="failed", diagnostic=diagnostic, hint=hint) for r in (found or [None])
    )
    return ParsedMessage(kind=Kind.BOUNCE, format=NAME, reports=reports)
