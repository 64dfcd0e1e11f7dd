"""Outcomes as the contract's JSON lines (docs: ../shared/docs/output-contract.md) or a table."""

from __future__ import annotations

import json
from typing import Any

from dsnworker.model import Outcome

_to_json = json.JSONEncoder(ensure_ascii=False).encode  # json.dumps would build one per record

CONTRACT_KEYS = (
    "source",
    "recipient",
    "original_recipient",
    "status",
    "reply_code",
    "diagnostic",
    "remote_mta",
    "reporting_mta",
    "reason",
    "hard",
    "action",
    "provider",
    "rule",
)


def outcome_record(outcome: Outcome) -> dict[str, Any]:
    """One output line: the contract's keys (always present), then the keys that apply."""
    report, verdict, message = outcome.report, outcome.verdict, outcome.message
    record: dict[str, Any] = {
        "source": outcome.source,
        "recipient": report.recipient if report else None,
        "original_recipient": report.original_recipient if report else None,
        "status": verdict.status,
        "reply_code": verdict.reply_code,
        "diagnostic": report.diagnostic if report else None,
        "remote_mta": report.remote_mta if report else None,
        "reporting_mta": report.reporting_mta if report else None,
        "reason": verdict.reason,
        "hard": verdict.hard,
        "action": verdict.action,
        "provider": verdict.provider,
        "rule": verdict.rule,
    }
    record["format"] = message.format
    if outcome.identity is not None:  # asked for: `parse --verp`, the worker's events
        record["recipient_source"] = outcome.identity.source
        if outcome.identity.verp_recipient is not None:
            record["verp_recipient"] = outcome.identity.verp_recipient
        if outcome.identity.named_recipient is not None:
            record["named_recipient"] = outcome.identity.named_recipient
    if outcome.address.quoted_local_part:
        record["quoted_local_part"] = True
        if verdict.reason == "quoted_local_part":
            record["suggested_address"] = outcome.address.suggested_address
            record["unquotable"] = outcome.address.suggested_address is None
    for key, value in verdict.details.items():
        record.setdefault(key, value)
    if report is not None and report.feedback_type:
        record["feedback_type"] = report.feedback_type
    if report is not None and report.command:
        record["command"] = report.command
    if message.original_message_id:
        record["original_message_id"] = message.original_message_id
    if message.original_headers:
        record["original_headers"] = dict(message.original_headers)
    if message.parser_errors:
        record["parser_errors"] = list(message.parser_errors)
    if message.truncated:
        record["truncated"] = True
    return record


def outcome_lines(outcomes: list[Outcome], table: bool) -> str:
    """`dsnworker parse`'s output for one message: a JSON line (or a table row) per outcome."""
    if table:
        return "".join(table_row(outcome_record(outcome)) + "\n" for outcome in outcomes)
    return "".join(_to_json(outcome_record(outcome)) + "\n" for outcome in outcomes)


TABLE_COLUMNS = (
    ("source", 28),
    ("recipient", 30),
    ("status", 7),
    ("reason", 17),
    ("action", 11),
    ("provider", 9),
    ("rule", 34),
)


def table_header() -> str:
    return "  ".join(name.upper().ljust(width) for name, width in TABLE_COLUMNS).rstrip()


def table_row(record: dict[str, Any]) -> str:
    cells = []
    for name, width in TABLE_COLUMNS:
        value = record.get(name)
        text = "-" if value is None else str(value)
        if name == "source" and len(text) > width:
            text = shorten_source(text, width)
        elif len(text) > width:
            text = text[: width - 1] + "…"
        cells.append(text.ljust(width))
    return "  ".join(cells).rstrip()


def shorten_source(source: str, width: int) -> str:
    """A long path cut from the left of its folder, never in its file name (`…/bounces/0042.eml`):
    the name is what a person looks for, and may be longer than the column (the row is then wider)."""
    folder, slash, name = source.rpartition("/")
    if not slash:
        return source
    room = width - len(name) - 2  # "…" and "/"
    return f"…{folder[-room:]}/{name}" if room > 0 else f"…/{name}"
