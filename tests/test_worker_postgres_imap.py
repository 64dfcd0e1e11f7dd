"""`dsnworker poll` with its state in PostgreSQL, against the real Dovecot: every bounce's outputs
exactly once over two polls, and across a SIGKILL mid-pass and a rerun (as test_worker_imap.py does
for SQLite). Both servers are the tests' private ones (tests/dovecot.py, tests/postgres.py)."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from tests import mailgen, processes
from tests.postgres import PASSWORD_ENV
from tests.test_worker_imap import (
    comparable_event_ids,
    event_ids,
    mixed_mailbox,
    passwords,
    poll,
    suppressed,
    write_config,
)


def postgres_config(root: Path, accounts: dict[str, object], database, lease: str = "1s", extra: str = "") -> Path:
    config = write_config(root, accounts, extra)
    text = config.read_text().replace(
        'state = "state.sqlite"\n',
        f'state = "{database.url}"\nstate_password_env = "{PASSWORD_ENV}"\n[cluster]\nlease = "{lease}"\n',
    )
    config.write_text(text)
    return config


def environment(accounts: dict[str, object], database) -> dict[str, str]:
    return passwords(accounts) | {PASSWORD_ENV: database.password}


def unexpired_leases(database) -> list[str]:
    with database.connect() as db:
        rows = db.execute("SELECT name FROM dsnworker_lease WHERE owner IS NOT NULL AND expires_at > now()")
        return sorted(name for (name,) in rows)


def processed_keys(database) -> list[tuple[str, int]]:
    with database.connect() as db:
        return db.execute("SELECT mailbox, count(*) FROM processed GROUP BY mailbox").fetchall()


def test_two_polls_on_a_postgresql_state_write_each_bounce_once(tmp_path: Path, imap_account, pg_database) -> None:
    imap_account.deliver(mixed_mailbox())
    accounts = {"jp": imap_account}
    config = postgres_config(tmp_path, accounts, pg_database)
    first = poll(config, environment(accounts, pg_database))
    assert first.returncode == 0, first.stderr
    assert "mailbox=jp new=33 bounces=31 recipients=31 suppressed=10 not_bounce=1 unparsed=1" in first.stdout
    imap_account.deliver([mailgen.dsn("late@example.jp", "user_unknown", 500)])
    second = poll(config, environment(accounts, pg_database))
    assert second.returncode == 0, second.stderr
    assert "mailbox=jp new=1 bounces=1" in second.stdout

    event_ids(tmp_path)  # asserts that no event was written twice
    events = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    recipients = [e["data"]["recipient"] for e in events if e["type"].startswith("recipient.")]
    # one event per bounced recipient of each poll (the blocklist refusals make incidents instead)
    expected = [f"user{n}@example.jp" for n in range(30) if n % 3 != 2] + ["late@example.jp"]
    assert sorted(recipients) == sorted(expected)
    assert len(suppressed(tmp_path)) == 11 and "late@example.jp" in suppressed(tmp_path)
    assert processed_keys(pg_database) == [("jp", 34)]
    assert len(imap_account.messages("Processed")) == 32
    assert not (tmp_path / "state.sqlite").exists()  # nothing fell back to SQLite
    status = processes.run("status", "-c", config, "--format", "json", env=environment(accounts, pg_database))
    assert status.returncode == 0, status.stderr  # read-only, beside where a worker would run
    assert [m["name"] for m in json.loads(status.stdout)["mailboxes"]] == ["jp"]


@pytest.mark.parametrize("crash_at", ["before_commit:2", "after_commit:2", "after_deliver:3"])
def test_killed_mid_pass_on_a_postgresql_state_then_rerun_outputs_exactly_once(
    tmp_path: Path, dovecot, postgres, crash_at: str
) -> None:
    reference_account, account = dovecot.add_user(), dovecot.add_user()
    for target in (reference_account, account):
        target.deliver(mixed_mailbox())
    reference = {"jp": reference_account}
    (tmp_path / "ref").mkdir()
    assert poll(write_config(tmp_path / "ref", reference), passwords(reference)).returncode == 0  # on SQLite

    database = postgres.new_database()
    accounts = {"jp": account}
    config = postgres_config(tmp_path, accounts, database)
    crashed = poll(config, environment(accounts, database), crash_at)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    assert unexpired_leases(database) == ["file-sinks", "mailbox:jp"]  # the killed poll's: another poll skips them
    skipped = poll(config, environment(accounts, database))
    assert skipped.returncode == 0 and "skipped, its lease is another worker's" in skipped.stderr
    # the lease runs out one lease period (1 s here) after the kill's last heartbeat; the watchdog only
    # keeps a broken expiry from hanging the test
    assert processes.wait_until(lambda: not unexpired_leases(database), timeout=30)
    resumed = poll(config, environment(accounts, database))
    assert resumed.returncode == 0, resumed.stderr

    event_ids(tmp_path)
    assert comparable_event_ids(tmp_path) == comparable_event_ids(tmp_path / "ref")
    assert suppressed(tmp_path) == suppressed(tmp_path / "ref")
    assert processed_keys(database) == [("jp", 33)]
    assert len(account.messages("Processed")) == 31 and account.messages("INBOX") == [mailgen.personal(901)]
