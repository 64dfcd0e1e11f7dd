"""Bytes of one message -> a `ParsedMessage`: which format it is and what it says per recipient.

The parsers are tried in a fixed order; the first that recognises the message wins. Parsing never
raises: a parser that raises (a bug of ours) is logged at WARNING and named in the result's
`parser_errors`, and the parsers after it still read the message. Work is bounded (`limits`): the
result's `truncated` names each limit that cut the reading short.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

from dsnworker.lazylog import LazyLogger
from dsnworker.model import Kind, ParsedMessage, RecipientReport, evolved
from dsnworker.parse import arf, autoreply, formats, rfc3464
from dsnworker.parse.limits import CUT_DIAGNOSTIC, CUT_RECIPIENTS, DIAGNOSTIC_CHARS, RECIPIENTS
from dsnworker.parse.mail import Mail, Message, decode_header
from dsnworker.parse.recipients import is_bounce_address, one_per_recipient, own_addresses
from dsnworker.parse.returned import chosen_headers, original_message_id, original_recipient, returned_message
from dsnworker.parse.text import clean_address

log = LazyLogger(__name__)

PIPELINE: tuple[ModuleType, ...] = (arf, *formats.SPECIFIC, rfc3464, autoreply, *formats.FALLBACK)


# each parser's `parse`, looked up once rather than on every message
_PARSE_FUNCTIONS: tuple[tuple[ModuleType, Callable[[Mail], ParsedMessage | None]], ...] = tuple(
    (parser, parser.parse) for parser in PIPELINE
)


def parse_message(data: bytes, source: str | None = None) -> ParsedMessage:
    """The first reading a parser makes of the message; `source` (a path, mailbox:uid) names it in logs."""
    mail = Mail(data)
    errors: list[str] = [_failed(name, exc, source, traceback=True) for name, exc in mail.failures]
    for parser, parse in _PARSE_FUNCTIONS:
        try:
            parsed = parse(mail)
        except Exception as exc:  # one parser's bug must not hide the message from the others
            errors.append(_failed(parser.NAME, exc, source, traceback=not errors))
            continue
        if parsed is not None:
            parsed = _bounded(_with_original(parsed, mail, errors, source), mail)
            return evolved(parsed, parser_errors=tuple(errors)) if errors else parsed
    # with parser_errors, "no parser read it" is not "not a bounce": the caller must not file it as one
    return ParsedMessage(
        kind=Kind.NOT_BOUNCE,
        format="none",
        subject=mail.subject or None,
        parser_errors=tuple(errors),
        truncated=tuple(sorted(mail.limits_reached)),
    )


def _bounded(parsed: ParsedMessage, mail: Mail) -> ParsedMessage:
    """At most `RECIPIENTS` reports of diagnostics at most `DIAGNOSTIC_CHARS` long; `truncated`
    names every limit reached, here or while the message was read."""
    cut = set(mail.limits_reached)
    reports = parsed.reports
    if len(reports) > RECIPIENTS:
        cut.add(CUT_RECIPIENTS)
        reports = reports[:RECIPIENTS]
    if any(r.diagnostic and len(r.diagnostic) > DIAGNOSTIC_CHARS for r in reports):
        cut.add(CUT_DIAGNOSTIC)
        reports = tuple(
            evolved(r, diagnostic=r.diagnostic[:DIAGNOSTIC_CHARS])
            if r.diagnostic and len(r.diagnostic) > DIAGNOSTIC_CHARS
            else r
            for r in reports
        )
    if not cut:
        return parsed if reports is parsed.reports else evolved(parsed, reports=reports)
    return evolved(parsed, reports=reports, truncated=tuple(sorted(cut)))


def _failed(name: str, exc: Exception, source: str | None, traceback: bool) -> str:
    """Log a parser's exception where operators look; the first of a message with its traceback,
    for the bug report (where the MIME layer fails, every parser after it fails the same way)."""
    said = str(exc)[:200]
    error = f"{type(exc).__name__}: {said}" if said else type(exc).__name__
    log.warning(
        "%s: the %s parser failed, a bug of dsnworker (%s); the message is still read without it",
        source or "a message",
        name,
        error,
        exc_info=exc if traceback else False,  # the exception itself: this may be after its `except`
    )
    return f"{name} ({error})"


def _with_original(parsed: ParsedMessage, mail: Mail, errors: list[str], source: str | None) -> ParsedMessage:
    """Attach the returned message's Message-ID and headers; recover missing recipients from it.

    A bounce gets one report per recipient (`recipients.one_per_recipient`), before and after that.
    Where reading the returned message raises (a bug of ours), that is said in `errors`.
    """
    try:
        returned = returned_message(mail)
    except Exception as exc:  # the bounce is still read, without its original's headers
        errors.append(_failed("returned-message", exc, source, traceback=not errors))
        returned = None
    reports = parsed.reports
    if parsed.kind is Kind.BOUNCE and len(reports) > 1:
        reports = one_per_recipient(reports)
    if returned is not None and parsed.kind is Kind.BOUNCE:
        addressed = _addressed(reports, mail, returned)
        if addressed:
            # who the returned message was addressed to: the recipient where the bounce names none,
            # and the original recipient (the contract's fallback) where the report has no
            # Original-Recipient field
            reports = tuple(
                evolved(
                    r,
                    recipient=r.recipient or addressed,
                    original_recipient=r.original_recipient or addressed,
                    recipient_source=r.recipient_source if r.recipient else "returned",
                )
                if r.recipient is None or r.original_recipient is None
                else r
                for r in reports
            )
            if len(reports) > 1:
                reports = one_per_recipient(reports)
    return evolved(
        parsed,
        reports=_sourced(reports, mail),
        original_message_id=parsed.original_message_id or original_message_id(returned),
        original_headers=parsed.original_headers or chosen_headers(returned),
        subject=parsed.subject or mail.subject or None,
    )


def _sourced(reports: tuple[RecipientReport, ...], mail: Mail) -> tuple[RecipientReport, ...]:
    """Each named recipient says where it was read: a delivery-status field group (Final-, Original-,
    X-Actual-Recipient) names it ("dsn"), else the bounce's words did ("text"). A parser that knows
    better (ARF's fields, an auto-reply's From, the returned message's To) has said so already."""
    if all(r.recipient_source is not None or r.recipient is None for r in reports):
        return reports
    try:
        standard = rfc3464.standard(mail)  # computed once per message; most bounces have it already
    except Exception:  # noqa: BLE001  # the rfc3464 parser's own failure is said where it ran
        standard = None
    in_fields = {
        address.lower()
        for report in (standard.reports if standard is not None else ())
        for address in (report.recipient, report.original_recipient)
        if address
    }
    return tuple(
        evolved(r, recipient_source="dsn" if r.recipient.lower() in in_fields else "text")
        if r.recipient is not None and r.recipient_source is None
        else r
        for r in reports
    )


def _addressed(reports: tuple[RecipientReport, ...], mail: Mail, returned: Message) -> str | None:
    """Whom the returned message was addressed to, if that can be a failed recipient of this bounce.

    The bounce's own addresses, a list's or VERP bounce address, or a list's posting address cannot:
    the returned message was then not addressed to the recipient who failed.
    """
    address = _single_address(original_recipient(returned))
    if not address:
        return None
    lower = address.lower()
    for report in reports:
        if report.recipient and report.recipient.lower() == lower:
            return address  # a recipient the bounce itself reports (the usual case, told cheaply)
    if lower in own_addresses(mail) or is_bounce_address(address):
        return None
    posting = clean_address(decode_header(returned.get("List-Post")))
    return None if posting and posting.lower() == lower else address


def _single_address(to: str | None) -> str | None:
    """The one address a To header holds; None for none or several (a list's or a team's send)."""
    if not to or to.count("@") != 1:
        return None
    address = clean_address(to)
    return address if address and "@" in address else None
