"""Leases on the private PostgreSQL (tests/postgres.py): claim, renew, expire, steal, release, the fence
that refuses a stale generation inside a batch's transaction, and the spreading of mailboxes among the
workers alive. Time passing is the database's: a lease "expires" when a test moves its expiry into the
past, so no test waits for a clock."""

from __future__ import annotations

import json
import math
import os
import threading
from pathlib import Path

import pytest

from dsnworker.worker.cluster import Coordinator
from dsnworker.worker.leases import FILE_SINKS, LeaseLost, Leases, all_leases, live_workers, mailbox_lease
from dsnworker.worker.state import Cursor
from tests import mailgen
from tests.postgres import PASSWORD_ENV
from tests.test_worker_pipeline import Harness, files_in


@pytest.fixture
def store(postgres, pg_database):
    from dsnworker.worker.state_pg import PostgresStore
    from dsnworker.worker.state_url import parse_state_url
    from tests.postgres import PASSWORD_ENV

    opened = PostgresStore(parse_state_url(pg_database.url, PASSWORD_ENV, None))
    yield opened
    opened.close()


def expire(database, name: str | None = None) -> None:
    """As if the lease period had passed since the last renewal (by the database's clock)."""
    with database.connect() as db:
        db.execute(
            "UPDATE dsnworker_lease SET expires_at = now() - interval '1 second' WHERE %s::text IS NULL OR name = %s",
            (name, name),
        )
        db.execute("UPDATE dsnworker_worker SET expires_at = now() - interval '1 second'")


def test_a_lease_is_claimed_once_renewed_by_its_owner_and_released_to_the_next(store) -> None:
    first, second = Leases(store, "a", 60), Leases(store, "b", 60)
    assert first.claim("mailbox:jp") == 1
    assert second.claim("mailbox:jp") is None  # held, unexpired
    assert first.claim("mailbox:jp") is None  # a claim is for a lease not held: the owner renews instead
    assert first.renew({"mailbox:jp": 1}) == {"mailbox:jp": 1}
    first.release({"mailbox:jp": 1})
    assert second.claim("mailbox:jp") == 2  # every claim is a new generation
    assert [(lease.owner, lease.generation) for lease in all_leases(store)] == [("b", 2)]


def test_an_expired_lease_is_stolen_and_its_old_owner_can_neither_renew_nor_release_it(store, pg_database) -> None:
    paused, other = Leases(store, "paused", 60), Leases(store, "other", 60)
    assert paused.claim("mailbox:jp") == 1
    expire(pg_database)
    assert paused.renew({"mailbox:jp": 1}) == {}  # expired is lost, even before anyone took it
    assert other.claim("mailbox:jp") == 2
    paused.release({"mailbox:jp": 1})  # a stale release changes nothing
    assert other.renew({"mailbox:jp": 2}) == {"mailbox:jp": 2}
    assert [(lease.owner, lease.generation) for lease in all_leases(store)] == [("other", 2)]


def test_the_fence_refuses_a_stale_generation_and_the_batch_rolls_back(store, pg_database) -> None:
    paused, other = Leases(store, "paused", 60), Leases(store, "other", 60)
    assert paused.claim("mailbox:jp") == 1
    with store.transaction():  # while held: the batch commits
        paused.fence("mailbox:jp", 1)
        store.set_cursor("jp", Cursor(7, 10))
    expire(pg_database)
    refused = pytest.raises(LeaseLost, match="generation 1 is no longer held by worker paused")
    with refused, store.transaction():  # expired, not taken yet: refused all the same
        store.set_cursor("jp", Cursor(7, 20))
        paused.fence("mailbox:jp", 1)
    assert other.claim("mailbox:jp") == 2
    with pytest.raises(LeaseLost), store.transaction():
        store.set_cursor("jp", Cursor(7, 30))
        paused.fence("mailbox:jp", 1)
    assert store.cursor("jp") == Cursor(7, 10)  # nothing of the refused batches was kept


def test_a_claim_waits_for_a_fenced_batch_to_commit(store, pg_database) -> None:
    """The fence locks the lease row until the commit: a steal cannot land between check and commit."""
    owner, thief = Leases(store, "owner", 60), Leases(store, "thief", 60)
    assert owner.claim("mailbox:jp") == 1
    fenced, claimed = threading.Event(), []

    def steal() -> None:
        fenced.wait(30)
        expire(pg_database, "mailbox:jp")  # waits for the row lock too, then the lease has run out
        claimed.append(thief.claim("mailbox:jp"))

    thread = threading.Thread(target=steal)
    thread.start()
    with store.transaction():
        owner.fence("mailbox:jp", 1)
        fenced.set()
        thread.join(0.5)  # time for the thief to reach the row lock, where it must wait
        assert claimed == [] and thread.is_alive()
        store.set_cursor("jp", Cursor(7, 10))
    thread.join(30)
    assert claimed == [2] and store.cursor("jp") == Cursor(7, 10)


