"""Verizon Wireless' MMS gateway (vzwpix.com, vtext.com): "Message could not be delivered to mobile."

The gateway writes that sentence, "Error: <cause>" and, under "Original Message:", the returned
message's From/To/Subject lines, whose To is the failed phone address. No delivery-status part is
sent. "No valid recipients for this MM" is its own word for a number that is not a subscriber.
"""

from __future__ import annotations

import re

from dsnworker.model import Kind, ParsedMessage
from dsnworker.parse.bounce_text import report_from_text
from dsnworker.parse.mail import Mail
from dsnworker.parse.text import clean_address

NAME = "verizon"
_MARKER = "Message could not be delivered to mobile."
_ERROR = re.compile(r"(?m)^Error: (.{1,500})$")
_TO = re.compile(r"(?m)^To: (.{1,500})$")


def parse(mail: Mail) -> ParsedMessage | None:
    body = mail.body_text
    if _MARKER not in body[:2000]:
        return None
    error = _ERROR.search(body)
    original = body.find("Original Message:")
    to = _TO.search(body, original) if original >= 0 else None
    diagnostic = error.group(1).strip() if error else ""
    recipient = clean_address(to.group(1)) if to else None
    return ParsedMessage(kind=Kind.BOUNCE, format=NAME, reports=(report_from_text(recipient, diagnostic),))
