"""Webhook delivery by several workers on one PostgreSQL state (tests/postgres.py), to the real consumer
(tests/webhook_server.py): every worker delivers, each event goes out once, a recipient's events in
order; a worker that queued late does not queue again what another delivered."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from dsnworker.worker.config import load_settings
from dsnworker.worker.runner import Worker
from dsnworker.worker.webhooks import WebhookDelivery
from tests.postgres import PASSWORD_ENV
from tests.test_webhook_delivery import SECRET, json_lines, mailbox_messages, per_key_order, write_config
from tests.test_worker_pipeline import make_maildir
from tests.webhook_server import WebhookServer


@pytest.fixture
def consumer():
    with WebhookServer(SECRET) as server:
        yield server


@pytest.fixture
def workers(tmp_path: Path, pg_database, consumer, monkeypatch):
    """Two workers of one configuration and one database, the mailbox polled once by the first."""
    monkeypatch.setenv("WEBHOOK_SECRET", SECRET)
    make_maildir(tmp_path / "mail", mailbox_messages())
    config = write_config(tmp_path, consumer.url)
    text = config.read_text().replace('state = "state.sqlite"', f'state = "{pg_database.url}"')
    config.write_text(f'state_password_env = "{PASSWORD_ENV}"\n' + text)
    started = [Worker(load_settings(config)) for _ in range(2)]
    started[0].poll()
    yield started
    for worker in started:
        worker.store.close()


def deliver_until_done(delivery: WebhookDelivery, done: threading.Event, counts: list[int]) -> None:
    """Rounds until nothing is pending (what the other worker has claimed included)."""
    while not done.is_set():
        counts.append(delivery.run_round().delivered)
        if delivery.store.webhook_counts(delivery.sink.name) == (0, 0):
            return
        if not counts[-1]:
            done.wait(0.05)  # the rest is the other worker's claim, or behind it


def test_two_workers_drain_one_outbox_each_event_once_and_each_recipient_in_order(
    tmp_path: Path, workers, consumer
) -> None:
    consumer.hang(0.05, times=40)  # a consumer slow enough that both workers' rounds overlap
    done = threading.Event()
    counts: list[list[int]] = [[], []]
    threads = [
        threading.Thread(target=deliver_until_done, args=(w.webhooks[0], done, n))
        for w, n in zip(workers, counts, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)  # a watchdog: a stuck claim would hang here
    done.set()
    written = json_lines(tmp_path / "events.jsonl")
    received = consumer.received
    assert sorted(e["id"] for e in received) == sorted(e["id"] for e in written)  # each once, none lost
    assert per_key_order(received) == per_key_order(written)
    assert sum(map(sum, counts)) == len(written)  # what the workers say they delivered: each event once
    assert workers[0].store.webhook_counts("app") == (0, 0)


def test_events_a_slow_worker_queues_after_another_delivered_them_are_not_queued_again(workers, consumer) -> None:
    fast, slow = (worker.webhooks[0] for worker in workers)
    late = slow.store.events_after(0)  # the slow worker read the outbox ...
    assert fast.run_round().delivered == len(late)  # ... the fast one queued and delivered it all meanwhile
    rows = [(event.seq, event.recipient or event.id) for event in late]
    slow.store.queue_for_webhook("app", rows, late[-1].seq, 0.0)
    assert slow.run_round().delivered == 0
    assert len(consumer.received) == len(late)
