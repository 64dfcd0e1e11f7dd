"""`dsnworker erase ADDRESS`: a data-protection request. The address leaves the state, the events file
and the suppression files; nothing else does.

- An event about the address (its `recipient`, `original_recipient` or `suggested_address`) is deleted:
  from the outbox (delivered or still waiting, with its webhook queue rows, dead letters included)
  and from the events file. Another event that merely mentions it (an incident's diagnostic, a
  returned To: header) keeps its place and its id, with the address replaced by `[erased]`.
- Its soft-bounce history and suppression history are deleted; incidents' details are scrubbed.
- Its rows leave every suppression file.

The address is matched in any case (local part included): a request is about a person, and erring
towards removal is right here. Everything runs under the delivery lock (no worker delivers meanwhile,
so none writes back an event it read before) and each file is rewritten under its own lock,
atomically. The state's deletions overwrite the old content (`secure_delete`) and the write-ahead log
is truncated when no reader holds it, so the address's bytes do not linger in the files (on
PostgreSQL the tables are rewritten instead: erasure_pg). A kill at
any point leaves each place either done or untouched; running the command again finishes the job.
Not touched: the bounce messages in the mailboxes (the operator's mail) and what webhook consumers
already received.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from dsnworker.sinks.events_file import EventsFile, encode_event
from dsnworker.sinks.suppression import SuppressionFile
from dsnworker.worker.faults import crash_point
from dsnworker.worker.settings import PostgresState, Settings
from dsnworker.worker.state import Store

ERASED = "[erased]"
_ABOUT = ("recipient", "original_recipient", "suggested_address")
_ADDRESS_CHARS = r"A-Za-z0-9!#$%&'*+/=?^_`{|}~.\-"


@dataclass
class Erasure:
    """What left each place: counts for the command's report."""

    address: str
    outbox_events: int = 0
    events_scrubbed: int = 0
    webhook_queue: int = 0
    soft_bounces: int = 0
    suppression_history: int = 0
    incidents_scrubbed: int = 0
    wal_truncated: bool = True
    rewritten: list[str] = field(default_factory=list)  # PostgreSQL: the tables VACUUM FULL rewrote
    files: list[tuple[Path, str, int, int]] = field(default_factory=list)  # path, what, removed, scrubbed


class Matcher:
    """Finds one address in events and text, in any case, not as a part of a longer address."""

    def __init__(self, address: str) -> None:
        self.address = address.strip()
        self.folded = self.address.casefold()
        # in a JSON text the address may be written with escapes (a quoted local part's `"`)
        self.needle = json.dumps(self.address, ensure_ascii=False)[1:-1]
        self._pattern = re.compile(
            rf"(?<![{_ADDRESS_CHARS}]){re.escape(self.address)}(?![A-Za-z0-9\-]|\.[A-Za-z0-9])", re.IGNORECASE
        )

    def is_address(self, value: object) -> bool:
        return isinstance(value, str) and value.strip().strip("<>").casefold() == self.folded

    def edit_event(self, event: dict[str, Any]) -> dict[str, Any] | None:
        """None for an event about the address; else the event with every mention scrubbed."""
        data = event.get("data")
        if isinstance(data, dict) and any(self.is_address(data.get(key)) for key in _ABOUT):
            return None
        scrubbed = self.scrub(event)
        assert isinstance(scrubbed, dict)
        return scrubbed

    def scrub(self, value: Any) -> Any:
        if isinstance(value, str):
            return self._pattern.sub(ERASED, value)
        if isinstance(value, dict):
            return {key: self.scrub(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.scrub(item) for item in value]
        return value

    def edit_line(self, line: bytes) -> bytes | None:
        """An events file line: dropped, scrubbed, or (most lines: no mention at all) the same bytes."""
        if self.needle.lower().encode("utf-8", "backslashreplace") not in line.lower():
            return line
        try:
            event = json.loads(line)
        except ValueError:
            event = None
        if not isinstance(event, dict) or not isinstance(event.get("id"), str):
            text = line.decode("utf-8", "replace")  # not ours: scrubbed as text
            return line if self._pattern.search(text) is None else self._pattern.sub(ERASED, text).encode()
        edited = self.edit_event(event)
        if edited is None:
            return None
        return line if edited == event else encode_event(edited)


def erase(settings: Settings, store: Store, address: str) -> Erasure:
    matcher = Matcher(address)
    report = Erasure(matcher.address)
    on_postgres = isinstance(settings.state, PostgresState)
    with store.delivery_lock():
        if not on_postgres:
            store.db.execute("PRAGMA secure_delete = ON")  # deleted rows are overwritten, not left in free pages
        with store.transaction():
            _erase_from_state(store, matcher, report)
        if not on_postgres:
            report.wal_truncated = _truncate_wal(store)
        crash_point("erase_after_state")
        for sink in settings.sinks:
            if sink.path is None or not sink.path.exists():
                continue
            if sink.kind == "events_file":
                removed, scrubbed = EventsFile(sink.path).rewrite(matcher.edit_line)
                report.files.append((sink.path, "line(s)", removed, scrubbed))
            elif sink.kind == "suppression_file":
                rows = SuppressionFile(sink.path, sink.format).remove(lambda row: matcher.is_address(row.get("email")))
                report.files.append((sink.path, "row(s)", len(rows), 0))
    if on_postgres:  # after the delivery lock: the worker's delivery need not wait for the rewrite
        from dsnworker.worker.erasure_pg import rewrite_tables

        report.rewritten = rewrite_tables(store)
    return report


def _erase_from_state(store: Store, matcher: Matcher, report: Erasure) -> None:
    gone = []
    for event in store.events_mentioning(matcher.needle):
        edited = matcher.edit_event(event.body)
        if edited is None:
            gone.append(event.seq)
        elif edited != event.body:
            store.set_event_body(event.seq, json.dumps(edited, ensure_ascii=False, separators=(",", ":")))
            report.events_scrubbed += 1
    report.outbox_events = len(gone)
    report.webhook_queue = store.delete_events(gone)
    report.soft_bounces, report.suppression_history = store.forget_recipient(matcher.address)
    for incident in store.incidents_mentioning(matcher.needle):
        details = matcher.scrub(incident.details)
        if details != incident.details:
            store.save_incident(replace(incident, details=details))
            report.incidents_scrubbed += 1


def _truncate_wal(store: Store) -> bool:
    """Checkpoint and empty the write-ahead log, where older copies of the pages remain; False when a
    reader (a running worker) holds it: SQLite then reuses it from the start at its next checkpoint."""
    busy, _, _ = store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    return not busy
