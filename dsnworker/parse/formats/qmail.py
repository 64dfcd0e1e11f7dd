"""qmail (and netqmail, notqmail, indimail, vpopmail) bounces: qmail-send's plain-text report.

qmail-send writes "Hi. This is the qmail-send program at HOST." and then one paragraph per
recipient: "<RCPT>:" on its own line, qmail's account of the session ("Connected to IP but sender
was rejected.", "IP does not like recipient.", "IP failed after I sent the message.") and the
remote reply after "Remote host said:". No delivery-status part is sent. qmail's own fixed
sentences name the cause when there was no remote reply ("Sorry, I couldn't find any host named").
Derivatives (Yahoo!'s old MTA and others) keep the paragraphs under their own opening sentence.
"""

from __future__ import annotations

import re

from dsnworker.model import Kind, ParsedMessage, RecipientReport
from dsnworker.parse.bounce_text import join_reply, report_from_text
from dsnworker.parse.limits import READ_RECIPIENTS
from dsnworker.parse.mail import Mail
from dsnworker.parse.text import clean_address

NAME = "qmail"
_MARKERS = (
    "This is the qmail-send program",
    "I'm afraid I wasn't able to deliver your message",
    "Unable to deliver message to the following address(es).",  # Yahoo!'s and other qmail derivatives
    "Your mail message to the following address(es) could not be delivered.",
)
_AGENT = re.compile(r"This is the qmail-send program at ([\w.\-]{1,255})")
_RECIPIENT = re.compile(r"(?m)^<([^<>\s]{1,512}@[^<>\s]{1,255})>:[ \t]*$")
_END = re.compile(r"(?m)^--- (?:Below this line|Enclosed is|Original message follows)")
_SESSION = (
    (re.compile(r"Connected to (\S+) but sender was rejected"), "MAIL"),
    (re.compile(r"Connected to (\S+) but my name was rejected"), "HELO"),
    (re.compile(r"Connected to (\S+) but greeting failed"), "CONN"),
    (re.compile(r"(\S+) does not like recipient"), "RCPT"),
    (re.compile(r"(\S+) failed (?:after I sent the message|on DATA command)"), "DATA"),
)
_GAVE_UP = "I'm not going to try again; this message has been in the queue too long."
_DROP = re.compile(r"^(?:Giving up on \S+|I'm not going to try again; this message has been in the queue too long\.?)$")


def parse(mail: Mail) -> ParsedMessage | None:
    body = mail.body_text
    head = body[:5000]
    if not any(map(head.__contains__, _MARKERS)):
        return None
    end = _END.search(body)
    text = body[: end.start()] if end else body
    agent = _AGENT.search(text)
    reporting = agent.group(1).rstrip(".").lower() if agent else None
    matches = list(_RECIPIENT.finditer(text))[:READ_RECIPIENTS]
    reports = [
        _report(m.group(1), text[m.end() : matches[i + 1].start() if i + 1 < len(matches) else len(text)], reporting)
        for i, m in enumerate(matches)
    ]
    if not reports:
        return None
    return ParsedMessage(kind=Kind.BOUNCE, format=NAME, reports=tuple(reports))


def _report(address: str, block: str, reporting: str | None) -> RecipientReport:
    remote = command = None
    own: list[str] = []
    said: list[str] = []
    expired = False
    for line in block.split("\n")[:80]:
        line = re.sub(r"^From: <[^<>\n]*> RCPT: <[^<>\n]*> ", "", line.strip())  # indimail's prefix
        if not line:
            if own or said:
                break
            continue
        if _DROP.match(line):
            expired = expired or "queue too long" in line
            continue
        for pattern, verb in _SESSION:
            found = pattern.match(line)
            if found:
                remote, command = found.group(1).rstrip(".").lower(), verb
                line = ""
                break
        if line.startswith("Remote host said:") or said:
            said.append(line.removeprefix("Remote host said:"))
        elif line:
            own.append(line)
    diagnostic = join_reply(said) if said else " ".join(own)
    if expired and not said:  # the queue gave up without a remote answer: qmail's own words say so
        diagnostic = f"{diagnostic} {_GAVE_UP}".strip()
    return report_from_text(
        clean_address(address), diagnostic, remote_mta=remote, reporting_mta=reporting, command=command
    )
