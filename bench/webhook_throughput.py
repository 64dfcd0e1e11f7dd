"""Webhook delivery throughput to a local consumer, while the worker keeps polling a mailbox.

For each batch size: N bounces are processed with the endpoint down (their events wait in the
outbox), then `dsnworker run` starts with the endpoint up while new bounces keep arriving in a second
mailbox (polled every second). Prints events/s from the first event received to the last, for
`batch_size = 1` (the bar: >= 300/s) and a batched sink (the bar: >= 1,000/s), and checks that every
event arrived, verified, and that the live mailbox was polled meanwhile.

    .venv/bin/python bench/webhook_throughput.py [--events 5000] [--batch 100]
"""

from __future__ import annotations

import argparse
import base64
import os
import secrets
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests import mailgen  # noqa: E402
from tests.webhook_server import WebhookServer  # noqa: E402

SECRET = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def maildir(path: Path, messages: list[bytes], start: int = 0) -> None:
    for sub in ("cur", "new", "tmp"):
        (path / sub).mkdir(parents=True, exist_ok=True)
    for number, data in enumerate(messages, start):
        (path / "tmp" / f"{number}.bench").write_bytes(data)
        os.rename(path / "tmp" / f"{number}.bench", path / "new" / f"{1700000000 + number}.M{number}P1.bench")


def config(root: Path, url: str, batch: int) -> Path:
    path = root / "config.toml"
    path.write_text(
        'state = "state.sqlite"\n'
        '[[mailbox]]\nname = "backlog"\nsource = "maildir:backlog"\ninterval = "1h"\n'
        '[[mailbox]]\nname = "live"\nsource = "maildir:live"\ninterval = "1s"\n'
        '[[sink]]\nname = "events"\ntype = "events_file"\npath = "events.jsonl"\n'
        f'[[sink]]\nname = "app"\ntype = "webhook"\nurl = "{url}"\nsecret_env = "BENCH_SECRET"\n'
        f"batch_size = {batch}\n"
    )
    return path


def measure(events: int, batch: int) -> tuple[float, int, int]:
    """(events/s, live bounces polled during delivery, rejected requests)."""
    env = os.environ | {"BENCH_SECRET": SECRET}
    with tempfile.TemporaryDirectory(prefix="dsnworker-webhook-bench-") as temp, WebhookServer(SECRET) as consumer:
        root = Path(temp)
        maildir(root / "backlog", [mailgen.dsn(f"user{n}@example.jp", "user_unknown", n) for n in range(events)])
        maildir(root / "live", [])
        path = config(root, consumer.url, batch)
        consumer.stop()  # the endpoint is down while the backlog is processed: its events wait
        poll = [sys.executable, "-m", "dsnworker", "poll", "-c", str(path)]
        subprocess.run(poll, env=env, check=True, capture_output=True)
        with sqlite3.connect(root / "state.sqlite") as db:  # the one event tried while down: due now, like the rest
            db.execute("UPDATE webhook_queue SET next_at = 0")
        consumer.start()

        live = 0
        feeding = threading.Event()

        def feed() -> None:  # new bounces keep arriving in the live mailbox: the worker must keep polling
            nonlocal live
            while not feeding.is_set():
                maildir(root / "live", [mailgen.dsn(f"live{live}@example.jp", "user_unknown", 10**6 + live)], live)
                live += 1
                time.sleep(0.05)

        feeder = threading.Thread(target=feed, daemon=True)
        worker = subprocess.Popen(
            [sys.executable, "-m", "dsnworker", "run", "-c", str(path)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        feeder.start()
        try:
            # from the first event received to the whole backlog received, watched every 5 ms
            deadline, first = time.monotonic() + 600, None
            while time.monotonic() < deadline:
                received = sum(1 for e in list(consumer.unique.values()) if e["data"]["recipient"].startswith("user"))
                if received and first is None:
                    first = time.monotonic()
                if received >= events:
                    break
                time.sleep(0.005)
            assert first is not None and len(consumer.unique) >= events, "the backlog was not delivered"
            elapsed = time.monotonic() - first
            time.sleep(2.5)  # a couple more polls of the live mailbox
        finally:
            feeding.set()
            worker.send_signal(signal.SIGTERM)
            worker.wait(60)
        live_delivered = sum(1 for e in consumer.unique.values() if e["data"]["recipient"].startswith("live"))
        return events / elapsed, live_delivered, len(consumer.rejected)


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--events", type=int, default=5000)
    options.add_argument("--batch", type=int, default=100)
    args = options.parse_args()
    print(f"{args.events} events queued, then delivered by `dsnworker run` while a second mailbox is fed")
    for batch, bar in ((1, 300), (args.batch, 1000)):
        rate, live, rejected = measure(args.events, batch)
        verdict = "meets" if rate >= bar else "BELOW"
        print(
            f"batch_size {batch:>4}: {rate:,.0f} events/s ({verdict} the {bar:,}/s bar); live bounces polled and "
            f"delivered meanwhile: {live}; rejected by the consumer: {rejected}"
        )


if __name__ == "__main__":
    main()
