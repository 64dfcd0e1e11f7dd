"""The last resort for bounces in no format we know: addresses in the text and the lines near them.

Applies only to messages that look like bounces (daemon sender or bounce-like subject) or like delay
warnings; a delay warning's reports say `dsn_action="delayed"`.
"""

from __future__ import annotations

import re

from dsnworker.model import Kind, ParsedMessage
from dsnworker.parse.bounce_text import (
    as_delayed,
    candidate_recipients,
    delay_notice,
    looks_like_bounce,
    own_text,
    report_from_text,
)
from dsnworker.parse.mail import Mail
from dsnworker.parse.rfc3464 import text_near

NAME = "plaintext"
_ERROR_LINE = re.compile(
    r"(?im)^.*(?:\b[45]\d\d\b|\b[45]\.\d{1,3}\.\d{1,3}\b|error|fail|unknown|reject|denied|refused).*$"
)


def parse(mail: Mail) -> ParsedMessage | None:
    delayed = delay_notice(mail)
    if not (delayed or looks_like_bounce(mail)):
        return None
    text = own_text(mail)
    recipients = candidate_recipients(text, mail)[:50]
    reports = [report_from_text(r, text_near(text, r) or _first_error(text)) for r in recipients]
    if not reports:
        diagnostic = _first_error(text)
        if diagnostic is None:
            return None
        reports = [report_from_text(None, diagnostic)]
    if delayed:
        reports = as_delayed(reports)
    return ParsedMessage(kind=Kind.BOUNCE, format=NAME, reports=tuple(reports))


def _first_error(text: str) -> str | None:
    match = _ERROR_LINE.search(text)
    return match.group(0).strip() if match else None
