"""RFC 3464 delivery status notifications (and RFC 6533's message/global-delivery-status).

The standard part is a per-message field group followed by one group per recipient. Real MTAs
fold fields, repeat them, leave out Diagnostic-Code, or put the groups in a text part: all handled.
Some leave out the per-recipient groups altogether: the recipients are then those the
human-readable text names (in recipient position), with the per-message fields.
"""

from __future__ import annotations

import re
from collections.abc import Collection

from dsnworker.model import Kind, ParsedMessage, RecipientReport
from dsnworker.parse.bounce_text import own_text
from dsnworker.parse.limits import READ_RECIPIENTS
from dsnworker.parse.mail import Mail, as_read, decode_bytes, raw_payload
from dsnworker.parse.recipients import names_another_recipient, own_addresses, recipients_in_text
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
_NEAR_MAX = 100  # recipients whose diagnostic may be looked for in the text
_COMMAND_RE = re.compile(r"(?i)in reply to (RCPT TO|MAIL FROM|end of DATA|DATA|HELO|EHLO|STARTTLS|AUTH)\b")
# The same on lower-cased ASCII text: a literal first, so the search skips ahead instead of trying
# every position. Only for ASCII: (?i) also takes 'ı' and 'İ' for an 'i', which lower() does not.
_COMMAND_LOWER = re.compile(r"in reply to (rcpt to|mail from|end of data|data|helo|ehlo|starttls|auth)\b")


def parse(mail: Mail) -> ParsedMessage | None:
    """The standard reading; else, for a delivery-status part without recipient groups, the text's."""
    return standard(mail) or _without_recipient_groups(mail)


def standard(mail: Mail) -> ParsedMessage | None:
    """The reading of the per-recipient field groups; several format modules start from it, so it is kept."""
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
    return decode_bytes(as_read(payload[:200_000]))


def parse_fields(text: str, body: str = "") -> list[RecipientReport]:
    per_message: dict[str, str] = {}
    groups: list[dict[str, str]] = []
    for block in field_blocks(text):
        fields: dict[str, str] = {}
        for name, value in block:
            # a repeated field (two Diagnostic-Codes, say) keeps every value
            fields[name] = (
                f"{fields[name]} {value}" if name in fields and name == "diagnostic-code" else fields.get(name, value)
            )
        if any(name in fields for name in _RECIPIENT_FIELDS):
            groups.append(fields)
            if len(groups) >= READ_RECIPIENTS:
                break
        elif not groups:
            per_message.update(fields)
    if not groups:
        return []
    command = _command_in(body) if body else None  # the text's, the same for every recipient: searched once
    addresses = [_addresses(fields) for fields in groups]
    # every recipient, so that a diagnostic taken from the text stops where the next one is named
    named = frozenset(recipient.lower() for recipient, _ in addresses if recipient)
    return [
        # the text is searched for the first recipients only: hostile reports have thousands
        _report(f, per_message, body if number < _NEAR_MAX else "", command, a, named)
        for number, (f, a) in enumerate(zip(groups, addresses, strict=True))
    ]


def _addresses(fields: dict[str, str]) -> tuple[str | None, str | None]:
    """The recipient and the original recipient a field group names.

    The recipient is Final-Recipient; else (absent, or an X.400 or Exchange form that holds no
    SMTP address) Original-Recipient; else X-Actual-Recipient.
    """
    final = _address(fields.get("final-recipient"))
    original = _address(fields.get("original-recipient"))
    return final or original or _address(fields.get("x-actual-recipient")), original


def _report(
    fields: dict[str, str],
    per_message: dict[str, str],
    body: str,
    command: str | None,
    addresses: tuple[str | None, str | None],
    recipients: Collection[str],
) -> RecipientReport:
    recipient, original = addresses
    diagnostic = unfold(strip_type(fields.get("diagnostic-code"))) or None
    if not diagnostic and recipient and body:
        diagnostic = text_near(body, recipient, recipients)
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
        or (command if recipient else None),
    )


def _without_recipient_groups(mail: Mail) -> ParsedMessage | None:
    """A delivery-status part with per-message fields only: the recipients the text names.

    Status, action and diagnostic come from the per-message fields where the MTA put them there.
    Without a recipient in the text, one report without one (the returned message may tell).
    """
    status_text = mail.delivery_status
    if status_text is None:
        return None
    fields: dict[str, str] = {}
    for block in field_blocks(status_text):
        for name, value in block:
            fields.setdefault(name, value)
    text = own_text(mail)
    recipients = recipients_in_text(text, own_addresses(mail), mail.limits_reached)
    if not recipients and not (fields.get("status") or fields.get("action")):
        return None  # nothing says this part is about a failure: leave the message to the others
    command = _command_in(text)
    others = frozenset(r.lower() for r in recipients)
    named: list[str | None] = list(recipients) or [None]
    reports = [_report(fields, fields, text, command, (r, None), others) for r in named]
    return ParsedMessage(kind=Kind.BOUNCE, format=NAME, reports=tuple(reports))


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


def text_near(body: str, address: str, others: Collection[str] = (), max_lines: int = 6) -> str | None:
    """The human-readable lines a bounce prints next to a recipient, as its diagnostic.

    They stop at a blank line, at a header or field line, and at a line that names another
    recipient (one of `others`, the report's recipients lower-cased, or an address that starts the line).
    """
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
    for number, line in enumerate(body[start:].split("\n", max_lines + 1)[: max_lines + 1]):
        if not line.strip():
            if lines:
                break
            continue
        if number and (_FIELD_LINE.match(line) or names_another_recipient(line, address, others)):
            break  # the report's fields, the original's headers or the next recipient begin
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
