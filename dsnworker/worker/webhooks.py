"""Webhook delivery from the outbox: at least once, in order per recipient, retried for days.

Each webhook sink has a queue in the state (`webhook_queue`), fed from the outbox. A round takes the
events that are due (none of them behind an earlier undelivered event of the same recipient),
POSTs them (one per request, or `batch_size` per request), and records the answer:

- 2xx: delivered, the row is deleted (the event stays in the outbox);
- 410: the endpoint is gone; delivery to this sink stops and the operator is told, until
  `dsnworker outbox retry --all`;
- anything else (5xx, 429, timeouts, refused connections): that event is retried after an
  exponential backoff with jitter (or the server's Retry-After), until `retry_for` has passed; then
  a dead letter. The round goes on with the other recipients' events: one event the consumer
  cannot take costs them one request, never a wait. A failed batch is sent again one event per
  request at once, so the event that failed it is found and the others go. Only when the endpoint
  itself fails (`retry.EndpointBreaker`: failures in a row, or a 429) does the sink pause.

A crash between a POST and its record sends that event again: consumers dedupe by its `id`.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dsnworker.worker.faults import crash_point
from dsnworker.worker.retry import LONGEST_RETRY, EndpointBreaker, backoff
from dsnworker.worker.settings import Settings, SinkSettings
from dsnworker.worker.state import QueuedEvent, Store

if TYPE_CHECKING:  # urllib3 is imported only where a webhook sink is configured
    from dsnworker.sinks.webhook import PostResult, WebhookClient

log = logging.getLogger(__name__)

_QUEUE_CHUNK = 2000  # outbox events queued per transaction
_ROUND_SECONDS = 20.0  # a round yields after this long, so a stop is never kept waiting


@dataclass
class RoundSummary:
    sink: str
    delivered: int = 0
    failed: int = 0
    dead: int = 0
    gone: bool = False

    def line(self) -> str:
        state = " (endpoint gone: delivery stopped)" if self.gone else ""
        return f"webhook={self.sink} delivered={self.delivered} failed={self.failed} dead={self.dead}{state}"


class WebhookDelivery:
    """Delivery to one webhook sink. `run_round` is called by the scheduler (its own job) and by `poll`."""

    def __init__(
        self,
        store: Store,
        sink: SinkSettings,
        mailboxes: frozenset[str],
        client: WebhookClient,
        clock: Callable[[], float] = time.time,
        stop: threading.Event | None = None,
    ) -> None:
        self.store = store
        self.sink = sink
        self.mailboxes = mailboxes
        self.client = client
        self.clock = clock
        self.stop = stop or threading.Event()
        self.rng = random.Random()
        self.breaker = EndpointBreaker(self.rng)
        self.on_attempt: Callable[[str, str, float], None] | None = None  # the metrics' hook: sink, outcome, seconds

    @classmethod
    def for_settings(cls, store: Store, settings: Settings, stop: threading.Event) -> list[WebhookDelivery]:
        from dsnworker.sinks.webhook import WebhookClient, load_secrets

        deliveries = []
        for sink in settings.sinks:
            if sink.kind != "webhook":
                continue
            mailboxes = frozenset(m.name for m in settings.mailboxes if sink in settings.sinks_for(m))
            client = WebhookClient(sink, load_secrets(sink))
            deliveries.append(cls(store, sink, mailboxes, client, stop=stop))
        return deliveries

    def run_round(self, max_seconds: float = _ROUND_SECONDS) -> RoundSummary:
        summary = RoundSummary(self.sink.name)
        self._queue_new_events()
        if self.store.webhook_sink(self.sink.name).gone_at is not None:
            summary.gone = True
            return summary
        if self.breaker.paused(self.clock()):
            return summary
        started = time.monotonic()
        while not self.stop.is_set() and time.monotonic() - started < max_seconds:
            due = self.store.due_webhook_events(self.sink.name, self.clock(), self.sink.batch_size * 20)
            if not due:
                break
            if not self._send(due, summary):
                break  # the endpoint is failing: the rest waits for its own retry time
        return summary

    def _queue_new_events(self) -> None:
        name = self.sink.name
        while True:
            mark = self.store.webhook_sink(name).queued_seq
            events = self.store.events_after(mark, _QUEUE_CHUNK)
            if not events:
                return
            rows = []
            for event in events:
                if event.mailbox not in self.mailboxes:
                    continue
                incident = event.body["data"].get("incident") if event.recipient is None else None
                ordering = event.recipient or incident or event.id
                rows.append((event.seq, str(ordering)))
            self.store.queue_for_webhook(name, rows, events[-1].seq, self.clock())

    def _send(self, due: list[QueuedEvent], summary: RoundSummary) -> bool:
        """POST the due events in requests of `batch_size`; False when sending must stop for now."""
        for start in range(0, len(due), self.sink.batch_size):
            if self.stop.is_set():
                return False
            if not self._post(due[start : start + self.sink.batch_size], summary):
                return False
        return True

    def _post(self, group: Sequence[QueuedEvent], summary: RoundSummary) -> bool:
        """One request (then one per event, if a batch failed) and its record; False when sending must
        stop for now: the endpoint is gone or paused, or the worker stops."""
        started = time.monotonic()
        result = self.client.post([queued.event for queued in group])
        if self.on_attempt is not None:
            self.on_attempt(self.sink.name, result.outcome, time.monotonic() - started)
        crash_point("after_webhook_post")
        if result.outcome == "delivered":
            self.store.webhook_delivered(self.sink.name, [queued.seq for queued in group])
            summary.delivered += len(group)
            self.breaker.answered()
            return True
        if result.outcome == "gone":
            self.store.webhook_gone(self.sink.name, self.clock(), result.detail)
            log.error(
                "webhook %r: the endpoint answered 410 Gone (%s): delivery to it is stopped; once it is fixed, "
                "`dsnworker outbox retry --all` starts it again",
                self.sink.name,
                result.detail,
            )
            summary.gone = True
            return False
        if not _endpoint_failed(result):
            self.breaker.answered()  # e.g. a 400: the consumer refuses this request, the endpoint is up
        elif self.breaker.failed(self.clock(), result.retry_after, at_once=result.status == 429):
            self._failed(group, result, summary)
            return False
        if len(group) == 1:
            self._failed(group, result, summary)
            return True
        # a batch fails as a whole for any one event its consumer cannot take: each alone, now
        for done, queued in enumerate(group):
            if self.stop.is_set():
                self._failed(group[done:], result, summary)  # they failed in the batch: an attempt each
                return False
            if not self._post([queued], summary):
                if rest := group[done + 1 :]:
                    self._failed(rest, result, summary)
                return False
        return True

    def _failed(self, group: Sequence[QueuedEvent], result: PostResult, summary: RoundSummary) -> None:
        """Schedule the next try of each event, or give it up once `retry_for` has passed."""
        now = self.clock()
        updates: list[tuple[int, float | None, str]] = []
        for queued in group:
            # Retry-After is honoured, but a server cannot push an event past its retry window with it
            wait = max(backoff(queued.attempts, self.rng), min(result.retry_after or 0.0, LONGEST_RETRY))
            if now + wait - queued.first_at > self.sink.retry_for:
                updates.append((queued.seq, None, result.detail))
                summary.dead += 1
                log.error(
                    "webhook %r: event %s given up after %d attempts over %.0f h (%s): a dead letter now",
                    self.sink.name,
                    queued.event.get("id"),
                    queued.attempts + 1,
                    (now - queued.first_at) / 3600,
                    result.detail,
                )
            else:
                updates.append((queued.seq, now + wait, result.detail))
        summary.failed += len(group)
        self.store.webhook_failed(self.sink.name, updates)
        log.warning("webhook %r: %d event(s) not delivered: %s", self.sink.name, len(group), result.detail)


def _endpoint_failed(result: PostResult) -> bool:
    """Whether the answer speaks of the endpoint (down, overloaded, too slow) rather than of the request."""
    return result.status is None or result.status >= 500 or result.status in (408, 429)