def test_a_pass_that_lost_its_lease_commits_nothing_and_leaves_the_messages(tmp_path: Path, postgres, pg_database):
    """Fencing in the commit path: the maildir pass on a PostgreSQL state, its lease taken before its batch."""
    from tests.conftest import StateBackend

    Harness.backend = StateBackend("postgresql", postgres, pg_database)
    try:
        harness = Harness(tmp_path, [mailgen.dsn(f"user{n}@example.jp", "user_unknown", n) for n in range(3)])
        leases = Leases(harness.store, "slow", 60)
        assert leases.claim(mailbox_lease("bounces")) == 1
        harness.mailbox_pass.fence = lambda: leases.fence(mailbox_lease("bounces"), 1)
        expire(pg_database)
        assert Leases(harness.store, "new", 60).claim(mailbox_lease("bounces")) == 2
        with pytest.raises(LeaseLost):
            harness.mailbox_pass.run()
        assert harness.store.event_count() == 0 and harness.store.processed_count("bounces") == 0
        assert files_in(harness.maildir) == 3 and files_in(harness.maildir, "Processed") == 0
        assert not (tmp_path / "events.jsonl").exists()
    finally:
        Harness.backend.close()
        Harness.backend = None


def coordinators(store, count: int, mailboxes: list[str]) -> list[Coordinator]:
    return [Coordinator(Leases(store, f"w{n}", 60), mailboxes, file_sinks=True, balance=True) for n in range(count)]


def holdings(workers: list[Coordinator]) -> list[list[str]]:
    return [worker.held_mailboxes() for worker in workers]


def test_mailboxes_spread_evenly_as_workers_join_and_are_taken_over_when_one_dies(store, pg_database) -> None:
    names = [f"m{n:02d}" for n in range(10)]
    alone, *others = coordinators(store, 3, names)
    alone.tick()
    assert len(alone.held_mailboxes()) == 10 and alone.writes_file_sinks()
    for worker in others:  # two join: each counts three alive and aims at ceil(10 / 3) = 4
        worker.tick()
    workers = [alone, *others]
    for _ in range(2):  # the first gives up its extras at its next heartbeat, the others take them at theirs
        for worker in workers:
            worker.tick()
    held = holdings(workers)
    assert sorted(sum(held, [])) == names  # every mailbox held, by one worker each
    assert all(len(mine) <= math.ceil(10 / 3) for mine in held)
    assert [lease.generation for lease in all_leases(store) if lease.name == FILE_SINKS] == [1]
    assert len(live_workers(store)) == 3

    dead = workers[0]  # stops renewing: its worker row and its leases run out
    with pg_database.connect() as db:
        db.execute("UPDATE dsnworker_lease SET expires_at = now() - interval '1 second' WHERE owner = 'w0'")
        db.execute("UPDATE dsnworker_worker SET expires_at = now() - interval '1 second' WHERE id = 'w0'")
    survivors = workers[1:]
    for worker in survivors:
        worker.tick()
    held = holdings(survivors)
    assert sorted(sum(held, [])) == names and all(len(mine) == 5 for mine in held)
    assert {lease.owner for lease in all_leases(store)} == {"w1", "w2"}  # the file sinks' lease too
    assert [w.id for w in live_workers(store)] == ["w1", "w2"]
    assert dead.leases.renew({mailbox_lease(n): 1 for n in names}) == {}


def test_a_worker_that_stops_releases_its_mailboxes_at_once(store) -> None:
    names = ["a", "b", "c", "d"]
    first, second = coordinators(store, 2, names)
    first.tick()
    second.tick()
    first.tick()  # gives up half for the second
    second.tick()
    assert len(first.held_mailboxes()) == 2 and len(second.held_mailboxes()) == 2
    first.stop()
    assert [w.id for w in live_workers(store)] == ["w1"]
    second.tick()  # no wait for an expiry: released leases are free
    assert second.held_mailboxes() == names


def test_a_pass_running_keeps_its_lease_when_workers_join(store) -> None:
    names = ["a", "b"]
    running = {"a", "b"}
    busy = Coordinator(Leases(store, "busy", 60), names, file_sinks=False, balance=True, busy=lambda: running)
    busy.tick()
    Coordinator(Leases(store, "new", 60), names, file_sinks=False, balance=True).tick()
    busy.tick()  # its target is 1, but both passes run: neither lease is pulled from under them
    assert busy.held_mailboxes() == names
    running.discard("b")
    busy.tick()
    assert busy.held_mailboxes() == ["a"]


