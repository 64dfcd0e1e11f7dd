"""The events file: every event, one compact JSON line each, for users without a webhook.

Exactly once across crashes, restarts and a state started afresh: an event whose id is anywhere in
the file is never written again, whatever its age. Under the exclusive lock, ``deliver``:

1. cuts off a torn last line (a crash mid-write: never acknowledged, it is written again below);
2. reads the ids of the lines appended since its last look (the whole file the first time: another
   process sharing the file may have appended meanwhile);
3. appends, in order, the events whose ids the file does not hold, in one write, and fsyncs.

The ids are kept in memory (about 100 bytes each), so a file is read once per process, then only
what others appended. Looking only at the last lines would not do: after the state is lost and
started afresh (`poll --new-state`), every bounce still in the mailboxes makes its events again,
months after they were written. Each line is written with ``"id"`` as its first key, so an id is
taken from the start of a line without parsing the rest.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dsnworker.sinks.files import LockedFile, SinkError, locked
from dsnworker.sinks.rewrite import replace_content

_READ_CHUNK = 8 << 20  # bytes read at a time when catching up with the file
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
    """What this instance knows of the file: the ids of its lines up to ``size`` (a line end)."""

    identity: tuple[int, int]  # (device, inode)
    size: int
    ids: set[str]


class EventsFile:
    """Appends events to a JSON-lines file, each exactly once across crashes, restarts and processes."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
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
            if memory is None or memory.identity != identity or file.size() < memory.size:
                memory = _Memory(identity, 0, set())  # first look, or replaced (rotated) or cut by hand
            if file.size() != memory.size:
                _catch_up(file, memory)
            fresh: list[bytes] = []
            for event_id, line in zip(ids, lines, strict=True):
                if event_id not in memory.ids:
                    memory.ids.add(event_id)  # also keeps a batch that repeats an id to one line
                    fresh.append(line)
            if fresh:  # if this fails, the memory (holding the new ids already) is dropped with it
                memory.size = file.append(b"".join(fresh))
            self._memory = memory

    def rewrite(self, edit: Callable[[bytes], bytes | None]) -> tuple[int, int]:
        """Pass every line through ``edit`` (None drops it, other bytes replace it) and, if that changes
        anything, replace the file atomically under the lock; (lines dropped, lines changed).

        For erasure only: an event dropped here must also be gone from the outbox, or a replay would
        write it again.
        """
        with self._mutex, locked(self.path) as file:
            self._memory = None  # read afresh next time: ids may have left the file
            end = file.repair_torn_line()
            dropped = changed = 0
            for line in _lines(file, end):
                edited = edit(line)
                dropped += edited is None
                changed += edited is not None and edited != line
            if dropped or changed:
                replace_content(file, (edited for line in _lines(file, end) if (edited := edit(line)) is not None))
            return dropped, changed


def _lines(file: LockedFile, end: int) -> Iterator[bytes]:
    """The complete lines of the file up to ``end`` (a line end), newline included, a chunk at a time."""
    offset = 0
    while offset < end:
        data = file.read(offset, min(_READ_CHUNK, end - offset))
        cut = data.rfind(b"\n") + 1
        while cut == 0:  # a line longer than the chunk
            data = file.read(offset, min(len(data) * 2, end - offset))
            cut = data.rfind(b"\n") + 1
        for line in data[:cut].split(b"\n")[:-1]:
            yield line + b"\n"
        offset += cut


def _catch_up(file: LockedFile, memory: _Memory) -> None:
    """Read the ids of the complete lines after ``memory.size``; cut a torn last line."""
    end = file.repair_torn_line()
    offset = memory.size
    while offset < end:
        data = file.read(offset, min(_READ_CHUNK, end - offset))
        cut = data.rfind(b"\n") + 1
        while cut == 0:  # a line longer than the chunk: read more (``end`` is a line end)
            data = file.read(offset, min(len(data) * 2, end - offset))
            cut = data.rfind(b"\n") + 1
        memory.ids.update(_line_ids(data[:cut]))
        offset += cut
    memory.size = end


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
