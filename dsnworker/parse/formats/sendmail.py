"""Sendmail bounces (version 8, and version 5's MIME-less ones): the session transcript.

Sendmail writes "----- Transcript of session follows -----": "... while talking to HOST:",
">>> RCPT To:<x>" (the command), "<<< 550 ..." (the remote reply) and "550 5.1.1 <x>... User
unknown" (its verdict per recipient), plus "----- The following addresses had permanent fatal
errors -----" with "(reason: ...)". Version 8 also sends a delivery-status part; the transcript
adds the command and remote host to it, and the reply when its Diagnostic-Code is empty or only an
exit status. Version 5 sends the transcript alone. Forwarded copies ("> " quoted) are unquoted.
"""

from __future__ import annotations

import re

from dsnworker.model import Kind, ParsedMessage, RecipientReport, evolved
from dsnworker.parse import rfc3464
from dsnworker.parse.bounce_text import command_of, join_reply, report_from_text
from dsnworker.parse.limits import READ_RECIPIENTS
from dsnworker.parse.mail import Mail
from dsnworker.parse.text import clean_address, find_reply_code, find_status

NAME = "sendmail"
_MARKER = "----- Transcript of session follows -----"
# (?<!-): the heading starts where its run of '-' starts; tried at every '-' of a long run, `-{3,}`
# read the rest of the run each time (a 1 MB run took minutes)
_FATAL = re.compile(
    r"(?<!-)-{3,} The following addresses had (?:permanent fatal|transient non-fatal|permanent delivery) errors -{3,}"
)
_TALKING = re.compile(r"(?i)^(?:\.\.\. )?while talking to ([\w.\-\[\]:]{1,255}?)\.?:\s*$")
_VERDICT = re.compile(r"^(?:[245]\d\d(?: [245]\.\d{1,3}\.\d{1,3})? )?<?([^<>\s]{1,512}@[^<>\s]{1,255}?)>?\.\.\. (.*)$")
_HOST_LINE = re.compile(r"^[245]\d\d ([\w.\-\[\]]{1,255}) \(\w{1,20}\)\.\.\. ")
_SECTION_END = re.compile(r"^(?:-{3,} |--[\w'()+,./:=?\-]{1,70}$|Content-Type:)", re.I)


def parse(mail: Mail) -> ParsedMessage | None:
    body = mail.body_text
    at = body.find(_MARKER)
    fatal = _FATAL.search(body) if "The following addresses had" in body else None
    if at < 0 and fatal is None:
        return None
    if at >= 0 and body[body.rfind("\n", 0, at) + 1 : at].lstrip().startswith(">"):
        body = re.sub(r"(?m)^> ?", "", body)  # a forwarded bounce
    entries = _transcript(body)
    reasons = _fatal_reasons(body)
    standard = rfc3464.standard(mail)
    if standard is not None:
        reports = [_enriched(r, entries, reasons, body) for r in standard.reports[:READ_RECIPIENTS]]
    else:
        recipients = list(dict.fromkeys([*reasons, *entries]))[:READ_RECIPIENTS]
        reports = [_enriched(RecipientReport(recipient=None), entries, reasons, body, r) for r in recipients]
    if not reports:
        return _forwarded(mail)
    return ParsedMessage(kind=Kind.BOUNCE, format=NAME, reports=tuple(reports))


def _forwarded(mail: Mail) -> ParsedMessage | None:
    """A notice listing no address that carries the real report as its attached message."""
    returned = mail.returned
    if returned is None or not str(returned.get("Content-Type", "")).lower().startswith("multipart/report"):
        return None
    try:
        nested = rfc3464.standard(Mail(returned.as_bytes()))
    except Exception:  # an attached message too broken to serialise: nothing to read
        return None
    return evolved(nested, format=NAME) if nested is not None else None


def _section(body: str, start: int) -> list[str]:
    lines = body[start:].split("\n")[1:400]
    for index, line in enumerate(lines):
        if _SECTION_END.match(line.strip()):
            return lines[:index]
    return lines


def _transcript(body: str) -> dict[str, RecipientReport]:
    """recipient (lower case) -> what the transcript says about it."""
    at = body.find(_MARKER)
    if at < 0:
        return {}
    found: dict[str, RecipientReport] = {}
    remote = command = None
    replies: list[str] = []
    for line in _section(body, at):
        text = line.strip()
        talking = _TALKING.match(text)
        if talking:
            remote, command, replies = talking.group(1).strip("[]").lower(), "CONN", []
        elif text.startswith(">>> "):
            command, replies = command_of(text[4:]) or text[4:].split()[0].upper(), []
        elif text.startswith("<<< "):
            if command != "QUIT":
                replies.append(text[4:])
        elif host := _HOST_LINE.match(text):
            if host.group(1).lower() != remote:  # another host's failure: the session is over
                remote = command = None
                replies = []
        elif verdict := _VERDICT.match(text):
            address = clean_address(verdict.group(1)) or verdict.group(1)
            if command == "DATA":  # PIPELINING: a reply read after DATA but naming one recipient answered RCPT
                command = "RCPT"
            diagnostic = join_reply(replies) if replies else verdict.group(2)
            found.setdefault(
                address.lower(),
                report_from_text(address, diagnostic, remote_mta=remote, command=command if replies else None),
            )
            replies = []
    return found


def _fatal_reasons(body: str) -> dict[str, str]:
    """recipient -> the "(reason: ...)" sendmail printed under the fatal-errors heading."""
    reasons: dict[str, str] = {}
    for match in list(_FATAL.finditer(body))[:4]:
        current = None
        for line in _section(body, match.start())[:200]:
            text = line.strip()
            if text.startswith("(reason:") and current:
                reasons[current] = text[8:].rstrip(")").strip()
            elif "@" in text and not text.startswith("("):
                current = clean_address(text.removeprefix(">>> "))
                if current:
                    reasons.setdefault(current, "")
    return reasons


def _enriched(
    report: RecipientReport,
    entries: dict[str, RecipientReport],
    reasons: dict[str, str],
    body: str,
    recipient: str | None = None,
) -> RecipientReport:
    recipient = report.recipient or recipient
    key = (recipient or "").lower()
    entry = entries.get(key)
    reason = next((v for k, v in reasons.items() if k.lower() == key), None)
    diagnostic = report.diagnostic
    weak = not diagnostic or not re.search(r"[A-Za-z]{3}", diagnostic) or "Final-Recipient:" in diagnostic
    if entry is not None and entry.diagnostic:
        diagnostic = entry.diagnostic  # the remote reply as the transcript shows it
    elif weak:
        diagnostic = reason or _lone_transcript(body) or diagnostic
    if entry is None and reason:
        entry = report_from_text(recipient, reason)
    return evolved(
        report,
        recipient=recipient,
        diagnostic=diagnostic,
        status=report.status or (entry.status if entry else None) or find_status(diagnostic),
        reply_code=(entry.reply_code if entry else None) or report.reply_code or find_reply_code(diagnostic),
        remote_mta=report.remote_mta or (entry.remote_mta if entry else None),
        command=(entry.command if entry else None) or report.command,
    )


def _lone_transcript(body: str) -> str | None:
    """A transcript naming no recipient (a local program's output): all of it, briefly."""
    at = body.find(_MARKER)
    if at < 0:
        return None
    text = " ".join(" ".join(_section(body, at)).split())
    return text[:1000] or None
