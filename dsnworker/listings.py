"""`suppressions list` and `outbox list`: aligned tables for people, JSON lines for programs."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from dsnworker.tables import Column, Table

SUPPRESSION_COLUMNS = (
    Column("email", "EMAIL", limit=80),
    Column("reason", "REASON"),
    Column("status", "STATUS"),
    Column("provider", "PROVIDER"),
    Column("last_seen", "LAST_SEEN"),
    Column("mailbox", "MAILBOX"),
)
OUTBOX_COLUMNS = (
    Column("sink", "SINK"),
    Column("id", "ID"),
    Column("type", "TYPE"),
    Column("recipient", "RECIPIENT", limit=80),
    Column("attempts", "ATTEMPTS", right=True),
    Column("state", "STATE"),
    Column("next_attempt", "NEXT_ATTEMPT"),
    Column("last_error", "LAST_ERROR", limit=70),
)

_to_json = json.JSONEncoder(ensure_ascii=False).encode


def print_suppressions(path: Path, file_format: str, output_format: str, out: TextIO = sys.stdout) -> None:
    """The rows of a suppression file. For the table the file is read twice, to measure the columns
    and then to print them, rather than held: a suppression file may have millions of rows."""
    from dsnworker.sinks.suppression import iter_suppressions

    def rows() -> Iterable[dict[str, Any]]:
        return iter_suppressions(path, file_format) if path.exists() else ()  # type: ignore[arg-type]

    if output_format == "jsonl":
        for row in rows():
            out.write(_to_json(row) + "\n")
        return
    table = Table(SUPPRESSION_COLUMNS)
    table.measure_all(rows())
    out.write(table.header() + "\n")
    for row in rows():
        out.write(table.line(row) + "\n")


def print_outbox(rows: list[dict[str, Any]], notes: list[str], output_format: str, out: TextIO = sys.stdout) -> None:
    """The queued webhook events; `notes` (a sink whose endpoint is gone) go before the table, or to
    stderr beside JSON lines, which must stay one object a line."""
    for note in notes:
        print(note, file=sys.stderr if output_format == "jsonl" else out)
    shown = [_outbox_row(row) for row in rows]
    if output_format == "jsonl":
        for row in shown:
            out.write(_to_json(row) + "\n")
        return
    table = Table(OUTBOX_COLUMNS)
    table.measure_all(shown)
    out.write(table.header() + "\n")
    for row in shown:
        out.write(table.line(row) + "\n")


def _outbox_row(row: dict[str, Any]) -> dict[str, Any]:
    pending = row["state"] == "pending"
    shown = {key: value for key, value in row.items() if key not in ("next_at", "first_at")}
    shown["queued_at"] = _time(row["first_at"])
    shown["next_attempt"] = _time(row["next_at"]) if pending else None  # a dead letter waits for `outbox retry`
    return shown


def _time(unix: float) -> str:
    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
