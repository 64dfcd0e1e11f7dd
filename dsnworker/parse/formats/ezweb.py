"""au by KDDI's EZweb mail (Postmaster@ezweb.ne.jp, "Mail System Error - Returned Mail").

EZweb writes a Japanese preamble, then English: either "Each of the following recipients was
rejected by a remote mail server." with a `Recipient: <addr>` / `>>> COMMAND` / `<<< reply`
transcript per recipient, or "Your message was not delivered within N days and M hours." with the
recipients listed in angle brackets (the queue gave up: `expired`). A message refused by au's own
spam filter carries `X-SPASIGN: NG` and only the address: the recipient's filter refused it.
"""

from __future__ import annotations

import re

from dsnworker.model import Kind, ParsedMessage, RecipientReport
from dsnworker.parse.bounce_text import report_from_text
from dsnworker.parse.limits import READ_RECIPIENTS
from dsnworker.parse.mail import Mail
from dsnworker.parse.text import clean_address, unfold

NAME = "ezweb"
_END = re.compile(r"(?m)^-{10,}|^Content-Type:|^Received:")
_RECIPIENT = re.compile(r"(?m)^[ \t]*(?:Recipient: )?<([^<>\s]{1,256}@[^<>\s]{1,255})>[ \t]*$")
_COMMAND = re.compile(r"^>>> ?([A-Z]{4})\b")
_REJECTED = re.compile(r"Each of the following recipients was rejected by a remote\s+mail server\.")
_EXPIRED = re.compile(r"Your message was not delivered within \d+ days? and \d+ hours?\.")


def parse(mail: Mail) -> ParsedMessage | None:
    sender = mail.from_.lower()
    # find's end bound reads like a slice's (-1 too), without copying the header bytes
    if "ezweb.ne.jp" not in sender and mail.raw.find(b"(EZweb Mail)", 0, mail.raw.find(b"\n\n")) < 0:
        return None
    if mail.delivery_status:
        return None  # a standard DSN: the RFC 3464 parser reads it
    body = mail.body_text
    end = _END.search(body)
    text = body[: end.start()] if end else body[:20000]
    matches = list(_RECIPIENT.finditer(text))[:READ_RECIPIENTS]
    if not matches:
        return None
    expired = _EXPIRED.search(text)
    filtered = mail.header("X-SPASIGN").upper() == "NG"
    reports: list[RecipientReport] = []
    for index, match in enumerate(matches):
        stop = matches[index + 1].start() if index + 1 < len(matches) else len(text)
        lines = [ln.strip() for ln in text[match.end() : stop].split("\n") if ln.strip()]
        command = next((c.group(1) for c in map(_COMMAND.match, lines) if c), None)
        replies = [ln[3:].strip() for ln in lines if ln.startswith("<<<")]
        if replies:
            diagnostic = unfold(" ".join(replies))
        elif expired:
            after = text[expired.end() :].split("\n\n", 1)[0]
            diagnostic = unfold(expired.group(0) + " " + after)
        else:
            rejected = _REJECTED.search(text)
            diagnostic = unfold(rejected.group(0)) if rejected else None
        # au's own spam filter refused it (its header says so): the recipient's filter settings
        hint = "filtered" if filtered and not replies and not expired else None
        report = report_from_text(
            clean_address(match.group(1)), diagnostic, command=command, hint=hint, dsn_action="failed"
        )
        reports.append(report)
    return ParsedMessage(kind=Kind.BOUNCE, format=NAME, reports=tuple(reports))
