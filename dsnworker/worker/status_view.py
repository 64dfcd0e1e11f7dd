"""`dsnworker status`: the worker's state for a person (an aligned table) or a machine (one JSON document).

Reads the state read-only and takes no lock: it runs beside a live worker. Exit status 1 when a mailbox
is unhealthy (its last pass failed, none ended within three intervals, or it cannot be reached), so
that cron or a monitor can call it.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dsnworker.worker import credentials
from dsnworker.worker.config import load_settings
from dsnworker.worker.redaction import redact
from dsnworker.worker.state import Store
from dsnworker.worker.state_file import marker_path
from dsnworker.worker.status import Status, collect_status


def status_command(config: Path, output_format: str) -> tuple[str, int]:
    """(what to print, the exit status)."""
    settings = load_settings(config)
    credentials.remember_configured(settings)  # a server's error text could echo a secret: redacted below
    note = None
    with tempfile.TemporaryDirectory(prefix="dsnworker-status-") as scratch:
        if not settings.state.exists() and not marker_path(settings.state).exists():
            # the worker has never run with this configuration: what waits is still worth showing, read
            # against an empty state of our own (a state that existed and vanished stays an error)
            note = f"no state yet at {settings.state}: the worker has not run with this configuration"
            Store(Path(scratch) / "state.sqlite").close()
            store = Store.read_only(Path(scratch) / "state.sqlite")
        else:
            store = Store.read_only(settings.state)
        try:
            status = collect_status(settings, store, time.time())
        finally:
            store.close()
    text = as_json(status, note) if output_format == "json" else as_table(status, note)
    return redact(text), 0 if status.healthy else 1


def as_json(status: Status, note: str | None = None) -> str:
    document: dict[str, Any] = {
        "at": _iso(status.at),
        "note": note,
        "healthy": status.healthy,
        "mailboxes": [],
        "sinks": [asdict(sink) for sink in status.sinks],
        "open_incidents": status.open_incidents,
    }
    for mailbox in status.mailboxes:
        last = mailbox.last_pass
        document["mailboxes"].append(
            {
                "name": mailbox.name,
                "last_pass": None
                if last is None
                else {
                    "started_at": _iso(last.started_at),
                    "seconds": round(last.seconds, 3),
                    "outcome": last.outcome,
                    "error": last.error,
                    "last_ok_at": _iso(last.last_ok_at) if last.last_ok_at is not None else None,
                },
                "cursor": asdict(mailbox.cursor),
                "waiting": mailbox.waiting,
                "waiting_error": mailbox.waiting_error,
                "problem": mailbox.problem,
            }
        )
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"


def as_table(status: Status, note: str | None = None) -> str:
    mailboxes = [("MAILBOX", "LAST PASS", "TOOK", "OUTCOME", "CURSOR", "WAITING", "PROBLEM")]
    for mailbox in status.mailboxes:
        last = mailbox.last_pass
        cursor = mailbox.cursor
        mailboxes.append(
            (
                mailbox.name,
                _ago(last.started_at, status.at) if last else "never",
                f"{last.seconds:.2f}s" if last else "-",
                last.outcome if last else "-",
                f"{cursor.uidvalidity}/{cursor.last_uid}" if cursor.uidvalidity is not None else "-",
                str(mailbox.waiting) if mailbox.waiting is not None else "?",
                mailbox.problem or "-",
            )
        )
    sinks = [("SINK", "TYPE", "PENDING", "DEAD", "OLDEST PENDING", "NOTE")]
    for sink in status.sinks:
        sink_note = f"endpoint gone: {sink.gone}" if sink.gone else ""
        if sink.suppressed is not None:
            sink_note = f"{sink.suppressed} suppressed address(es)"
        oldest = sink.oldest_pending_seconds
        sinks.append(
            (
                sink.name,
                sink.kind,
                str(sink.pending),
                str(sink.dead) if sink.kind == "webhook" else "-",
                _duration(oldest) if oldest is not None else "-",
                sink_note or "-",
            )
        )
    verdict = "healthy" if status.healthy else "UNHEALTHY"
    return (
        (f"{note}\n\n" if note else "")
        + _aligned(mailboxes)
        + "\n"
        + _aligned(sinks)
        + f"\nopen incidents: {status.open_incidents}\nstatus: {verdict} at {_iso(status.at)}\n"
    )


def _aligned(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() + "\n" for row in rows
    )


def _ago(moment: float, now: float) -> str:
    return f"{_iso(moment)} ({_duration(max(0.0, now - moment))} ago)"


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
