"""Webhook delivery from the outbox to a real consumer on 127.0.0.1 that verifies every signature:
failures of every kind and recoveries, order per recipient, batching, dead letters, 410, SIGKILL.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import signal
import subprocess
from pathlib import Path

import pytest

from dsnworker.worker.config import load_settings
from dsnworker.worker.retry import FAILURES_TO_PAUSE
from dsnworker.worker.runner import Worker
from tests import mailgen, processes
from tests.processes import wait_until
from tests.test_event_schemas import errors
from tests.test_worker_pipeline import make_maildir
from tests.webhook_server import WebhookServer

SECRET = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


@pytest.fixture
def consumer():
    with WebhookServer(SECRET) as server:
        yield server


def write_config(root: Path, url: str, batch_size: int = 1, extra_sink: str = "") -> Path:
    config = root / "config.toml"
    config.write_text(
        'state = "state.sqlite"\n[[mailbox]]\nname = "jp"\nsource = "maildir:mail"\nbatch_size = 5\n'
        "[mailbox.policy]\nsoft_threshold = 3\n"
        '[[sink]]\nname = "events"\ntype = "events_file"\npath = "events.jsonl"\n'
        f'[[sink]]\nname = "app"\ntype = "webhook"\nurl = "{url}"\nsecret_env = "WEBHOOK_SECRET"\n'
        f'batch_size = {batch_size}\ntimeout = "2s"\n{extra_sink}'
    )
    return config


def mailbox_messages() -> list[bytes]:
    made = [mailgen.dsn(f"gone{n}@example.jp", "user_unknown", n) for n in range(10)]
    # three soft bounces of one recipient: bounced, bounced, suppressed, in this order
    made += [mailgen.dsn("full@example.jp", "mailbox_full", 100 + n) for n in range(3)]
    made += [mailgen.dsn(f"user{n}@example.jp", "spamhaus", 200 + n) for n in range(4)]
    return made


class Setup:
    def __init__(self, root: Path, url: str, batch_size: int = 1) -> None:
        make_maildir(root / "mail", mailbox_messages())
        self.config = write_config(root, url, batch_size)
        self.root = root
        os.environ["WEBHOOK_SECRET"] = SECRET
        self.now = 1_800_000_000.0
        self.worker = Worker(load_settings(self.config))
        (self.delivery,) = self.worker.webhooks
        self.delivery.clock = lambda: self.now

    def expected_ids(self) -> list[str]:
        return [json.loads(line)["id"] for line in (self.root / "events.jsonl").read_text().splitlines()]


@pytest.fixture(autouse=True)
def _secret_env():
    yield
    os.environ.pop("WEBHOOK_SECRET", None)


def test_every_event_reaches_the_consumer_signed_once_and_valid(tmp_path: Path, consumer) -> None:
    setup = Setup(tmp_path, consumer.url)
    setup.worker.poll()
    summary = setup.delivery.run_round()
    assert summary.delivered == len(setup.expected_ids()) > 10
    assert sorted(e["id"] for e in consumer.received) == sorted(setup.expected_ids())  # no duplicate
    assert per_key_order(consumer.received) == per_key_order(json_lines(tmp_path / "events.jsonl"))
    assert consumer.rejected == []
    for event in consumer.received:
        assert errors(event["type"], event) == [], event["type"]


def test_a_down_endpoint_gets_a_few_tries_then_pauses_longer_each_time_until_it_comes_back(
    tmp_path: Path, consumer
) -> None:
    setup = Setup(tmp_path, consumer.url)
    setup.worker.poll()
    consumer.fail_next(1000, status=500)
    summary = setup.delivery.run_round()
    assert (summary.delivered, summary.failed) == (0, FAILURES_TO_PAUSE)  # failures in a row: the endpoint is down
    assert consumer.requests == FAILURES_TO_PAUSE
    assert setup.delivery.run_round().failed == 0 and consumer.requests == FAILURES_TO_PAUSE  # paused: no hammering
    setup.now += 5.0  # the first pause is 2.5 to 5 s
    assert setup.delivery.run_round().failed == FAILURES_TO_PAUSE  # the next events due, then paused again
    setup.now += 4.9  # the second pause is 5 to 10 s
    assert setup.delivery.run_round().failed == 0 and consumer.requests == 2 * FAILURES_TO_PAUSE
    consumer.recover()
    setup.now += 3600
    setup.delivery.run_round()
    assert sorted(consumer.unique) == sorted(setup.expected_ids())
    assert consumer.requests == len(setup.expected_ids()) + 2 * FAILURES_TO_PAUSE


def test_retry_after_of_a_429_is_honoured(tmp_path: Path, consumer) -> None:
    setup = Setup(tmp_path, consumer.url)
    setup.worker.poll()
    consumer.respond(429, headers={"Retry-After": "600"})
    setup.delivery.run_round()
    setup.now += 500
    assert setup.delivery.run_round().delivered == 0  # 500 s < Retry-After
    setup.now += 101
    assert setup.delivery.run_round().delivered == len(setup.expected_ids())


def test_a_429_pauses_the_sink_at_once(tmp_path: Path, consumer) -> None:
    setup = Setup(tmp_path, consumer.url)
    setup.worker.poll()
    consumer.respond(429)  # too many requests, no Retry-After: about the sender, not the event
    assert setup.delivery.run_round().failed == 1 and consumer.requests == 1
    setup.now += 3600
    setup.delivery.run_round()
    assert sorted(consumer.unique) == sorted(setup.expected_ids())


def test_after_a_pause_one_failing_event_cannot_keep_the_sink_paused(tmp_path: Path, consumer) -> None:
    setup = Setup(tmp_path, consumer.url)
    setup.worker.poll()
    (poison,) = _ids_of(tmp_path, "gone0@example.jp")
    consumer.fail_recipient("gone0@example.jp")
    consumer.fail_next(FAILURES_TO_PAUSE)  # a short outage: the sink pauses
    assert setup.delivery.run_round().failed == FAILURES_TO_PAUSE
    setup.now += 5.0  # past the pause, and the failing event (the oldest) is due again: it goes first
    summary = setup.delivery.run_round()
    assert set(consumer.unique) == set(setup.expected_ids()) - {poison}  # it failed alone: the rest went
    assert (summary.delivered, summary.failed) == (len(setup.expected_ids()) - 1, 1)


def test_a_refused_connection_then_recovery(tmp_path: Path, consumer) -> None:
    setup = Setup(tmp_path, consumer.url)
    setup.worker.poll()
    consumer.stop()
    assert setup.delivery.run_round().failed == FAILURES_TO_PAUSE
    consumer.start()
    setup.now += 3600
    setup.delivery.run_round()
    assert sorted(consumer.unique) == sorted(setup.expected_ids())


def test_a_timeout_is_a_retry(tmp_path: Path, consumer) -> None:
    setup = Setup(tmp_path, consumer.url)
    setup.worker.poll()
    consumer.hang(3.0)  # the sink's timeout is 2 s
    assert setup.delivery.run_round().failed == 1
    setup.now += 3600
    setup.delivery.run_round()
    assert set(consumer.unique) == set(setup.expected_ids())  # the timed-out one may have arrived too: by id


def test_410_stops_the_sink_until_retry_all(tmp_path: Path, consumer) -> None:
    setup = Setup(tmp_path, consumer.url)
    setup.worker.poll()
    consumer.gone()
    assert setup.delivery.run_round().gone
    requests = consumer.requests
    setup.now += 86400
    assert setup.delivery.run_round().gone and consumer.requests == requests  # nothing more is sent
    listing = dsnworker("outbox", "list", "-c", setup.config)
    assert "endpoint gone" in listing.stdout
    consumer.recover()
    assert dsnworker("outbox", "retry", "-c", setup.config, "--all").returncode == 0
    setup.delivery.run_round()
    assert sorted(consumer.unique) == sorted(setup.expected_ids())


def test_past_retry_for_an_event_is_a_dead_letter_and_can_be_sent_again(tmp_path: Path, consumer) -> None:
    setup = Setup(tmp_path, consumer.url)
    setup.worker.poll()
    consumer.fail_next(1000, status=503)
    for _ in range(80):  # three days of hourly retries
        setup.delivery.run_round()
        setup.now += 3600
    dead = dsnworker("outbox", "list", "-c", setup.config, "--dead")
    first = setup.expected_ids()[0]
    assert first in dead.stdout and "HTTP 503" in dead.stdout
    consumer.recover()
    assert dsnworker("outbox", "retry", "-c", setup.config, "--id", first).returncode == 0
    setup.delivery.run_round()
    assert first in consumer.unique


def test_events_of_one_recipient_arrive_in_order_even_across_failures(tmp_path: Path, consumer) -> None:
    setup = Setup(tmp_path, consumer.url)
    setup.worker.poll()
    soft = [i for i in setup.expected_ids() if i in _ids_of(tmp_path, "full@example.jp")]
    assert len(soft) == 3
    consumer.fail_next(1, status=400)  # the first event fails alone; the others go on
    setup.delivery.run_round()
    arrived = [e["id"] for e in consumer.received if e["data"].get("recipient") == "full@example.jp"]
    assert arrived == [] or arrived == soft[: len(arrived)]
    setup.now += 3600
    setup.delivery.run_round()
    arrived = [e["id"] for e in consumer.received if e["data"].get("recipient") == "full@example.jp"]
    assert arrived == soft


@pytest.mark.parametrize("answer", ["500", "timeout"])
def test_one_always_failing_event_does_not_hold_up_the_others_on_its_sink(
    tmp_path: Path, consumer, answer: str
) -> None:
    setup = Setup(tmp_path, consumer.url)
    setup.worker.poll()
    expected = setup.expected_ids()
    (poison,) = _ids_of(tmp_path, "gone0@example.jp")
    assert expected[0] == poison  # the oldest event: the first one sent
    # the consumer chokes on this one event: 500, or no answer within the sink's 2 s timeout
    consumer.fail_recipient("gone0@example.jp", hang=3.0 if answer == "timeout" else 0.0)
    summary = setup.delivery.run_round()
    assert set(consumer.unique) == set(expected) - {poison}  # all the others, in the same round
    assert consumer.requests == len(expected)  # the failing one was tried once, then the others went
    assert (summary.delivered, summary.failed) == (len(expected) - 1, 1)
    assert per_key_order(consumer.received) == per_key_order(
        [e for e in json_lines(tmp_path / "events.jsonl") if e["id"] != poison]
    )


def test_an_always_failing_event_keeps_its_recipients_later_events_behind_it(tmp_path: Path, consumer) -> None:
    setup = Setup(tmp_path, consumer.url)
    setup.worker.poll()
    soft = [i for i in setup.expected_ids() if i in _ids_of(tmp_path, "full@example.jp")]
    consumer.fail_recipient("full@example.jp")
    for _ in range(5):
        setup.delivery.run_round()
        setup.now += 3600
    assert set(consumer.unique) == set(setup.expected_ids()) - set(soft)  # the others went
    assert not set(soft) & set(consumer.unique)  # never the second or third before the first
    consumer.recover()
    setup.delivery.run_round()
    assert [e["id"] for e in consumer.received if e["data"].get("recipient") == "full@example.jp"] == soft


def test_a_failing_batch_is_sent_again_one_event_per_request_so_one_event_does_not_sink_it(
    tmp_path: Path, consumer
) -> None:
    setup = Setup(tmp_path, consumer.url, batch_size=10)
    setup.worker.poll()
    (poison,) = _ids_of(tmp_path, "gone0@example.jp")
    consumer.fail_recipient("gone0@example.jp")
    setup.delivery.run_round()
    assert set(consumer.unique) == set(setup.expected_ids()) - {poison}
    assert len(consumer.received) == len(consumer.unique)  # nothing twice
    (queued,) = setup.worker.store.webhook_queue_rows("app", dead_only=False)
    assert queued["id"] == poison and queued["attempts"] == 1  # its batch and its own request: one attempt


def test_batches_carry_many_events_per_request(tmp_path: Path, consumer) -> None:
    setup = Setup(tmp_path, consumer.url, batch_size=10)
    setup.worker.poll()
    setup.delivery.run_round()
    assert sorted(consumer.unique) == sorted(setup.expected_ids())
    assert consumer.requests < len(setup.expected_ids())


def test_poll_delivers_and_a_dead_endpoint_does_not_fail_it(tmp_path: Path, consumer) -> None:
    make_maildir(tmp_path / "mail", mailbox_messages())
    config = write_config(tmp_path, consumer.url)
    consumer.stop()
    result = dsnworker("poll", "-c", config)
    assert result.returncode == 0, result.stderr
    assert f"webhook=app delivered=0 failed={FAILURES_TO_PAUSE}" in result.stdout
    consumer.start()
    pending = dsnworker("outbox", "list", "-c", config)
    assert pending.stdout.count("pending") == len(json_lines(tmp_path / "events.jsonl"))


def test_outbox_list_is_an_aligned_table_or_json_lines(tmp_path: Path, consumer) -> None:
    make_maildir(tmp_path / "mail", mailbox_messages())
    config = write_config(tmp_path, consumer.url)
    consumer.stop()
    dsnworker("poll", "-c", config)
    expected = [e["id"] for e in json_lines(tmp_path / "events.jsonl")]
    lines = dsnworker("outbox", "list", "-c", config, "--format", "jsonl").stdout.splitlines()
    rows = [json.loads(line) for line in lines]
    assert [row["id"] for row in rows] == expected and {row["state"] for row in rows} == {"pending"}
    assert all(row["next_attempt"].endswith("Z") and row["queued_at"].endswith("Z") for row in rows)
    header, *table = dsnworker("outbox", "list", "-c", config).stdout.splitlines()
    assert [line.split()[1] for line in table] == expected
    # types and recipients differ in length: the columns after them still start where their titles do
    assert {line.index(" pending ") + 1 for line in table} == {header.index("STATE")}


def test_killed_while_posting_then_restarted_loses_nothing(tmp_path: Path, consumer) -> None:
    make_maildir(tmp_path / "mail", mailbox_messages())
    config = write_config(tmp_path, consumer.url)
    crashed = dsnworker("poll", "-c", config, crash_at="after_webhook_post:4")
    assert crashed.returncode == -signal.SIGKILL
    resumed = dsnworker("poll", "-c", config)
    assert resumed.returncode == 0, resumed.stderr
    expected = [e["id"] for e in json_lines(tmp_path / "events.jsonl")]
    assert sorted(consumer.unique) == sorted(expected)
    assert len(consumer.received) == len(expected) + 1  # the one posted before the kill, twice: same id


def test_a_hanging_endpoint_never_holds_up_mailbox_passes(tmp_path: Path, consumer) -> None:
    maildir = make_maildir(tmp_path / "mail", [mailgen.dsn("first@example.jp", serial=1)])
    config = (
        write_config(tmp_path, consumer.url)
        .read_text()
        .replace("batch_size = 5\n", 'batch_size = 5\ninterval = "1s"\n')
    )
    (tmp_path / "config.toml").write_text(config)
    consumer.hang(60.0, times=1000)
    process = processes.start(
        "run",
        "-c",
        tmp_path / "config.toml",
        env={"WEBHOOK_SECRET": SECRET},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        events = tmp_path / "events.jsonl"
        assert wait_until(lambda: events.exists() and len(json_lines(events)) == 1)
        (maildir / "new" / "1800000000.M1P1.test").write_bytes(mailgen.dsn("second@example.jp", serial=2))
        assert wait_until(lambda: len(json_lines(events)) == 2)  # polled while the webhook hangs
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr


def test_webhook_test_sends_a_signed_sample(tmp_path: Path, consumer) -> None:
    config = write_config(tmp_path, consumer.url)
    result = dsnworker("webhook", "test", "-c", config, "--sink", "app")
    assert result.returncode == 0, result.stderr
    assert "200 -> delivered" in result.stdout
    (event,) = consumer.received
    assert event["data"]["test"] is True and consumer.rejected == []
    consumer.gone()
    assert dsnworker("webhook", "test", "-c", config, "--sink", "app").returncode == 1


def per_key_order(events: list[dict]) -> dict[str, list[str]]:
    """Event ids by recipient (or incident), in the order given: what delivery keeps."""
    order: dict[str, list[str]] = {}
    for event in events:
        key = event["data"].get("recipient") or event["data"].get("incident") or event["id"]
        order.setdefault(key, []).append(event["id"])
    return order


def _ids_of(root: Path, recipient: str) -> set[str]:
    return {e["id"] for e in json_lines(root / "events.jsonl") if e["data"].get("recipient") == recipient}


def json_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def dsnworker(*args: object, crash_at: str | None = None) -> subprocess.CompletedProcess[str]:
    return processes.run(*args, env={"WEBHOOK_SECRET": SECRET}, crash_at=crash_at)


def test_an_https_endpoint_with_a_private_ca_is_verified_against_the_sinks_ca_file(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    with WebhookServer(SECRET, tls=(str(cert), str(key))) as server:
        assert server.url.startswith("https://")
        untrusted = write_config(tmp_path, server.url)
        refused = dsnworker("webhook", "test", "-c", untrusted, "--sink", "app")
        assert refused.returncode == 1 and "certificate" in refused.stdout
        trusted = write_config(tmp_path, server.url, extra_sink=f'ca_file = "{cert}"\n')
        accepted = dsnworker("webhook", "test", "-c", trusted, "--sink", "app")
        assert accepted.returncode == 0, accepted.stdout + accepted.stderr
        assert len(server.received) == 1 and server.rejected == []


def test_the_metrics_count_each_webhook_request_by_result_and_the_backlog_per_sink(tmp_path: Path, consumer) -> None:
    from dsnworker.worker.metrics import Metrics

    setup = Setup(tmp_path, consumer.url)
    metrics = Metrics(setup.worker.settings)
    setup.delivery.on_attempt = metrics.webhook_attempt
    setup.worker.poll()
    total = len(setup.expected_ids())

    def value(name: str, **labels: str) -> float | None:
        return metrics.registry.get_sample_value(name, labels)

    assert value("dsnworker_sink_pending_events", sink="app") == total  # not even queued yet
    assert value("dsnworker_sink_pending_events", sink="events") == 0
    consumer.fail_next(2, status=500)
    setup.delivery.run_round()
    assert value("dsnworker_webhook_attempts_total", sink="app", result="retry") == 2
    assert value("dsnworker_webhook_attempts_total", sink="app", result="delivered") == total - 2
    assert value("dsnworker_webhook_request_duration_seconds_count", sink="app") == total
    assert value("dsnworker_sink_pending_events", sink="app") == 2  # the two failed, waiting for their retry
    setup.now += 3600
    setup.delivery.run_round()
    assert value("dsnworker_webhook_attempts_total", sink="app", result="delivered") == total
    assert value("dsnworker_sink_pending_events", sink="app") == 0
    assert value("dsnworker_sink_dead_letters", sink="app") == 0
