"""Several `dsnworker run` processes on one PostgreSQL state against the real Dovecot (tests/dovecot.py,
tests/postgres.py), and the real webhook consumer (tests/webhook_server.py):

- 50 mailboxes, 3 workers, workers SIGKILLed at random and started again while mail keeps coming:
  every bounce's outputs exactly once (events file, suppression file, processed keys; webhook
  deliveries deduped by id), and the dead worker's mailboxes taken over by the others;
- a worker paused (SIGSTOP) mid-batch past its lease, then resumed (SIGCONT): its batch is refused
  by the fence, and the other worker's outputs stand alone.

Short leases (a few seconds) keep the run short; the waits are watchdogs against a hang, never
assertions of speed.
"""

from __future__ import annotations

import base64
import json
import random
import secrets
import signal
import subprocess
import time
from pathlib import Path

from tests import mailgen, processes
from tests.test_worker_imap import event_ids, suppressed
from tests.test_worker_postgres_imap import environment, postgres_config
from tests.webhook_server import WebhookServer

WATCHDOG = 180.0  # seconds: only against a hang
SECRET = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def with_webhook(config: Path, url: str) -> None:
    config.write_text(
        config.read_text()
        + f'[[sink]]\nname = "app"\ntype = "webhook"\nurl = "{url}"\nsecret_env = "WEBHOOK_SECRET"\ntimeout = "2s"\n'
    )


