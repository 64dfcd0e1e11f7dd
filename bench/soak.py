"""Soak: `dsnworker run` with IDLE for minutes against a private Dovecot and a webhook consumer that
misbehaves at random, while real bounces keep arriving. Loopback only; it stops by itself.

It starts a private Dovecot (tests/dovecot.py: root, `apt-get install dovecot-imapd openssl`) and a
consumer (tests/webhook_server.py) that answers 500/503, hangs past the sink's timeout, or resets
the connection, at random; runs the real CLI process (`dsnworker run`, IDLE on, a poll a minute as
the safety net) and APPENDs bounces from ../shared/corpus/sisimai/emails over IMAP (each with a
serial header, so a repeat is a new message), at random intervals, for `--seconds`. Then the
consumer behaves, and the worker gets up to `--drain` seconds to deliver what is left.

Prints messages and events, the faults injected, the latency from APPEND to the consumer taking
the event (median, p99, max; events tied to one bounce by `message_key`), the worker's RSS after
the warm-up and at the end, the errors it logged, and checks that every event written to the
events file reached the consumer once or more, and is counted once by id: nothing lost.

    sudo .venv/bin/python bench/soak.py [--seconds 180] [--rate 2] [--batch 1] [--seed N]

A benchmark, not a test: it exits 1 when an event was lost.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import imaplib
import json
import random
import re
import secrets
import signal
import sqlite3
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests import processes  # noqa: E402
from tests.dovecot import Account, Dovecot  # noqa: E402
from tests.webhook_server import WebhookServer  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus" / "sisimai" / "emails"
SECRET = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
SINK_TIMEOUT = 2.0  # seconds: the webhook sink's timeout; the consumer's hangs last longer
HANG_SECONDS = 3.0


def corpus() -> list[bytes]:
    files = sorted(CORPUS.glob("*.eml"))
    if not files:
        raise SystemExit(f"no bounces in {CORPUS}")
    # CRLF throughout: Dovecot then returns the very bytes appended, so their SHA-256 is the
    # worker's message_key and an event can be tied to the moment its bounce arrived
    return [b"\r\n".join(f.read_bytes().replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")) for f in files]


def write_config(root: Path, account: Account, url: str, batch: int) -> Path:
    config = root / "config.toml"
    config.write_text(
        'state = "state.sqlite"\n'
        '[[mailbox]]\nname = "soak"\ninterval = "1m"\nidle = true\n'
        f'[mailbox.server]\nhost = "127.0.0.1"\nport = {account.imap_port}\ntls = "starttls"\n'
        f'ca_file = "{account.ca_file}"\n'
        f'[mailbox.auth]\nusername = "{account.username}"\npassword_env = "SOAK_PW"\n'
        '[[sink]]\nname = "events"\ntype = "events_file"\npath = "events.jsonl"\n'
        f'[[sink]]\nname = "app"\ntype = "webhook"\nurl = "{url}"\nsecret_env = "SOAK_SECRET"\n'
        f'timeout = "{SINK_TIMEOUT:g}s"\nbatch_size = {batch}\n'
    )
    return config


class Feeder(threading.Thread):
    """APPENDs bounces to INBOX over IMAP at random intervals (`rate` a second on average) until stopped."""

    def __init__(self, account: Account, mail: list[bytes], rate: float, rng: random.Random) -> None:
        super().__init__(name="feeder", daemon=True)
        self.account, self.mail, self.rate, self.rng = account, mail, rate, rng
        self.stop = threading.Event()
        self.appended: dict[str, float] = {}  # SHA-256 of the bytes -> time.monotonic() of the APPEND
        self.failures = 0

    def run(self) -> None:
        context = ssl.create_default_context(cafile=str(self.account.ca_file))
        imap = imaplib.IMAP4("127.0.0.1", self.account.imap_port)
        imap.starttls(context)
        imap.login(self.account.username, self.account.password)
        serial = 0
        try:
            while not self.stop.wait(self.rng.expovariate(self.rate)):
                serial += 1
                data = f"X-Soak-Serial: {serial}\r\n".encode() + self.rng.choice(self.mail)
                status, _ = imap.append("INBOX", None, None, data)
                if status == "OK":
                    self.appended[hashlib.sha256(data).hexdigest()] = time.monotonic()
                else:
                    self.failures += 1
        finally:
            imap.logout()


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"^VmRSS:\s+(\d+) kB", status, re.M).group(1)) / 1024  # type: ignore[union-attr]


def processed(state: Path) -> int:
    try:
        with sqlite3.connect(f"file:{state}?mode=ro", uri=True, timeout=5) as db:
            return int(db.execute("SELECT count(*) FROM processed").fetchone()[0])
    except sqlite3.Error:
        return 0


def events_written(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> int:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--seconds", type=float, default=180.0, help="how long bounces are fed (default 180)")
    options.add_argument("--rate", type=float, default=2.0, help="bounces appended per second, on average")
    options.add_argument("--batch", type=int, default=1, help="the webhook sink's batch_size")
    options.add_argument("--fail", type=float, default=0.10, help="chance a request is answered 500/503")
    options.add_argument("--hang", type=float, default=0.03, help=f"chance a request hangs {HANG_SECONDS:g} s")
    options.add_argument("--reset", type=float, default=0.05, help="chance a request's connection is reset")
    options.add_argument("--warmup", type=float, default=20.0, help="seconds before the first RSS figure")
    options.add_argument("--drain", type=float, default=300.0, help="at most this long to deliver the rest")
    options.add_argument("--seed", type=int, default=None)
    args = options.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    mail = corpus()
    print(
        f"soak: {args.seconds:g} s of bounces ({args.rate:g}/s on average, from {len(mail)} corpus files), "
        f"batch_size {args.batch}, faults per request: {args.fail:.0%} 5xx, {args.hang:.0%} hang "
        f"{HANG_SECONDS:g} s (timeout {SINK_TIMEOUT:g} s), {args.reset:.0%} reset; seed {seed}"
    )
    with tempfile.TemporaryDirectory(prefix="dsnworker-soak-") as temp, WebhookServer(SECRET) as consumer:
        root = Path(temp)
        server = Dovecot(Path(tempfile.mkdtemp(prefix="dsnworker-soak-dovecot-")))
        server.start()
        worker: subprocess.Popen[str] | None = None
        try:
            account = server.add_user()
            config = write_config(root, account, consumer.url, args.batch)
            log = (root / "worker.log").open("w")
            worker = processes.start(
                "run",
                "-c",
                config,
                env={"SOAK_PW": account.password, "SOAK_SECRET": SECRET},
                stdout=log,
                stderr=subprocess.STDOUT,
                text=True,
                cwd=root,
            )
            tally = consumer.chaos(random.Random(rng.random()), args.fail, args.hang, HANG_SECONDS, args.reset)
            feeder = Feeder(account, mail, args.rate, random.Random(rng.random()))
            started = time.monotonic()
            feeder.start()
            rss: list[float] = []
            rss_start = None
            report_at = 30.0
            while time.monotonic() - started < args.seconds:
                time.sleep(1.0)
                elapsed = time.monotonic() - started
                if worker.poll() is not None:
                    raise SystemExit(f"the worker ended early ({worker.returncode}); see {root / 'worker.log'}")
                rss.append(rss_mb(worker.pid))
                if rss_start is None and elapsed >= args.warmup:
                    rss_start = rss[-1]
                if elapsed >= report_at:
                    report_at += 30.0
                    print(f"  {elapsed:4.0f} s: appended {len(feeder.appended)}, events taken {len(consumer.unique)}")
            feeder.stop.set()
            feeder.join(30)
            faults = dict(tally.counts)
            consumer.recover()  # the consumer behaves now: what is left must arrive
            appended = len(feeder.appended)
            drain_started = time.monotonic()
            state, events_file = root / "state.sqlite", root / "events.jsonl"
            while time.monotonic() - drain_started < args.drain:
                if processed(state) >= appended and set(e["id"] for e in events_written(events_file)) <= set(
                    consumer.arrived_at
                ):
                    break
                time.sleep(1.0)
            drained = time.monotonic() - drain_started
            rss_end = rss_mb(worker.pid)
            worker.send_signal(signal.SIGTERM)
            worker.wait(120)
            log.close()
        finally:
            if worker is not None and worker.poll() is None:
                worker.kill()
                worker.wait()
            server.close()

        written = events_written(root / "events.jsonl")
        expected = {e["id"] for e in written}
        arrived = consumer.arrived_at
        missing = expected - set(arrived)
        strangers = set(arrived) - expected
        duplicates = len(consumer.received) - len(consumer.unique)
        latencies = [
            arrived[e["id"]] - feeder.appended[e["data"]["message_key"]]
            for e in written
            if e["id"] in arrived and e["data"].get("message_key") in feeder.appended
        ]
        unkeyed = sum(1 for e in written if not e["data"].get("message_key"))  # incidents: of many bounces
        lines = (root / "worker.log").read_text(errors="replace").splitlines()
        logged_errors = [line for line in lines if " ERROR " in line or line.startswith("Traceback")]
        pass_errors = sum(int(m.group(1)) for line in lines if (m := re.search(r"\bpass .* errors=(\d+)", line)))
        not_delivered = sum(1 for line in lines if "not delivered" in line)

    print(
        f"messages: {appended} appended ({feeder.failures} APPEND failures), {processed_total(written)} with "
        f"events; events: {len(expected)} written, {len(arrived)} taken by the consumer"
    )
    print(
        f"webhook requests: {consumer.requests}; faults injected: {faults.get('5xx', 0)} 5xx, "
        f"{faults.get('hang', 0)} hangs, {faults.get('reset', 0)} resets; the worker logged {not_delivered} "
        f"failed deliveries; drained in {drained:.0f} s after the feed stopped"
    )
    if latencies:
        print(
            f"APPEND -> webhook latency over {len(latencies)} events: median {statistics.median(latencies):.2f} s, "
            f"p99 {percentile(latencies, 0.99):.2f} s, max {max(latencies):.2f} s ({unkeyed} incident events "
            f"belong to no one bounce, {len(expected) - unkeyed - len(latencies)} others not tied to their APPEND)"
        )
    print(
        f"worker RSS: {rss_start or rss[0]:.1f} MB after {args.warmup:g} s of warm-up, {rss_end:.1f} MB at the end "
        f"(max sampled {max(rss + [rss_end]):.1f} MB)"
    )
    print(f"errors: {len(logged_errors)} ERROR/Traceback log lines, {pass_errors} pass errors")
    for line in logged_errors[:5]:
        print(f"  {line[:200]}")
    print(
        f"delivery: {len(expected) - len(missing)}/{len(expected)} events arrived; {duplicates} duplicate copies "
        f"(counted once by id); {len(strangers)} unknown ids"
    )
    if missing or strangers:
        print(f"LOST: {len(missing)} event(s) never arrived, e.g. {sorted(missing)[:3]}")
        return 1
    print("nothing lost")
    return 0


def processed_total(written: list[dict]) -> int:
    """How many bounces gave events (by message_key)."""
    return len({e["data"].get("message_key") for e in written if e["data"].get("message_key")})


if __name__ == "__main__":
    sys.exit(main())
