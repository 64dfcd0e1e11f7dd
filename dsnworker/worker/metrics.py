"""The worker's Prometheus metrics (prometheus_client: its registry, its text format, no hand-written exposition).

Counted as things happen: outcomes by mailbox, provider, reason and action (once their batch is
committed: a rolled-back batch counts nothing), messages by category, pass durations and results,
webhook requests by result and their latency. Read from the state at each scrape (so they are right
from the first scrape after a restart): the last successful pass per mailbox, each sink's pending
events, dead letters and oldest pending age, the open incidents.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from dsnworker.worker.pipeline import Committed
from dsnworker.worker.settings import Settings
from dsnworker.worker.status import open_incidents, sink_statuses
from dsnworker.worker.stores import open_read_only

# a pass takes milliseconds when nothing is new, minutes on a backlog
_PASS_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0)


class Metrics:
    """The worker's metrics, in a registry of their own (not prometheus_client's process-wide one)."""

    def __init__(self, settings: Settings) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.outcomes = Counter(
            "dsnworker_outcomes",
            "Recipients' outcomes committed, by mailbox, provider, reason and the action taken",
            ("mailbox", "provider", "reason", "action"),
            registry=self.registry,
        )
        self.messages = Counter(
            "dsnworker_messages",
            "Messages read, by mailbox and category (bounce, not_bounce, unparsed, duplicate)",
            ("mailbox", "category"),
            registry=self.registry,
        )
        self.passes = Counter(
            "dsnworker_passes",
            "Passes over a mailbox, by result (ok, failed)",
            ("mailbox", "result"),
            registry=self.registry,
        )
        self.pass_seconds = Histogram(
            "dsnworker_pass_duration_seconds",
            "How long a pass over a mailbox took",
            ("mailbox",),
            buckets=_PASS_BUCKETS,
            registry=self.registry,
        )
        self.webhook_attempts = Counter(
            "dsnworker_webhook_attempts",
            "Webhook requests, by sink and result (delivered, retry, gone)",
            ("sink", "result"),
            registry=self.registry,
        )
        self.webhook_seconds = Histogram(
            "dsnworker_webhook_request_duration_seconds",
            "How long a webhook request took to be answered (or to fail)",
            ("sink",),
            registry=self.registry,
        )
        for mailbox in settings.mailboxes:  # every series from the first scrape, at 0
            for result in ("ok", "failed"):
                self.passes.labels(mailbox.name, result)
            self.pass_seconds.labels(mailbox.name)
        self.registry.register(StateCollector(settings))

    def committed(self, batch: Committed) -> None:
        for (provider, reason, action), count in batch.outcomes.items():
            self.outcomes.labels(batch.mailbox, provider, reason, action).inc(count)
        for category, count in batch.messages.items():
            if count:
                self.messages.labels(batch.mailbox, category).inc(count)

    def pass_done(self, mailbox: str, seconds: float, ok: bool) -> None:
        self.passes.labels(mailbox, "ok" if ok else "failed").inc()
        self.pass_seconds.labels(mailbox).observe(seconds)

    def webhook_attempt(self, sink: str, result: str, seconds: float) -> None:
        self.webhook_attempts.labels(sink, result).inc()
        self.webhook_seconds.labels(sink).observe(seconds)


class StateCollector(Collector):
    """Gauges read from the state at each scrape, on a read-only connection of the scrape's own."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(())  # the families are known only once collected: no describe-time state read

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = time.time()
        store = open_read_only(self.settings)
        try:
            passes = store.passes()
            sinks = sink_statuses(self.settings, store, now, count_suppressed=False)
            incidents = open_incidents(store, now)
        finally:
            store.close()
        last_ok = GaugeMetricFamily(
            "dsnworker_last_successful_pass_timestamp_seconds",
            "When the last pass over a mailbox that went well ended (unix time)",
            labels=("mailbox",),
        )
        last_failed = GaugeMetricFamily(
            "dsnworker_last_pass_failed", "1 when the last pass over a mailbox failed", labels=("mailbox",)
        )
        for mailbox in self.settings.mailboxes:
            record = passes.get(mailbox.name)
            if record is not None and record.last_ok_at is not None:
                last_ok.add_metric((mailbox.name,), record.last_ok_at)
            if record is not None:
                last_failed.add_metric((mailbox.name,), float(record.outcome != "ok"))
        pending = GaugeMetricFamily("dsnworker_sink_pending_events", "Events not delivered yet", labels=("sink",))
        dead = GaugeMetricFamily(
            "dsnworker_sink_dead_letters", "Webhook events given up (dead letters)", labels=("sink",)
        )
        oldest = GaugeMetricFamily(
            "dsnworker_sink_oldest_pending_age_seconds", "Age of the oldest event not delivered yet", labels=("sink",)
        )
        for sink in sinks:
            pending.add_metric((sink.name,), sink.pending)
            dead.add_metric((sink.name,), sink.dead)
            oldest.add_metric((sink.name,), sink.oldest_pending_seconds or 0.0)
        open_count = GaugeMetricFamily("dsnworker_incidents_open", "Incidents (sender_fix) still open")
        open_count.add_metric((), incidents)
        yield from (last_ok, last_failed, pending, dead, oldest, open_count)
