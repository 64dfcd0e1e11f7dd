"""The last resort for bounces in no format we know: the recipients the text names, and the lines
next to them.

Applies only to messages that look like bounces (daemon sender or bounce-like subject) or like delay
warnings; a delay warning's reports say `dsn_action="delayed"`. Only addresses in recipient position
count (`parse.recipients`): not the returned message's headers, help prose or the sender's own
bounce address.
"""

from __future__ import annotations

import re

from dsnworker.model import Kind, ParsedMessage
from dsnworker.parse.bounce_text import as_delayed, delay_notice, looks_like_bounce, own_text, report_from_text
from dsnworker.parse.mail import Mail
from dsnworker.parse.recipients import own_addresses, recipients_in_text
from dsnworker.parse.rfc3464 import text_near

NAME = "plaintext"
# A line with an SMTP reply or status code says more than one that only says "error". Searched for
# the code or word alone, then widened to its line: `^.*(?:...).*$` backtracks over every line.
_CODE = re.compile(r"(?m)(?:^|[\s:(\[])[45]\d\d[ \-]|\b[45]\.\d{1,3}\.\d{1,3}\b")
_ERROR_WORD = re.compile(r"(?i)error|fail|unknown|reject|denied|refused")


def parse(mail: Mail) -> ParsedMessage | None:
    delayed = delay_notice(mail)
    if not (delayed or looks_like_bounce(mail)):
        return None
    text = own_text(mail)
    recipients = recipients_in_text(text, own_addresses(mail), mail.limits_reached)
    others = frozenset(r.lower() for r in recipients)
    first_error = _first_error(text)  # once: the same for every recipient the text says nothing near
    reports = [report_from_text(r, text_near(text, r, others) or first_error) for r in recipients]
    if not reports:
        if first_error is None:
            return None
        reports = [report_from_text(None, first_error)]
    if delayed:
        reports = as_delayed(reports)
    return ParsedMessage(kind=Kind.BOUNCE, format=NAME, reports=tuple(reports))


def _first_error(text: str) -> str | None:
    """The first line with a reply or status code, else the first that says it failed.

    As the line regex it replaces (`^.*(?:code).*$`) read it: where the next line starts with a
    reply code, found through the newline before it, that line comes along.
    """
    code = _CODE.search(text)
    match = code or _ERROR_WORD.search(text)
    if match is None:
        return None
    start = text.rfind("\n", 0, match.start()) + 1
    end = text.find("\n", start)
    if code is not None and end >= 0 and _CODE.match(text, end):
        end = text.find("\n", end + 1)
    return text[start : end if end >= 0 else len(text)].strip()
