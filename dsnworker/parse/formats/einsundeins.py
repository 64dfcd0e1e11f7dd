"""1&1 (IONOS) and GMX bounces: United Internet's MTA, Exim's opening sentences in its own layout.

After "This message was created automatically by mail delivery software." and "The following
address failed:" it writes the address alone on a line ("rcpt@...", "<rcpt@...>" or
"\"rcpt@...\":"), then either "Reason:" / "For the following reason:" and its own words, or
"SMTP error from remote server after RCPT command:", "host: MX" and the remote reply, up to
"--- The header of the original message is following. ---". No delivery-status part is sent.
"""

from __future__ import annotations

import re

from dsnworker.model import Kind, ParsedMessage, RecipientReport
from dsnworker.parse.bounce_text import command_of, report_from_text
from dsnworker.parse.limits import READ_RECIPIENTS
from dsnworker.parse.mail import Mail
from dsnworker.parse.text import clean_address

NAME = "einsundeins"
_END = "--- The header of the original message is following. ---"
_START = re.compile(r"The following address\s+failed:")
_ADDRESS = re.compile(r'^["<]?([^\s"<>]{1,512}@[^\s"<>]{1,255})[">]?:?$')
_LABEL = re.compile(r"^(?:Reason|For the following reason):$")
_ERROR_FROM = re.compile(r"^SMTP error from remote server (?:after|for) (.{1,40}?) command:?$")


def parse(mail: Mail) -> ParsedMessage | None:
    body = mail.body_text
    end = body.find(_END)
    if end < 0:
        return None
    start = _START.search(body, 0, end)
    if start is None:
        return None
    reports: list[RecipientReport] = []
    recipient = remote = command = None
    lines: list[str] = []
    for line in [*body[start.end() : end].split("\n")[:400], "\x00"]:
        text = line.strip()
        address = _ADDRESS.match(text)
        if (address or text == "\x00") and recipient:
            reports.append(_report(recipient, lines, remote, command))
            remote = command = None
            lines = []
        if address:
            recipient = clean_address(address.group(1))
        elif error := _ERROR_FROM.match(text):
            command = command_of(error.group(1))
        elif text.startswith("host: "):
            remote = text[6:].split()[0].lower() if text[6:].split() else None
        elif text and not _LABEL.match(text) and text != "\x00":
            lines.append(text)
        if len(reports) >= READ_RECIPIENTS:
            break
    if not reports:
        return None
    return ParsedMessage(kind=Kind.BOUNCE, format=NAME, reports=tuple(reports))


def _report(recipient: str, lines: list[str], remote: str | None, command: str | None) -> RecipientReport:
    diagnostic = " ".join(lines)
    return report_from_text(recipient, diagnostic, remote_mta=remote, command=command)
