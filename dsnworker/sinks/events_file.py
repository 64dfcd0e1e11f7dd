"""The events file: every event, one compact JSON line each, for users without a webhook.

Exactly once across crashes, given the caller's contract (events come in one fixed order; progress is
recorded only after ``deliver`` returned; a retry starts at the first unrecorded event, so the first
events of a retried batch may already be in the file). Under the exclusive lock, ``deliver``:

1. cuts off a torn last line (a crash mid-write: never acknowledged, it is written again below);
2. looks for the batch's ids among the last ``lookback`` lines of the file and skips the batch up to
   and including the latest one found (the events before it were written before it, in order);
3. appends the rest in one write and fsyncs.

Step 2 looks further than the last line: after a restart the caller's retried batch may be shorter
than the one that was written before the crash (then the last line is not in it, but its first event
is), and another process sharing the file may have appended after the crash. So ``lookback`` must be
at least the caller's largest batch, plus what other writers may append in between. Only the tail
is read, never the whole file: it grows for years. Each line is written with ``"id"`` as its first
key, so an id is taken from the start of a line without parsing the rest.

When the file is exactly as this instance left it (same inode, same size), nobody wrote in between:
the ids it remembers from the tail and from its own writes stand in for reading the file again.
"""

from __future__ import annotations

import json
import re
import threading
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dsnworker.sinks.files import SinkError, locked

DEFAULT_LOOKBACK = 1000  # lines
_ID_FIRST = re.compile(rb'\{"id":("(?:[^"\\]|\\.)*")')


_to_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode  # one encoder, not one per call


def encode_event(event: Mapping[str, Any]) -> bytes:
    """One event as one line: compact JSON, UTF-8 (``ensure_ascii=False``), ``"id"`` first, newline-terminated.

    A lone surrogate (undecodable input somewhere upstream) becomes a ``\\udXXX`` escape, which is
    valid JSON and reads back as the same string, instead of an encoding error that would stall the
    outbox forever.
    """
    stored = getattr(event, "text", None)  # an outbox event's JSON as stored, id first: no round trip
    if isinstance(stored, str) and stored.startswith('{"id":'):
        return stored.encode("utf-8", "backslashreplace") + b"\n"
    line = _to_json(event if next(iter(event), None) == "id" else {"id": event["id"], **event})
    return line.encode("utf-8", "backslashreplace") + b"\n"


@dataclass
class _Memory:
    """What this instance left the file as, after its last successful delivery."""

    identity: tuple[int, int]  # (device, inode)
    size: int
    recent: deque[str]  # the ids of the last ``lookback`` lines, oldest first


class EventsFile:
    """Appends events to a JSON-lines file, each exactly once across crashes, restarts and processes."""

    def __init__(self, path: Path, *, lookback: int = DEFAULT_LOOKBACK) -> None:
        self.path = Path(path)
        self.lookback = lookback
        self._mutex = threading.Lock()  # one instance shared by threads: its memory is not thread-safe
        self._memory: _Memory | None = None

    def deliver(self, events: Sequence[Mapping[str, Any]]) -> None:
        """Append the events not yet in the file, in order; returns once they are on disk."""
        if not events:
            return
        ids = [_event_id(self.path, event) for event in events]
        lines = [encode_event(event) for event in events]  # fails before the file is touched
        with self._mutex, locked(self.path) as file:
            memory, self._memory = self._memory, None  # forgotten until this delivery has succeeded
            identity = file.identity
            if memory is None or memory.identity != identity or memory.size != file.size():
                end = file.repair_torn_line()
                memory = _Memory(identity, end, deque(_line_ids(file.tail_lines(end, self.lookback)), self.lookback))
            written = set(memory.recent)
            skip = next((index + 1 for index in range(len(ids) - 1, -1, -1) if ids[index] in written), 0)
            if skip < len(lines):
                memory.size = file.append(b"".join(lines[skip:]))
                memory.recent.extend(ids[skip:])
            self._memory = memory


def _line_ids(data: bytes) -> Iterable[str]:
    """The ids of complete JSON lines, in order: from the start of a line we wrote, else from parsing it."""
    for line in data.split(b"\n")[:-1]:
        match = _ID_FIRST.match(line)
        try:
            value = json.loads(match.group(1)) if match else json.loads(line).get("id")
        except (ValueError, AttributeError):  # not JSON, or not an object: not ours, no id
            continue
        if isinstance(value, str):
            yield value


def _event_id(path: Path, event: Mapping[str, Any]) -> str:
    event_id = event.get("id")
    if not isinstance(event_id, str) or not event_id:
        raise SinkError(path, f"an event without an id cannot be written exactly once: {dict(event)!r:.200}")
    return event_id
