"""RFC 3464 delivery status notifications (and RFC 6533's message/global-delivery-status).

The standard part is a per-message field group followed by one group per recipient. Real MTAs
fold fields, repeat them, leave out Diagnostic-Code, or put the groups in a text part: all handled.
"""

from __future__ import annotations

import re

from dsnworker.model import Kind, ParsedMessage, RecipientReport
from dsnworker.parse.mail import Mail, decode_bytes, raw_payload
from dsnworker.parse.text import (
    clean_address,
    decode_xtext,
    field_blocks,
    find_reply_code,
    find_status,
    host_of,
    strip_type,
    unfold,
)

NAME = "rfc3464"
_RECIPIENT_FIELDS = ("final-recipient", "original-recipient", "x-actual-recipient")
_DSN_FIELD_LINE = re.compile(r"[ \t]*(?:final-recipient|original-recipient|x-actual-recipient)[ \t]*:")
# Header and DSN field lines: quoted headers of the original, the report's own fields. Not prose.
_FIELD_LINE = re.compile(
    r"(?i)[ \t]*(?:to|from|cc|subject|date|sent|message-id|received|return-path|reporting-mta|action|status|"
    r"remote-mta|diagnostic-code|last-attempt-date|final-recipient|original-recipient|arrival-date)[ \t]*:"
)
_COMMAND_RE = re.compile(r"(?i)in reply to (RCPT TO|MAIL FROM|end of DATA|DATA|HELO|EHLO|STARTTLS|AUTH)\b")
# The same on lower-cased ASCII text: a literal first, so the search skips ahead instead of trying
# every position. Only for ASCII: (?i) also takes 'ı' and 'İ' for an 'i', which lower() does not.
_COMMAND_LOWER = re.compile(r"in reply to (rcpt to|mail from|end of data|data|helo|ehlo|starttls|auth)\b")


def parse(mail: Mail) -> ParsedMessage | None:
    """The standard reading of a message; several format modules start from it, so it is kept."""
    if "rfc3464" not in mail.memo:
        mail.memo["rfc3464"] = _parse(mail)
    return mail.memo["rfc3464"]  # type: ignore[return-value]


def _parse(mail: Mail) -> ParsedMessage | None:
    text = mail.delivery_status
    body = mail.body_text
    if text is None:
        at = body.lower().find("final-recipient:")
        if at < 0:
            body = unsplit_multipart(mail)
            at = body.lower().find("final-recipient:")
        if at < 0:
            return None
        start = body.rfind("\n\n", 0, at)
        text = body[start + 1 if start >= 0 else 0 :]
    reports = parse_fields(text, body)
    if not reports:
        return None
    return ParsedMessage(kind=Kind.BOUNCE, format=NAME, reports=tuple(reports))


def unsplit_multipart(mail: Mail) -> str:
    """The raw text of a multipart message the MIME layer could not split (its boundary is lost)."""
    # as read: get_payload() would have turned its 8-bit bytes into U+FFFD, which bytes cannot hold
    payload = raw_payload(mail.msg) if mail.content_type.startswith("multipart/") else None
    if payload is None:
        return ""
    return decode_bytes(payload[:200_000].encode("ascii", "surrogateescape"))


def parse_fields(text: str, body: str = "") -> list[RecipientReport]:
    per_message: dict[str, str] = {}
    reports: list[RecipientReport] = []
    command: str | None = None
    for block in field_blocks(text):
        fields: dict[str, str] = {}
        for name, value in block:
            # a repeated field (two Diagnostic-Codes, say) keeps every value
            fields[name] = (
                f"{fields[name]} {value}" if name in fields and name == "diagnostic-code" else fields.get(name, value)
            )
        if not any(name in fields for name in _RECIPIENT_FIELDS):
            if not reports:
                per_message.update(fields)
            continue
        if not reports and body:
            command = _command_in(body)  # the text's, the same for every recipient: searched once
        reports.append(_report(fields, per_message, body, command))
    return reports


def _report(fields: dict[str, str], per_message: dict[str, str], body: str, command: str | None) -> RecipientReport:
    final = _address(fields.get("final-recipient"))
    original = _address(fields.get("original-recipient"))
    recipient = final or original or _address(fields.get("x-actual-recipient"))
    diagnostic = unfold(strip_type(fields.get("diagnostic-code"))) or None
    if not diagnostic and recipient and body:
        diagnostic = text_near(body, recipient)
    status = find_status(fields.get("status"))
    reporting = host_of(per_message.get("reporting-mta"))
    return RecipientReport(
        recipient=recipient,
        original_recipient=original if original and original != recipient else None,
        dsn_action=(fields.get("action") or "").split()[0].lower() if fields.get("action") else None,
        status=status,
        reply_code=find_reply_code(diagnostic),
        diagnostic=diagnostic,
        remote_mta=host_of(fields.get("remote-mta")),
        reporting_mta=reporting,
        # the reply's own "(in reply to RCPT TO command)" first, else what the text says
        command=(_command_in(diagnostic) if diagnostic and "in reply to" in diagnostic.lower() else None)
        or (command if body and recipient else None),
    )


def _address(value: str | None) -> str | None:
    if not value:
        return None
    return clean_address(decode_xtext(strip_type(value)))


def _command_in(body: str) -> str | None:
    """The SMTP command the text says the failure answered ("in reply to RCPT TO"), if it says."""
    match = _COMMAND_LOWER.search(body.lower()) if body.isascii() else _COMMAND_RE.search(body)
    return _command(match.group(1)) if match else None


def _command(text: str) -> str:
    upper = text.upper()
    if "DATA" in upper:
        return "DATA"
    return upper.split()[0]


def text_near(body: str, address: str, max_lines: int = 6) -> str | None:
    """The human-readable lines a bounce prints next to a recipient, as its diagnostic."""
    lower, needle = body.lower(), address.lower()
    at = lower.find(needle)
    for _ in range(8):  # the address in a DSN field line is not prose about it: look further
        if at < 0 or not _DSN_FIELD_LINE.match(lower, lower.rfind("\n", 0, at) + 1):
            break
        at = lower.find(needle, at + len(needle))
    if at < 0:
        return None
    start = body.rfind("\n", 0, at) + 1
    lines: list[str] = []
    for number, line in enumerate(body[start:].split("\n")[: max_lines + 1]):
        if not line.strip():
            if lines:
                break
            continue
        if number and _FIELD_LINE.match(line):
            break  # the report's fields or the original's headers begin: no longer about this address
        lines.append(line.strip())
    text = " ".join(lines)
    at = text.lower().find(address.lower())  # drop the address itself (a plain find: no regex per address)
    if at >= 0:
        end = at + len(address)
        before = at - 1 if at > 0 and text[at - 1] == "<" else at
        while end < len(text) and text[end] in ">:":
            end += 1
        text = text[:before] + " " + text[end:]
    text = " ".join(text.split()).strip(" :.-")
    return text if len(text) > 3 else None
