"""Postfix bounces: "This is the mail system at host X." and its SMTP server error transcripts.

Postfix's text part has one paragraph per recipient, "<RCPT>: host MX[IP] said: 550 ... (in reply
to RCPT TO command)", folded at 4 spaces. That paragraph names the remote host and the command the
reply answered, which the delivery-status part does not; older Postfix (and many relays that
strip the report) send the paragraph alone. "Diagnostic-Code: x-unix; ..." means a local pipe
(procmail, a script) failed. Postfix also mails postmaster "errors from HOST" with the session
transcript ("In: RCPT TO:<...>", "Out: 451 ..."): the last refused command is the failure.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from dsnworker.model import Kind, ParsedMessage, RecipientReport, evolved
from dsnworker.parse import rfc3464
from dsnworker.parse.bounce_text import command_of, merge_reports, report_from_text
from dsnworker.parse.limits import READ_RECIPIENTS
from dsnworker.parse.mail import Mail
from dsnworker.parse.text import clean_address, field_blocks, find_reply_code, strip_type

NAME = "postfix"
_MARKERS = ("This is the mail system at host", "This is the Postfix program at host")
_AGENT = re.compile(r"This is the (?:mail system|Postfix program) at host ([\w.\-]{1,255})")
# A recipient's entry starts a line with its address in brackets; a quoted local part may hold
# spaces and brackets (<"a b"@example.com>). Then, perhaps on a folded line, "(expanded from <alias>)"
# and ": ".
_ENTRY = re.compile(r'<((?:"(?:[^"\\\n]|\\.){1,256}"|[^<>\s"]{1,512})@[^<>\s]{1,255})>')
_ENTRY_TAIL = re.compile(r"(?:\(expanded from <([^<>]{0,512})>\))?: ")
_SAID = re.compile(r"(?:^|: )host ([\w.\-]{1,255})\[[^\]]{0,64}\](?::\d+)? (said|refused to talk to me): ")
_IN_REPLY = re.compile(r"(?<!\s)\s*\(in reply to (.{1,40}?) command\)\s*$")
_TRANSCRIPT_LINE = re.compile(r"^ (In|Out):\s+(.*)$")


def parse(mail: Mail) -> ParsedMessage | None:
    body = mail.body_text
    head = body[:3000]
    if "Transcript of session follows" in head and mail.subject.startswith("Postfix SMTP server: errors from"):
        return _transcript(body)
    if not any(map(head.__contains__, _MARKERS)):
        return None
    agent = _AGENT.search(body)
    reporting = agent.group(1).rstrip(".").lower() if agent else None
    paragraphs = _paragraphs(body, reporting)
    texts = {address.lower(): report for address, report in paragraphs}
    standard = rfc3464.standard(mail)
    if standard is None:
        reports = list({id(report): report for _, report in paragraphs}.values())
    else:
        unix = _unix_recipients(mail.delivery_status or body)
        reports = [_merged(r, texts, unix) for r in standard.reports[:READ_RECIPIENTS]]
    if not reports:
        return None
    return ParsedMessage(kind=Kind.BOUNCE, format=NAME, reports=tuple(reports))


def _entries(body: str) -> Iterator[tuple[str, str]]:
    """Each recipient's address and the text after it: up to a blank line, or to the next recipient.

    An entry starts a line ("<rcpt>: host ...") and goes on in lines folded by 4 spaces; a line
    that starts with another recipient's address begins that recipient's entry, blank line or not.
    """
    for paragraph in body.split("\n\n")[:500]:
        paragraph = paragraph.lstrip()
        if "\n<" not in paragraph:  # at most one entry, at the start: no need to look at the lines
            entry = _ENTRY.match(paragraph) if paragraph.startswith("<") else None
            if entry is not None:
                yield entry.group(1), paragraph[entry.end() :]
            continue
        address: str | None = None
        lines: list[str] = []
        for line in paragraph.split("\n")[:1000]:
            entry = _ENTRY.match(line) if line.startswith("<") else None
            if entry and (address is None or entry.group(1).lower() != address.lower()):
                if address is not None:
                    yield address, " ".join(lines)
                address, lines = entry.group(1), [line[entry.end() :]]
            elif address is not None:
                lines.append(line)
        if address is not None:
            yield address, " ".join(lines)


def _paragraphs(body: str, reporting: str | None) -> list[tuple[str, RecipientReport]]:
    found: list[tuple[str, RecipientReport]] = []
    for address, lines in _entries(body):
        text = " ".join(lines.split())
        tail = _ENTRY_TAIL.match(text)
        if tail is None:
            continue  # an address in brackets, but not a recipient's entry
        text = text[tail.end() :]
        remote = command = None
        said = _SAID.search(text[:300])
        reply_code = None
        if said and said.group(2) == "said":
            remote, text = said.group(1).lower(), text[said.end() :]
        elif said:  # keep "host X refused to talk to me:": the refusal came before any command
            remote, command = said.group(1).lower(), "CONN"
            text = text[said.start() :].removeprefix(": ")
            reply_code = find_reply_code(text.partition(" to me: ")[2])
        in_reply = _IN_REPLY.search(text)
        if in_reply:
            command, text = command_of(in_reply.group(1)), text[: in_reply.start()]
        recipient = clean_address(address) or address
        original = clean_address(tail.group(1)) if tail.group(1) else None
        report = report_from_text(
            recipient,
            _without_repeated_codes(text),
            original_recipient=original,
            reply_code=reply_code,
            remote_mta=remote,
            reporting_mta=reporting,
            command=command,
            dsn_action="failed",
        )
        found.append((recipient, report))
        if original:
            found.append((original, report))
        if len(found) >= READ_RECIPIENTS:
            break
    return found


def _without_repeated_codes(text: str) -> str:
    """'550-5.7.1 a 550-5.7.1 b 550 5.7.1 c' (a folded multi-line reply) -> '550-5.7.1 a b c'."""
    first = re.match(r"([245]\d\d)[ \-]((?:[245]\.\d{1,3}\.\d{1,3} )?)", text)
    if not first:
        return text
    repeat = re.compile(r"\s" + first.group(1) + r"[ \-]" + re.escape(first.group(2)))
    return text[: first.end()] + repeat.sub(" ", text[first.end() :])


def _unix_recipients(status_text: str) -> set[str]:
    """Recipients whose Diagnostic-Code is of type x-unix: a local delivery program failed."""
    found: set[str] = set()
    if "x-unix;" not in status_text.lower():
        return found  # the usual case, told without splitting the fields once more
    for block in field_blocks(status_text):
        fields = dict(block)
        if fields.get("diagnostic-code", "").lower().startswith("x-unix;"):
            found.add(strip_type(fields.get("final-recipient", "")).lower())
    return found


def _merged(report: RecipientReport, texts: dict[str, RecipientReport], unix: set[str]) -> RecipientReport:
    text = texts.get((report.recipient or "").lower()) or texts.get((report.original_recipient or "").lower())
    merged = merge_reports(report, text)
    # a local program that failed without saying why: Postfix only names its exit status
    unexplained = "Command output:" not in (merged.diagnostic or "")
    hint = "mailer_error" if (report.recipient or "").lower() in unix and unexplained else None
    return evolved(merged, hint=hint)


def _transcript(body: str) -> ParsedMessage | None:
    """Postfix's "errors from HOST" notice: the last 4xx/5xx 'Out:' and the 'In:' it answered."""
    lines: list[list[str]] = []
    for line in body.split("\n")[:3000]:
        match = _TRANSCRIPT_LINE.match(line)
        if match:
            lines.append([match.group(1), match.group(2).strip()])
        elif line.startswith((" ", "\t")) and line.strip() and lines:
            lines[-1][1] += " " + line.strip()
    command = recipient = diagnostic = None
    last_in = ""
    for side, text in lines:
        if side == "In":
            last_in = text
            if text.upper().startswith("RCPT TO:"):
                recipient = clean_address(text[8:].split()[0] if text[8:].split() else "")
        elif text[:1] in "45" and re.match(r"[45]\d\d[ \-]", text):
            diagnostic, command = text, command_of(last_in.split(":")[0])
    if diagnostic is None:
        return None
    report = report_from_text(recipient, diagnostic, command=command)
    return ParsedMessage(kind=Kind.BOUNCE, format=NAME, reports=(report,))