def test_status_shows_each_mailboxs_owner_and_lease_expiry_and_the_live_workers(tmp_path: Path, store, pg_database):
    from dsnworker.worker.status_view import status_command
    from tests.test_worker_pipeline import make_maildir

    make_maildir(tmp_path / "mail", [])
    config = tmp_path / "config.toml"
    config.write_text(
        f'state = "{pg_database.url}"\nstate_password_env = "{PASSWORD_ENV}"\n'
        '[[mailbox]]\nname = "a"\nsource = "maildir:mail"\n[[mailbox]]\nname = "b"\nsource = "maildir:mail/.b"\n'
        '[[sink]]\nname = "events"\ntype = "events_file"\npath = "events.jsonl"\n'
    )
    make_maildir(tmp_path / "mail" / ".b", [])
    worker = Coordinator(Leases(store, "host1:42:abc", 60), ["a"], file_sinks=True, balance=True)
    worker.tick()
    text, _ = status_command(config, "json")
    document = json.loads(text)
    leases = {m["name"]: m["lease"] for m in document["mailboxes"]}
    assert leases["b"] is None and leases["a"]["owner"] == "host1:42:abc" and leases["a"]["generation"] == 1
    assert leases["a"]["expires_at"].endswith("Z") and document["file_sinks_lease"]["owner"] == "host1:42:abc"
    (alive,) = document["workers"]
    assert (alive["id"], alive["pid"]) == ("host1:42:abc", os.getpid())
    table, _ = status_command(config, "table")
    assert "OWNER" in table and "LEASE UNTIL" in table and "LAST HEARTBEAT" in table
    assert "file sinks written by: host1:42:abc" in table
    worker.stop()
    document = json.loads(status_command(config, "json")[0])
    assert document["workers"] == [] and all(m["lease"] is None for m in document["mailboxes"])


def test_the_heartbeat_keeps_its_leases_while_the_passes_hold_every_connection(postgres, pg_database) -> None:
    """Passes queued behind the writers' lock hold all of the worker's connections; the lease operations
    have connections of their own, so the heartbeat still renews instead of waiting for one (and losing
    its leases once they expire)."""
    from dsnworker.worker.state_pg import PostgresStore
    from dsnworker.worker.state_url import parse_state_url

    store = PostgresStore(parse_state_url(pg_database.url, PASSWORD_ENV, None), max_connections=2)
    leases = Leases(store, "busy", 60)
    holding, done = threading.Barrier(3), threading.Event()

    def pass_holding_a_connection() -> None:
        with store.side_transaction():  # as a batch's transaction: a connection held until it ends
            holding.wait()
            done.wait(60)  # a watchdog, not a timing

    passes = [threading.Thread(target=pass_holding_a_connection) for _ in range(2)]
    for thread in passes:
        thread.start()
    try:
        holding.wait(30)
        renewed: list[object] = []
        heartbeat = threading.Thread(
            target=lambda: renewed.extend(
                [leases.claim("mailbox:jp"), leases.beat("host", 1), leases.renew({"mailbox:jp": 1})]
            )
        )
        heartbeat.start()
        heartbeat.join(20)  # a watchdog: on the passes' pool it would wait for a connection (30 s), then fail
        assert renewed == [1, 1, {"mailbox:jp": 1}]
    finally:
        done.set()
        for thread in passes:
            thread.join(30)
        store.close()


def test_a_worker_frozen_inside_a_transaction_loses_its_session_and_the_others_go_on(postgres, pg_database) -> None:
    """A worker stopped (SIGSTOP, a long pause) while a thread held the writers' lock would hold it, and
    stall every other worker's commits, as long as it stays stopped. Its sessions end after a lease period
    idle in a transaction: the server rolls back what it wrote and frees the lock."""
    from dsnworker.worker.state_pg import PostgresStore
    from dsnworker.worker.state_url import parse_state_url

    state = parse_state_url(pg_database.url, PASSWORD_ENV, None)
    frozen, other = PostgresStore(state, stall_seconds=1.0), PostgresStore(state, stall_seconds=1.0)
    inside, thawed = threading.Event(), threading.Event()
    outcome: list[BaseException] = []

    def freezes_in_a_batch() -> None:
        try:
            with frozen.transaction():  # the writers' lock, held until this transaction ends
                frozen.set_cursor("frozen", Cursor(1, 10))
                inside.set()
                thawed.wait(60)  # "stopped": no statement, as a SIGSTOPped process sends none
                frozen.set_cursor("frozen", Cursor(1, 20))
        except BaseException as exc:  # noqa: BLE001 - the outcome is what the test reads
            outcome.append(exc)

    thread = threading.Thread(target=freezes_in_a_batch)
    thread.start()
    try:
        assert inside.wait(30)
        with other.transaction():  # waits for the writers' lock: until the server ends the frozen session
            other.set_cursor("other", Cursor(1, 5))
        thawed.set()
        thread.join(30)
        assert outcome and "stalled inside a transaction for longer than its lease period" in str(outcome[0])
        assert (other.cursor("frozen"), other.cursor("other")) == (Cursor(None, 0), Cursor(1, 5))
    finally:
        thawed.set()
        thread.join(30)
        frozen.close()
        other.close()