class Workers:
    """The `dsnworker run` processes of one configuration, each logging to a file of its own."""

    def __init__(self, root: Path, config: Path, env: dict[str, str]) -> None:
        self.root, self.config, self.env = root, config, env
        self.running: dict[int, subprocess.Popen[str]] = {}
        self.logs: list[Path] = []

    def start(self, extra_env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        log = self.root / f"worker{len(self.logs)}.log"
        self.logs.append(log)
        with open(log, "w") as stderr:
            process = processes.start(
                "run", "-c", self.config, env=self.env | (extra_env or {}), stdout=subprocess.DEVNULL, stderr=stderr
            )
        self.running[process.pid] = process
        return process

    def stop_all(self) -> None:
        for process in self.running.values():
            process.send_signal(signal.SIGCONT)  # a paused one must be able to hear SIGTERM
            process.send_signal(signal.SIGTERM)
        for process in self.running.values():
            process.wait(timeout=60)

    def log_text(self) -> str:
        return "\n".join(f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}" for log in self.logs)


def query(database, sql: str, *args: object) -> list[tuple]:
    """The rows, or none while the first worker has not made the tables yet."""
    import psycopg

    with database.connect() as db:
        try:
            return db.execute(sql, args or None).fetchall()
        except psycopg.errors.UndefinedTable:
            return []


def processed(database) -> int:
    return sum(count for (count,) in query(database, "SELECT count(*) FROM processed"))


def lease_owners(database) -> dict[str, str]:
    """mailbox -> the worker id holding its lease now."""
    rows = query(
        database,
        "SELECT name, owner FROM dsnworker_lease "
        "WHERE owner IS NOT NULL AND expires_at > now() AND name LIKE 'mailbox:%'",
    )
    return {name.removeprefix("mailbox:"): owner for name, owner in rows}


def worker_of(database, pid: int) -> str | None:
    rows = query(database, "SELECT id FROM dsnworker_worker WHERE pid = %s", pid)
    return rows[0][0] if rows else None


def test_three_workers_killed_and_restarted_at_random_give_every_bounce_once(tmp_path: Path, dovecot, postgres):
    rng = random.Random(12)
    accounts = {f"m{n:02d}": dovecot.add_user() for n in range(50)}
    recipients: dict[str, list[str]] = {name: [] for name in accounts}
    serial = iter(range(1, 1_000_000))

    def mail(count: int, names: list[str]) -> None:
        for name in names:
            made = []
            for _ in range(count):
                number = next(serial)
                recipients[name].append(f"r{number}@example.jp")
                made.append(mailgen.dsn(f"r{number}@example.jp", "user_unknown", number))
            accounts[name].deliver(made)

    mail(2, list(accounts))
    database = postgres.new_database()
    config = postgres_config(tmp_path, accounts, database, lease="3s", extra='interval = "1s"\n')
    with WebhookServer(SECRET) as consumer:
        with_webhook(config, consumer.url)
        workers = Workers(tmp_path, config, environment(accounts, database) | {"WEBHOOK_SECRET": SECRET})
        try:
            for _ in range(3):
                workers.start()
            assert processes.wait_until(lambda: len(lease_owners(database)) == 50, WATCHDOG), workers.log_text()
            orphaned = 0
            for _ in range(5):  # more mail, a kill while it is read, a new worker; the orphans must find an owner
                mail(2, list(accounts))
                time.sleep(rng.uniform(0.1, 1.5))  # a random moment of the passes (not a measurement)
                victim = rng.choice(list(workers.running))
                registered = processes.wait_until(lambda v=victim: worker_of(database, v) is not None, WATCHDOG)
                assert registered, workers.log_text()
                dead_id = worker_of(database, victim)
                workers.running.pop(victim).send_signal(signal.SIGKILL)
                orphans = [name for name, owner in lease_owners(database).items() if owner == dead_id]
                # its leases end at most a lease period after its last heartbeat, by the database's clock
                late = query(
                    database,
                    "SELECT count(*) FROM dsnworker_lease WHERE owner = %s AND expires_at > now() + interval '3 s'",
                    dead_id,
                )
                assert late == [(0,)]

                def taken_over(dead: str = dead_id, names: list[str] = orphans) -> bool:
                    owners = lease_owners(database)
                    return all(owners.get(name) not in (None, dead) for name in names)

                assert processes.wait_until(taken_over, WATCHDOG), workers.log_text()
                orphaned += len(orphans)
                workers.start()
            assert orphaned > 0  # the kills did leave mailboxes to take over
            total = sum(map(len, recipients.values()))
            assert processes.wait_until(lambda: processed(database) == total, WATCHDOG), workers.log_text()
            every = sorted(r for names in recipients.values() for r in names)
            assert processes.wait_until(lambda: suppressed(tmp_path) == every, WATCHDOG), workers.log_text()
            assert processes.wait_until(lambda: len(consumer.unique) >= len(event_ids(tmp_path)), WATCHDOG)
        finally:
            workers.stop_all()
        events = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
        ids = event_ids(tmp_path)  # asserts that no event was written twice
        bounced = sorted(e["data"]["recipient"] for e in events if e["type"].startswith("recipient."))
        assert sorted(set(bounced)) == every and len([e for e in events if e["type"] == "recipient.suppressed"]) == len(
            every
        )
        assert sorted(consumer.unique) == sorted(ids)  # the webhook: every event, deduped by id
    per_mailbox = dict(query(database, "SELECT mailbox, count(*) FROM processed GROUP BY mailbox"))
    assert per_mailbox == {name: len(made) for name, made in recipients.items()}
    for name, account in accounts.items():
        assert account.messages("INBOX") == [] and len(account.messages("Processed")) == len(recipients[name])


def test_a_worker_paused_past_its_lease_commits_nothing_for_the_mailbox_it_lost(tmp_path: Path, dovecot, postgres):
    accounts = {name: dovecot.add_user() for name in ("a", "b")}
    for number, (name, account) in enumerate(accounts.items()):
        account.deliver([mailgen.dsn(f"{name}{n}@example.jp", "user_unknown", 10 * number + n) for n in range(3)])
    database = postgres.new_database()
    config = postgres_config(tmp_path, accounts, database, lease="2s", extra='interval = "1s"\n')
    workers = Workers(tmp_path, config, environment(accounts, database))
    try:
        paused = workers.start({"DSNWORKER_CRASH_AT": "before_commit:1:stop"})  # stops itself mid-batch

        def stopped() -> bool:
            return Path(f"/proc/{paused.pid}/stat").read_text().split(") ")[1].startswith("T")

        assert processes.wait_until(stopped, WATCHDOG), workers.log_text()
        (held,) = query(database, "SELECT count(*) FROM dsnworker_lease WHERE name LIKE 'mailbox:%' AND generation = 1")
        assert held == (2,)  # the paused worker took both mailboxes
        workers.start()  # takes them once the paused worker's leases run out, and does their batches
        assert processes.wait_until(lambda: processed(database) == 6, WATCHDOG), workers.log_text()
        assert processes.wait_until(lambda: len(suppressed(tmp_path)) == 6, WATCHDOG), workers.log_text()
        paused.send_signal(signal.SIGCONT)  # resumes inside the batch it had analysed under generation 1
        assert processes.wait_until(lambda: "is no longer held by worker" in workers.logs[0].read_text(), WATCHDOG), (
            workers.log_text()
        )
    finally:
        workers.stop_all()
    said = workers.logs[0].read_text()
    assert "generation 1 is no longer held by worker" in said and "the batch was rolled back" in said
    event_ids(tmp_path)  # no event twice
    assert suppressed(tmp_path) == sorted(f"{n}{k}@example.jp" for n in "ab" for k in range(3))
    assert dict(query(database, "SELECT mailbox, count(*) FROM processed GROUP BY mailbox")) == {"a": 3, "b": 3}
    generations = dict(query(database, "SELECT name, generation FROM dsnworker_lease WHERE name LIKE 'mailbox:%'"))
    assert all(generation >= 2 for generation in generations.values())  # both were taken from the paused worker
    for account in accounts.values():
        assert account.messages("INBOX") == [] and len(account.messages("Processed")) == 3
