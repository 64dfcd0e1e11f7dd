"""From the outbox to the file sinks, in outbox order, recording progress only after a sink returns.

A crash between a sink's write and the progress update replays a suffix of the outbox; the file
sinks recognise what they already hold (see `dsnworker.sinks`), so nothing is written twice.

One deliverer at a time, across processes: `suppressions remove` and `erase` change the sink files and
the outbox while a worker may run. Without `delivery_lock`, a worker that had read an event just
before an erasure would write it back after, and two deliverers could apply a suppression and its
removal out of order.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from dsnworker.worker.faults import crash_point
from dsnworker.worker.settings import Settings, SinkSettings
from dsnworker.worker.state import Store

log = logging.getLogger(__name__)


class Sink(Protocol):
    def deliver(self, events: Sequence[Mapping[str, Any]]) -> None: ...


@dataclass
class _Route:
    settings: SinkSettings
    sink: Sink
    mailboxes: frozenset[str]  # whose events it takes
    lock: threading.Lock


class OutboxDelivery:
    def __init__(self, store: Store, routes: list[_Route]) -> None:
        self.store = store
        self.routes = routes
        # a shared PostgreSQL state: whether this worker holds the file-sinks lease (one writer for the files)
        self.may_write: Callable[[], bool] = lambda: True

    @classmethod
    def for_settings(cls, store: Store, settings: Settings) -> OutboxDelivery:
        routes = []
        for sink_settings in settings.sinks:
            sink = open_file_sink(sink_settings)
            if sink is None:
                continue  # webhooks are delivered by their own job
            mailboxes = frozenset(m.name for m in settings.mailboxes if sink_settings in settings.sinks_for(m))
            routes.append(_Route(sink_settings, sink, mailboxes, threading.Lock()))
        return cls(store, routes)

    def deliver_pending(self, batch: int = 1000) -> int:
        """Deliver every event not yet delivered to each file sink; the number of events written."""
        written = 0
        if not self.routes or not self.may_write():
            return 0
        with self.store.delivery_lock():
            for route in self.routes:
                written += self._deliver_route(route, batch)
        return written

    def _deliver_route(self, route: _Route, batch: int) -> int:
        written = 0
        with route.lock:  # mailbox passes run in parallel threads; a sink's progress moves one way
            seq = self.store.sink_progress(route.settings.name)
            while events := self.store.events_after(seq, batch):
                wanted = [event for event in events if event.mailbox in route.mailboxes]
                if wanted:
                    route.sink.deliver(wanted)
                    written += len(wanted)
                crash_point("after_sink_write")
                seq = events[-1].seq
                self.store.set_sink_progress(route.settings.name, seq)
        return written


def open_file_sink(settings: SinkSettings) -> Sink | None:
    from dsnworker.sinks.events_file import EventsFile
    from dsnworker.sinks.suppression import SuppressionFile

    assert settings.path is not None or settings.kind == "webhook"
    if settings.kind == "suppression_file":
        return SuppressionFile(settings.path, settings.format)  # type: ignore[arg-type]
    if settings.kind == "events_file":
        return EventsFile(settings.path)  # type: ignore[arg-type]
    return None
