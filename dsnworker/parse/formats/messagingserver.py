"""Oracle (Sun, iPlanet) Communications Messaging Server and PMDF: the labelled-lines report.

Its text says "This report relates to a message you sent with the following header fields:" and
then, per recipient, "Recipient address:", "Original address:", "Reason:", "Diagnostic code:" and
"Remote system:" lines. "Reason:" is the server's own category: "Remote SMTP server has rejected
address" (the RCPT reply), "Server rejected MAIL FROM address", "Illegal host/domain name found".
Old PMDF versions declare a multipart whose boundary never occurs, so the raw text is read.
"""

from __future__ import annotations

import re

from dsnworker.model import Kind, ParsedMessage, RecipientReport
from dsnworker.parse import rfc3464
from dsnworker.parse.bounce_text import merge_reports, readable_text, report_from_text
from dsnworker.parse.limits import READ_RECIPIENTS
from dsnworker.parse.mail import Mail
from dsnworker.parse.text import clean_address, find_reply_code, host_of, strip_type

NAME = "messagingserver"
_MARKER = "This report relates to a message you sent with the following header fields:"
_LABEL = re.compile(
    r"(?m)^[ \t]{0,8}(Recipient address|Original address|Reason|Diagnostic code|Remote system):[ \t]*(.*)$"
)
# Messaging Server's Reason line names the step that failed: the SMTP command it answered
_COMMANDS = (("Remote SMTP server has rejected address", "RCPT"), ("Server rejected MAIL FROM address", "MAIL"))


def parse(mail: Mail) -> ParsedMessage | None:
    text = readable_text(mail)
    if _MARKER not in text[:5000]:
        return None
    blocks: list[dict[str, str]] = []
    for match in list(_LABEL.finditer(text))[:500]:
        label, value = match.group(1).lower(), match.group(2).strip()
        if label == "recipient address" or not blocks:
            if len(blocks) >= READ_RECIPIENTS:
                break
            blocks.append({})
        blocks[-1].setdefault(label, value)
    texts = [_report(block) for block in blocks if block.get("recipient address")]
    by_address = {(r.recipient or "").lower(): r for r in texts}
    standard = rfc3464.standard(mail)
    if standard is None:
        reports = texts
    else:
        reports = [
            merge_reports(r, by_address.get((r.recipient or "").lower())) for r in standard.reports[:READ_RECIPIENTS]
        ]
    if not reports:
        return None
    return ParsedMessage(kind=Kind.BOUNCE, format=NAME, reports=tuple(reports))


def _report(block: dict[str, str]) -> RecipientReport:
    reason = block.get("reason", "")
    command = next((c for phrase, c in _COMMANDS if phrase in reason), None)
    code = strip_type(block.get("diagnostic code"))
    # a remote server's reply says it all (the Reason line only wraps it); otherwise the Reason line
    # is Messaging Server's own statement of what failed, and the code only details it
    own = reason and code and reason not in code and not find_reply_code(code)
    diagnostic = f"{reason} {code}" if own else code or reason
    original = clean_address(block.get("original address"))
    return report_from_text(
        clean_address(block.get("recipient address")),
        diagnostic,
        original_recipient=original,
        remote_mta=host_of(block.get("remote system")),
        command=command,
    )
