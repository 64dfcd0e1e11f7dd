"""Values that flow through the core: what a bounce says, and what we decide about it.

Frozen dataclasses so that a parser's output cannot be changed behind the classifier's back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar

_Record = TypeVar("_Record")


class Kind(StrEnum):
    """What a whole message is."""

    BOUNCE = "bounce"  # a DSN or non-standard bounce (success DSNs included: per-recipient action says)
    FEEDBACK = "feedback"  # an ARF abuse complaint
    VACATION = "vacation"  # an auto-reply
    NOT_BOUNCE = "not_bounce"


@dataclass(frozen=True)
class RecipientReport:
    """What one bounce says about one recipient, before any interpretation."""

    recipient: str | None
    original_recipient: str | None = None
    dsn_action: str | None = None  # RFC 3464 Action: failed, delayed, delivered, relayed, expanded
    status: str | None = None  # as reported; inference happens in the classifier
    reply_code: str | None = None
    diagnostic: str | None = None
    remote_mta: str | None = None
    reporting_mta: str | None = None
    command: str | None = None  # SMTP command the remote answered (MAIL, RCPT, DATA, ...)
    hint: str | None = None  # a reason the format itself states unambiguously
    feedback_type: str | None = None
    # where `recipient` was read (`RECIPIENT_SOURCES`); set by the parse core, None without a recipient
    recipient_source: str | None = None


@dataclass(frozen=True)
class ParsedMessage:
    """One input message, split into per-recipient reports."""

    kind: Kind
    format: str  # which parser recognised it: "rfc3464", "postfix", "arf", "autoreply", ...
    reports: tuple[RecipientReport, ...] = ()
    original_message_id: str | None = None
    original_headers: Mapping[str, str] = field(default_factory=dict)
    subject: str | None = None
    # each format parser that raised on the message, as "exim (ValueError: ...)": a bug of ours,
    # said rather than hidden; the parsers after it still read the message
    parser_errors: tuple[str, ...] = ()
    # the limits (`parse.limits`) where reading stopped, as "recipients (over 100)": the rest of the
    # message was not read, so the reports may be incomplete
    truncated: tuple[str, ...] = ()


@dataclass(frozen=True)
class Verdict:
    """The decision for one recipient report."""

    reason: str
    hard: bool
    action: str
    status: str | None  # as reported, else inferred from the text or the reason
    provider: str | None
    rule: str | None
    details: Mapping[str, str | bool] = field(default_factory=dict)  # blocklist, listed_ip, ref, invalid_recipient, ...
    evidence: tuple[str, ...] = ()  # the text a rule matched, for `explain`
    reply_code: str | None = None


@dataclass(frozen=True)
class AddressInfo:
    """What we know about the recipient address itself."""

    address: str | None
    domain: str | None
    quoted_local_part: bool = False
    suggested_address: str | None = None
    problem: str | None = None  # why it is not a valid address ("no '@'", ...); None for an address


# Where an outcome's recipient was read: a field group of a delivery-status or feedback report, the
# bounce's own words, the returned message's headers, an auto-reply's From, or the address the bounce
# was sent to (the sender's VERP return path, `dsnworker.identify`).
RECIPIENT_SOURCES = ("dsn", "text", "returned", "sender", "verp")


@dataclass(frozen=True)
class Identity:
    """How an outcome's recipient was identified, when that was asked for (`dsnworker.identify`)."""

    source: str | None  # one of RECIPIENT_SOURCES; None without a recipient
    verp_recipient: str | None = None  # what the address the bounce was sent to decodes to
    named_recipient: str | None = None  # what the bounce named, where the VERP address replaced it


@dataclass(frozen=True)
class Outcome:
    """One line of output: a report, its address facts and its verdict."""

    source: str
    message: ParsedMessage
    report: RecipientReport | None
    address: AddressInfo
    verdict: Verdict
    identity: Identity | None = None

    def to_dict(self) -> dict[str, Any]:
        """The output contract's record: the dict `dsnworker parse --format jsonl` prints as a line."""
        from dsnworker.output import outcome_record  # output imports this module

        return outcome_record(self)


def evolved(record: _Record, **changes: Any) -> _Record:
    """`dataclasses.replace` for the records above, ~4x faster (parsers call it on every message).

    These records have no `__post_init__` and every field is an `__init__` argument: `replace`,
    which calls `__init__` with every field again, gives a record equal field for field to a copy
    of this one's fields with `changes` set, which is what this builds directly.
    """
    fields = record.__dataclass_fields__  # type: ignore[attr-defined]
    if not fields.keys() >= changes.keys():
        raise TypeError(f"{type(record).__name__} has no field {sorted(changes.keys() - fields.keys())[0]!r}")
    copy = object.__new__(type(record))
    copy.__dict__.update(record.__dict__)
    copy.__dict__.update(changes)  # frozen: its __setattr__ refuses, but the values are set here, once
    return copy  # type: ignore[no-any-return]
