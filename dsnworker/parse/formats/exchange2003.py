"""Microsoft Exchange 5.5-2003 non-delivery reports ("did not reach the following recipient(s)").

These carry no delivery-status part. The text repeats the original's To/Subject/Sent (addresses
that are NOT the failed ones), then one block per failed recipient: "user@example.com on DATE",
indented reason lines, and (always, even where the headers were rewritten) a
"MSEXCH:IMS:...:N (000C05A6) Unknown Recipient" line whose code is Exchange's own error number.
000C05A6 always means the recipient does not exist.
"""

from __future__ import annotations

import re

from dsnworker.model import Kind, ParsedMessage, RecipientReport
from dsnworker.parse.limits import READ_RECIPIENTS
from dsnworker.parse.mail import Mail
from dsnworker.parse.text import clean_address, unfold

NAME = "exchange2003"
_START = "did not reach the following recipient"
_RECIPIENT = re.compile(r"^[ \t]*(\S{1,256}@[\w.\-]{1,255}) on [^\n]{4,80}$")
_MTS_ID = re.compile(r"The MTS-ID of the original message is:.*?(?=MSEXCH:|$)")


def parse(mail: Mail) -> ParsedMessage | None:
    body = mail.body_text
    at = body.find(_START)
    if at < 0 or not (_is_exchange(mail) or "MSEXCH:" in body):
        return None
    reports: list[RecipientReport] = []
    current: tuple[str, list[str]] | None = None
    for line in body[at:].split("\n")[1:400]:
        match = _RECIPIENT.match(line)
        if match:
            if current:
                reports.append(_report(*current))
            current = (match.group(1), [])
        elif current and line.strip():
            current[1].append(line.strip())
        elif current and current[1]:  # a blank line after the reason ends the block
            reports.append(_report(*current))
            current = None
        if len(reports) >= READ_RECIPIENTS:
            break
    if current:
        reports.append(_report(*current))
    return ParsedMessage(kind=Kind.BOUNCE, format=NAME, reports=tuple(reports[:READ_RECIPIENTS])) if reports else None


def _is_exchange(mail: Mail) -> bool:
    if mail.header("X-MS-Embedded-Report") or "X-MS-Embedded-Report" in mail.msg:
        return True
    mailer = mail.header("X-Mailer") + " " + mail.header("X-MimeOLE")
    return "Internet Mail Service" in mailer or "Microsoft Exchange" in mailer


def _report(recipient: str, lines: list[str]) -> RecipientReport:
    diagnostic = _MTS_ID.sub("", unfold(" ".join(lines))).strip()
    return RecipientReport(
        recipient=clean_address(recipient),
        dsn_action="failed",
        diagnostic=diagnostic or None,
    )
