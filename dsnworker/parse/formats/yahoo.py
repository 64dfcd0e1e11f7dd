"""Yahoo! Mail's "Failure Notice" (qmail-derived): "Sorry, we were unable to deliver your message".

Yahoo's outbound MTA writes `<addr>:` then the remote server's reply, either as
`Remote host said: 550 5.1.1 ... [RCPT_TO]` (the bracket naming the SMTP command) or as
`550: 5.2.2 ...`, or its own sentence ("No mx record found for domain=...", "Unable to deliver
message after multiple retries, giving up"). The copy of the message starts at
"--- Below this line is a copy of the message.". X-YMailISG marks Yahoo's own hosts.
"""

from __future__ import annotations

import re

from dsnworker.model import Kind, ParsedMessage, RecipientReport
from dsnworker.parse.bounce_text import report_from_text
from dsnworker.parse.limits import READ_RECIPIENTS
from dsnworker.parse.mail import Mail
from dsnworker.parse.text import clean_address, unfold

NAME = "yahoo"
_START = "Sorry, we were unable to deliver your message to the following address"
_END = re.compile(r"(?m)^-{2,} ?Below this line is a copy of the message")
_RECIPIENT = re.compile(r"(?m)^<([^<>\s]{1,256}@[^<>\s]{1,255})>:[ \t]*$")
_COMMAND = re.compile(r"(?<!\s)\s*\[(RCPT_TO|MAIL_FROM|DATA|HELO|EHLO|CONNECT)\]\s*$")


def parse(mail: Mail) -> ParsedMessage | None:
    if not (mail.header("X-YMailISG") or mail.subject.strip().lower() == "failure notice"):
        return None
    body = mail.body_text
    at = body.find(_START)
    if at < 0:
        return None
    end = _END.search(body, at)
    text = body[at : end.start() if end else at + 20000]
    matches = list(_RECIPIENT.finditer(text))[:READ_RECIPIENTS]
    reports: list[RecipientReport] = []
    for index, match in enumerate(matches):
        stop = matches[index + 1].start() if index + 1 < len(matches) else len(text)
        diagnostic = unfold(text[match.end() : stop])
        diagnostic = re.sub(r"^Remote host said:\s*", "", diagnostic)
        command = _COMMAND.search(diagnostic)
        if command:
            diagnostic = diagnostic[: command.start()]
        verb = command.group(1).split("_")[0] if command else None
        report = report_from_text(clean_address(match.group(1)), diagnostic or None, command=verb, dsn_action="failed")
        reports.append(report)
    return ParsedMessage(kind=Kind.BOUNCE, format=NAME, reports=tuple(reports)) if reports else None
