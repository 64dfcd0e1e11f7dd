"""Exim bounces and delay warnings: the plain-text list of failed addresses with their errors.

Exim (and Exim-based relays such as MXLogic's) writes "This message was created automatically by
mail delivery software." (or "by the SMTP relay on HOST."), then "The following address(es)
failed:" and, per address, a two-space indented
line with the address and four-space indented lines: "host NAME [IP]", "SMTP error from remote
mail server after RCPT TO:<...>:" and the reply, or Exim's own words ("retry timeout exceeded").
Its optional delivery-status part says only "Status: 5.0.0" and a folded copy of the reply, so the
text is read first and the standard part only fills in what the text lacks.
"""

from __future__ import annotations

import re

from dsnworker.model import Kind, ParsedMessage, RecipientReport, evolved
from dsnworker.parse import rfc3464
from dsnworker.parse.bounce_text import command_of, join_reply, merge_reports, report_from_text
from dsnworker.parse.limits import READ_RECIPIENTS
from dsnworker.parse.mail import Mail
from dsnworker.parse.text import clean_address, find_addresses

NAME = "exim"
_MARKERS = ("This message was created automatically by", "could not be delivered to one or more of its")
_START = re.compile(
    r"(?m)address(?:\(es\))? failed:[ \t]*$|"
    r"^The address(?:es)? to which the message has not yet been delivered (?:is|are):[ \t]*$"
)
_END = re.compile(
    r"(?m)^(?:-{3,} ?This is a copy of|-{3,} ?The body of the message|-{3,} ?The header of the original|"
    r"No action is required on your part|Included is a copy of the message header|Reporting-MTA:|Action:|"
    r"Final-Recipient:|Received:|Return-Path:)"  # the last two: a copied header without a title line
)
_HOST = re.compile(r"^host ([\w.\-]{1,255}) \[[\d.:a-fA-F]{1,64}\]:?\s*")
_ERROR_FROM = re.compile(
    r"^(?:Delay reason: )?(?:SMTP|LMTP) error (?:from remote (?:mail server|mailer) )?after (.{0,200}?):?$"
)


def parse(mail: Mail) -> ParsedMessage | None:
    body = mail.body_text
    head = body[:3000]
    if not any(map(head.__contains__, _MARKERS)):
        return None
    start = _START.search(body)
    if start is None:
        return None
    end = _END.search(body, start.end())
    text = body[start.end() : end.start() if end else len(body)]
    delayed = "not yet been delivered" in start.group(0)
    failed = [a for v in mail.headers("X-Failed-Recipients") for a in find_addresses(v)]
    standard = {r.recipient.lower(): r for r in rfc3464.parse_fields(mail.delivery_status or "") if r.recipient}
    reports: list[RecipientReport] = []
    blocks = _blocks(text)[:READ_RECIPIENTS]
    positional = list(standard.values()) if len(standard) == len(blocks) else []
    generated = _generated_text(body)
    for index, (head, details) in enumerate(blocks):
        report = _report(head, details, failed[index] if index < len(failed) else None, delayed, generated)
        known = standard.get((report.recipient or "").lower()) or (positional[index] if positional else None)
        if known is not None:  # the text's recipient: the part may name a pipe or a file instead
            report = evolved(merge_reports(known, report), recipient=report.recipient)
        reports.append(report)
    if not reports:
        return None
    return ParsedMessage(kind=Kind.BOUNCE, format=NAME, reports=tuple(reports))


def _blocks(text: str) -> list[tuple[str, list[str]]]:
    """(address line, detail lines) for each two-space indented address and what follows it."""
    blocks: list[tuple[str, list[str]]] = []
    for line in text.split("\n")[:2000]:
        if re.match(r"^ {1,3}\S", line) and not _HOST.match(line.strip()):
            blocks.append((line.strip(), []))
        elif line.strip() and blocks and line[0] in " \t":
            blocks[-1][1].append(line.strip())
        elif line.strip() and blocks:
            break  # un-indented text ends the list
    return blocks


def _generated_text(body: str) -> str:
    """What a local pipe or file delivery printed: the paragraph after its '------ ... ------' title."""
    at = body.find("The following text was generated during the delivery attempt")
    if at < 0:
        return ""
    paragraphs = body[at : at + 5000].split("\n\n")[1:4]
    if paragraphs and paragraphs[0].rstrip().endswith("------"):
        paragraphs = paragraphs[1:]
    return " ".join(paragraphs[0].split()) if paragraphs else ""


def _report(head: str, details: list[str], failed: str | None, delayed: bool, generated: str) -> RecipientReport:
    address, _, rest = head.partition(": ") if "@" in head.partition(": ")[0] else (head, "", "")
    recipient = clean_address(address) if "@" in address else None
    remote = command = original = None
    lines = [rest] if rest else []
    for line in details:
        host = _HOST.match(line)
        if host:
            remote, line = host.group(1).lower(), line[host.end() :]
        error = _ERROR_FROM.match(line)
        if error:
            command, line = command_of(error.group(1)), ""
        parent = re.match(r"^\(?(?:ultimately )?generated (?:by|from) (\S+@\S+?)\)?$", line)
        if parent or line.startswith("generated by "):
            address = clean_address(parent.group(1)) if parent else None
            # the address our message was sent to, which an alias or forward expanded to this one
            original = original or (address if recipient else None)
            recipient = recipient or address
            line = ""
        if line:
            lines.append(line)
    diagnostic = join_reply(lines).strip('"') or generated
    hint = "mailer_error" if head.startswith("pipe to |") else None  # a local delivery program failed
    return report_from_text(
        recipient or failed,
        diagnostic,
        original_recipient=original,
        remote_mta=remote,
        command=command,
        hint=hint,
        dsn_action="delayed" if delayed else "failed",
    )
