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
from pathlib import Path
from typing import Any

from dsnworker.tables import Column, render
from dsnworker.worker import credentials
from dsnworker.worker.config import load_settings
from dsnworker.worker.leases import FILE_SINKS, mailbox_lease
from dsnworker.worker.redaction import redact
from dsnworker.worker.state import Store
from dsnworker.worker.state_file import marker_path
from dsnworker.worker.status import Status, collect_status, iso
from dsnworker.worker.stores import open_read_only


def status_command(config: Path, output_format: str) -> tuple[str, int]:
    """(what to print, the exit status)."""
    settings = load_settings(config)
    credentials.remember_configured(settings)  # a server's error text could echo a secret: redacted below
    note = None
    with tempfile.TemporaryDirectory(prefix="dsnworker-status-") as scratch:
        if (
            isinstance(settings.state, Path)
            and not settings.state.exists()
            and not marker_path(settings.state).exists()
        ):
            # the worker has never run with this configuration: what waits is still worth showing, read
            # against an empty state of our own (a state that existed and vanished stays an error)
            note = f"no state yet at {settings.state}: the worker has not run with this configuration"
            Store(Path(scratch) / "state.sqlite").close()
            store = Store.read_only(Path(scratch) / "state.sqlite")
        else:
            store = open_read_only(settings)
        try:
            status = collect_status(settings, store, time.time())
        finally:
            store.close()
    text = as_json(status, note) if output_format == "json" else as_table(status, note)
    return redact(text), 0 if status.healthy else 1


def as_json(status: Status, note: str | None = None) -> str:
    document: dict[str, Any] = {
        "at": iso(status.at),
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
                    "started_at": iso(last.started_at),
                    "seconds": round(last.seconds, 3),
                    "outcome": last.outcome,
                    "error": last.error,
                    "last_ok_at": iso(last.last_ok_at) if last.last_ok_at is not None else None,
                },
                "cursor": asdict(mailbox.cursor),
                "waiting": mailbox.waiting,
                "waiting_error": mailbox.waiting_error,
                "problem": mailbox.problem,
            }
        )
    if status.cluster is not None:
        _cluster_json(document, status)
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"


def _cluster_json(document: dict[str, Any], status: Status) -> None:
    """A shared PostgreSQL state: each mailbox's lease, the file sinks' writer, the workers alive."""
    cluster = status.cluster
    assert cluster is not None

    def lease(name: str) -> dict[str, Any] | None:
        held = cluster.holder(name, status.at)
        if held is None:
            return None
        return {"owner": held.owner, "generation": held.generation, "expires_at": iso(held.expires_at)}

    for mailbox in document["mailboxes"]:
        mailbox["lease"] = lease(mailbox_lease(mailbox["name"]))
    document["file_sinks_lease"] = lease(FILE_SINKS)
    document["workers"] = [
        {
            "id": worker.id,
            "host": worker.host,
            "pid": worker.pid,
            "started_at": iso(worker.started_at),
            "last_heartbeat": iso(worker.heartbeat_at),
        }
        for worker in cluster.workers
    ]


_WHOLE = 100_000  # status cells are never cut: a problem's whole text is what the operator needs

_MAILBOX_COLUMNS = [
    Column(key, title, _WHOLE)
    for key, title in (
        ("name", "MAILBOX"),
        ("last", "LAST PASS"),
        ("took", "TOOK"),
        ("outcome", "OUTCOME"),
        ("cursor", "CURSOR"),
        ("waiting", "WAITING"),
        ("problem", "PROBLEM"),
    )
]
_LEASE_COLUMNS = [Column("owner", "OWNER", _WHOLE), Column("until", "LEASE UNTIL", _WHOLE)]
_WORKER_COLUMNS = [
    Column(key, title, _WHOLE)
    for key, title in (("id", "WORKER"), ("host", "HOST"), ("pid", "PID"), ("heartbeat", "LAST HEARTBEAT"))
]
_SINK_COLUMNS = [
    Column(key, title, _WHOLE)
    for key, title in (
        ("name", "SINK"),
        ("kind", "TYPE"),
        ("pending", "PENDING"),
        ("dead", "DEAD"),
        ("oldest", "OLDEST PENDING"),
        ("note", "NOTE"),
    )
]


def as_table(status: Status, note: str | None = None) -> str:
    mailboxes: list[dict[str, object]] = []
    cluster = status.cluster
    for mailbox in status.mailboxes:
        last = mailbox.last_pass
        cursor = mailbox.cursor
        row: dict[str, object] = {
            "name": mailbox.name,
            "last": _ago(last.started_at, status.at) if last else "never",
            "took": f"{last.seconds:.2f}s" if last else None,
            "outcome": last.outcome if last else None,
            "cursor": f"{cursor.uidvalidity}/{cursor.last_uid}" if cursor.uidvalidity is not None else None,
            "waiting": mailbox.waiting if mailbox.waiting is not None else "?",
            "problem": mailbox.problem,
        }
        if cluster is not None:
            held = cluster.holder(mailbox_lease(mailbox.name), status.at)
            row |= {"owner": held.owner if held else None, "until": iso(held.expires_at) if held else None}
        mailboxes.append(row)
    columns = _MAILBOX_COLUMNS if cluster is None else [*_MAILBOX_COLUMNS[:-1], *_LEASE_COLUMNS, _MAILBOX_COLUMNS[-1]]
    sinks: list[dict[str, object]] = []
    for sink in status.sinks:
        sink_note = f"endpoint gone: {sink.gone}" if sink.gone else None
        if sink.suppressed is not None:
            sink_note = f"{sink.suppressed} suppressed address(es)"
        oldest = sink.oldest_pending_seconds
        sinks.append(
            {
                "name": sink.name,
                "kind": sink.kind,
                "pending": sink.pending,
                "dead": sink.dead if sink.kind == "webhook" else None,
                "oldest": _duration(oldest) if oldest is not None else None,
                "note": sink_note,
            }
        )
    verdict = "healthy" if status.healthy else "UNHEALTHY"
    return (
        (f"{note}\n\n" if note else "")
        + "".join(line + "\n" for line in render(columns, mailboxes))
        + "\n"
        + "".join(line + "\n" for line in render(_SINK_COLUMNS, sinks))
        + (_workers_table(status) if cluster is not None else "")
        + f"\nopen incidents: {status.open_incidents}\nstatus: {verdict} at {iso(status.at)}\n"
    )


def _workers_table(status: Status) -> str:
    """The workers alive and which one writes the file sinks (a shared PostgreSQL state)."""
    assert status.cluster is not None
    workers = [
        {"id": w.id, "host": w.host, "pid": w.pid, "heartbeat": _ago(w.heartbeat_at, status.at)}
        for w in status.cluster.workers
    ]
    writer = status.cluster.holder(FILE_SINKS, status.at)
    said = f"file sinks written by: {writer.owner if writer else 'no worker now'}\n"
    if not workers:
        return f"\nworkers alive: none\n{said}"
    return "\n" + "".join(line + "\n" for line in render(_WORKER_COLUMNS, workers)) + said


def _ago(moment: float, now: float) -> str:
    return f"{iso(moment)} ({_duration(max(0.0, now - moment))} ago)"


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"
