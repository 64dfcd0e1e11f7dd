"""Leases in a PostgreSQL state: which worker polls which mailbox, and which one writes the file sinks.

A lease is a row: its name (`mailbox:NAME`, or `file-sinks`), its owner (a worker's id), a generation
that grows by one at every claim, and an expiry read from the database's clock (never a worker's: the
workers' clocks may disagree, the database's is the one all of them ask). The owner renews it at each
heartbeat; a worker that stops renewing (killed, paused, cut off) loses it when it expires, and the
next claim, by anyone, makes a new generation.

Why not advisory locks: a session lock lives as long as the worker's connection, so a worker paused
(SIGSTOP, a long GC pause) or cut off while its connection stays open keeps it for ever, and a lock
says nothing a later commit could check. A generation does: every batch commit of a mailbox locks its
lease row (`fence`, inside the batch's own transaction) and goes on only while the row still names
this worker, this generation, and an expiry not reached; otherwise the batch rolls back. A claim
waits for that row lock, so no lease changes hands between the check and the commit.

Workers register too (`dsnworker_worker`: id, host, pid, heartbeat), so that each knows how many are
alive and takes its share of the mailboxes, and `status` shows them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dsnworker.errors import DsnworkerError

if TYPE_CHECKING:
    from dsnworker.worker.state_pg import PostgresStore

FILE_SINKS = "file-sinks"  # the lease of the one worker that writes the events and suppression files
_FORGET_WORKERS_AFTER = 3600.0  # seconds past its expiry a dead worker's row is kept

# made with the state (state_pg's migration), in PostgreSQL only: a SQLite state has one worker
CLUSTER_DDL = (
    "CREATE TABLE IF NOT EXISTS dsnworker_lease ("
    " name TEXT PRIMARY KEY,"  # mailbox:NAME or file-sinks
    " owner TEXT,"  # a worker's id; NULL once released
    " generation BIGINT NOT NULL,"  # one more at every claim: what a batch commit checks
    " expires_at TIMESTAMPTZ NOT NULL)",
    "CREATE TABLE IF NOT EXISTS dsnworker_worker ("
    " id TEXT PRIMARY KEY,"
    " host TEXT NOT NULL,"
    " pid BIGINT NOT NULL,"
    " started_at TIMESTAMPTZ NOT NULL,"
    " heartbeat_at TIMESTAMPTZ NOT NULL,"
    " expires_at TIMESTAMPTZ NOT NULL)",
)


class LeaseLost(DsnworkerError):
    """A batch was about to be committed under a lease this worker no longer holds: it was rolled back."""


def mailbox_lease(mailbox: str) -> str:
    return f"mailbox:{mailbox}"


@dataclass(frozen=True)
class Lease:
    name: str
    owner: str | None
    generation: int
    expires_at: float  # unix time, by the database's clock


@dataclass(frozen=True)
class LiveWorker:
    id: str
    host: str
    pid: int
    started_at: float  # unix times, by the database's clock
    heartbeat_at: float
    expires_at: float


class Leases:
    """One worker's dealings with the lease table: claim, renew, release, fence; and its heartbeat."""

    def __init__(self, store: PostgresStore, owner: str, period: float) -> None:
        self.store = store
        self.owner = owner
        self.period = period  # seconds a lease (and a worker's registration) lasts past a heartbeat

    def claim(self, name: str) -> int | None:
        """Take the lease if it is free, released or expired: its new generation; None if another holds it."""
        with self.store.side_transaction(leases=True) as db:
            row = db.execute(
                "INSERT INTO dsnworker_lease (name, owner, generation, expires_at) "
                "VALUES (?, ?, 1, clock_timestamp() + ? * interval '1 second') "
                "ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, "
                "generation = dsnworker_lease.generation + 1, expires_at = excluded.expires_at "
                "WHERE dsnworker_lease.owner IS NULL OR dsnworker_lease.expires_at <= clock_timestamp() "
                "RETURNING generation",
                (name, self.owner, self.period),
            ).fetchone()
        return int(row[0]) if row else None

    def renew(self, held: Mapping[str, int]) -> dict[str, int]:
        """Extend the leases still this worker's, at the generations it holds; those it still holds.
        An expired lease is not renewed, even if nobody took it: it was lost, and a claim starts anew."""
        if not held:
            return {}
        with self.store.side_transaction(leases=True) as db:
            rows = db.execute(
                "UPDATE dsnworker_lease SET expires_at = clock_timestamp() + ? * interval '1 second' "
                "WHERE owner = ? AND expires_at > clock_timestamp() RETURNING name, generation",
                (self.period, self.owner),
            ).fetchall()
        current = {str(name): int(generation) for name, generation in rows}
        return {name: generation for name, generation in held.items() if current.get(name) == generation}

    def release(self, names: Mapping[str, int]) -> None:
        """Give leases up now (another worker need not wait for their expiry)."""
        if not names:
            return
        with self.store.side_transaction(leases=True) as db:
            db.executemany(
                "UPDATE dsnworker_lease SET owner = NULL, expires_at = clock_timestamp() "
                "WHERE name = ? AND owner = ? AND generation = ?",
                [(name, self.owner, generation) for name, generation in names.items()],
            )

    def fence(self, name: str, generation: int) -> None:
        """Inside a batch's transaction: go on only while this worker holds the lease at this generation,
        unexpired; the row stays locked until the commit, so that no claim can slip in between."""
        row = self.store.db.execute(
            "SELECT generation FROM dsnworker_lease WHERE name = ? AND owner = ? AND generation = ? "
            "AND expires_at > clock_timestamp() FOR UPDATE",
            (name, self.owner, generation),
        ).fetchone()
        if row is None:
            raise LeaseLost(
                f"lease {name!r} generation {generation} is no longer held by worker {self.owner} (it expired or "
                "another worker took it): the batch was rolled back and its messages are left for the lease's owner"
            )

    def taken(self, names: Sequence[str]) -> set[str]:
        """Which of these leases someone holds now (unexpired)."""
        rows = self.store.db.execute(
            "SELECT name FROM dsnworker_lease WHERE owner IS NOT NULL AND expires_at > clock_timestamp()"
        ).fetchall()
        wanted = set(names)
        return {str(name) for (name,) in rows if name in wanted}

    def beat(self, host: str, pid: int) -> int:
        """Say this worker is alive (registering it the first time); how many workers are alive now."""
        with self.store.side_transaction(leases=True) as db:
            db.execute(
                "INSERT INTO dsnworker_worker (id, host, pid, started_at, heartbeat_at, expires_at) "
                "VALUES (?, ?, ?, clock_timestamp(), clock_timestamp(), clock_timestamp() + ? * interval '1 second') "
                "ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at, expires_at = excluded.expires_at",
                (self.owner, host, pid, self.period),
            )
            db.execute(
                "DELETE FROM dsnworker_worker WHERE expires_at < clock_timestamp() - ? * interval '1 second'",
                (_FORGET_WORKERS_AFTER,),
            )
            (alive,) = db.execute(
                "SELECT count(*) FROM dsnworker_worker WHERE expires_at > clock_timestamp()"
            ).fetchone()
        return max(1, int(alive))

    def leave(self) -> None:
        """A clean stop: this worker is no longer counted (its leases are released by the caller)."""
        with self.store.side_transaction(leases=True) as db:
            db.execute("DELETE FROM dsnworker_worker WHERE id = ?", (self.owner,))


def all_leases(store: Any) -> list[Lease]:
    """Every lease row, for `status` (read-only)."""
    rows = store.db.execute(
        "SELECT name, owner, generation, extract(epoch FROM expires_at)::float8 FROM dsnworker_lease ORDER BY name"
    ).fetchall()
    return [Lease(str(name), owner, int(generation), float(expires)) for name, owner, generation, expires in rows]


def live_workers(store: Any) -> list[LiveWorker]:
    """The workers whose registration has not expired, for `status` (read-only)."""
    rows = store.db.execute(
        "SELECT id, host, pid, extract(epoch FROM started_at)::float8, extract(epoch FROM heartbeat_at)::float8, "
        "extract(epoch FROM expires_at)::float8 FROM dsnworker_worker WHERE expires_at > clock_timestamp() "
        "ORDER BY host, pid"
    ).fetchall()
    return [LiveWorker(str(i), str(h), int(p), float(s), float(b), float(e)) for i, h, p, s, b, e in rows]
