"""Apache James bounces (its Bounce/NotifySender mailets): "Error message below:" and "Message details:".

James writes the error after "Error message below:" (or "Error message:"), the failed addresses
after "Failed recipient(s):" or on the "RCPT TO:" line of the indented "Message details:" block
(with Subject, Sent date, MAIL FROM, ...). No delivery-status part is sent.
"""

from __future__ import annotations

import re

from dsnworker.model import Kind, ParsedMessage
from dsnworker.parse.bounce_text import readable_text, report_from_text
from dsnworker.parse.limits import READ_RECIPIENTS
from dsnworker.parse.mail import Mail
from dsnworker.parse.text import clean_address, find_addresses

NAME = "apachejames"
_ERROR = re.compile(r"(?m)^Error message(?: below)?:[ \t]*$")
_FAILED = re.compile(r"(?m)^Failed recipient\(s\):[ \t]*$")
_RCPT = re.compile(r"(?m)^[ \t]+RCPT TO:[ \t]*(.{1,5000})$")


def parse(mail: Mail) -> ParsedMessage | None:
    body = readable_text(mail)
    details = body.find("Message details:")
    head = body[: details if details >= 0 else 20000]
    error = _ERROR.search(head) if "Error message" in head else None  # the literal first: a cheap test
    if error is None or (details < 0 and _FAILED.search(body) is None):
        return None
    ends = [i for i in (details, body.find("\n\n", error.end() + 1)) if i > error.end()]
    diagnostic = " ".join(body[error.end() : min(ends) if ends else error.end() + 2000].split())
    failed = _FAILED.search(body)
    listing = body[failed.end() :].lstrip("\n").split("\n\n", 1)[0] if failed else ""
    rcpt = _RCPT.search(body, details) if details >= 0 else None
    addresses = find_addresses(listing) or (find_addresses(rcpt.group(1)) if rcpt else [])
    reports = [report_from_text(clean_address(a), diagnostic) for a in dict.fromkeys(addresses)][:READ_RECIPIENTS]
    if not reports:
        return None
    return ParsedMessage(kind=Kind.BOUNCE, format=NAME, reports=tuple(reports))
