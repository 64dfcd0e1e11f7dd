"""The state opened read-only, for the commands that only look (the report): no lock, no write.
(A PostgreSQL state is read by state_reader_pg, with the same queries.)

The worker may be running: SQLite's WAL lets a reader see the last commit while it writes. A
read-only connection still makes the `-wal` and `-shm` files when they are missing, and cannot delete
them: made by root, they would stop a worker that runs as another user. So when there is no `-wal`
(no worker has the state open, and the last one folded its journal into the file) the file is read as
immutable, which creates nothing; if a worker opened it meanwhile, the read is done again its way.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import urllib.parse
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dsnworker.worker.state import SCHEMA_VERSION
from dsnworker.worker.state_file import StateError, state_problem

_OUTCOME_DAYS_SINCE = 4  # the schema version that began to count outcomes per day


@dataclass(frozen=True)
class OutcomeCount:
    day: str
    mailbox: str
    provider: str | None
    reason: str
    action: str
    hard: bool
    count: int


@dataclass(frozen=True)
class OpenIncident:
    key: str
    mailbox: str
    provider: str | None
    reason: str
    blocklist: str | None
    listed: str | None
    first_seen: str
    last_seen: str
    count: int


@dataclass(frozen=True)
class ReportData:
    outcomes: list[OutcomeCount]
    incidents: list[OpenIncident]


def read_report_data(path: Path, since_day: str, incidents_since: str) -> ReportData:
    """The daily counts from `since_day` (YYYY-MM-DD) on, and the incidents with a refusal since
    `incidents_since` (a timestamp): those not closed yet."""
    for _ in range(3):
        before = _journal_and_file(path)
        with _connection(path, immutable=before[0] is None) as db:
            data = _read(db, path, since_day, incidents_since)
        if before[0] is not None or _journal_and_file(path) == before:
            return data
    # a worker keeps opening and closing the state: read alongside it, its way
    with _connection(path, immutable=False) as db:
        return _read(db, path, since_day, incidents_since)


def _journal_and_file(path: Path) -> tuple[int | None, tuple[int, int, int]]:
    """The -wal's inode (None when absent) and the file's (inode, size, mtime): what a writer changes."""
    try:
        wal: int | None = os.stat(f"{path}-wal").st_ino
    except FileNotFoundError:
        wal = None
    try:
        info = os.stat(path)
    except OSError as exc:
        raise _missing(path, exc) from exc
    return wal, (info.st_ino, info.st_size, info.st_mtime_ns)


def _missing(path: Path, exc: OSError) -> StateError:
    if isinstance(exc, FileNotFoundError):
        return StateError(
            f"state file {path} does not exist: nothing to report yet (`dsnworker poll` or `run` creates it), "
            "or the configuration's `state` names another file"
        )
    return state_problem(path, exc)


@contextmanager
def _connection(path: Path, *, immutable: bool) -> Iterator[sqlite3.Connection]:
    query = "mode=ro&immutable=1" if immutable else "mode=ro"
    uri = f"file:{urllib.parse.quote(str(path.absolute()))}?{query}"
    try:
        db = sqlite3.connect(uri, uri=True, timeout=30, isolation_level=None)
    except sqlite3.Error as exc:
        raise state_problem(path, exc) from exc
    try:
        yield db
    finally:
        with contextlib.suppress(sqlite3.Error):
            db.close()


# the report's two queries, one snapshot for both; state_reader_pg runs them on PostgreSQL
OUTCOMES_QUERY = (
    "SELECT day, mailbox, provider, reason, action, hard, count FROM outcome_day WHERE day >= ? "
    "ORDER BY day, provider, reason, action"
)
INCIDENTS_QUERY = (
    "SELECT key, mailbox, provider, reason, blocklist, listed, first_seen, last_seen, count "
    "FROM incident WHERE last_seen >= ? ORDER BY last_seen DESC, key"
)


def report_data(outcomes: Iterable[Sequence[Any]], incidents: Iterable[Sequence[Any]]) -> ReportData:
    """The rows of OUTCOMES_QUERY and INCIDENTS_QUERY as the report reads them."""
    return ReportData(
        [
            OutcomeCount(day, mailbox, provider or None, reason, action, bool(hard), int(count))
            for day, mailbox, provider, reason, action, hard, count in outcomes
        ],
        [OpenIncident(*row) for row in incidents],
    )


def _read(db: sqlite3.Connection, path: Path, since_day: str, incidents_since: str) -> ReportData:
    try:
        db.execute("BEGIN")  # one snapshot for both queries
        (version,) = db.execute("PRAGMA user_version").fetchone()
        check_version(f"state file {path}", version)
        data = report_data(
            db.execute(OUTCOMES_QUERY, (since_day,)).fetchall(),
            db.execute(INCIDENTS_QUERY, (incidents_since,)).fetchall(),
        )
        db.execute("COMMIT")
    except sqlite3.Error as exc:
        raise state_problem(path, exc) from exc
    return data


def check_version(state: str, version: int) -> None:
    """Whether the report can read a state of this schema version; `state` names it in the message."""
    if version == 0:
        raise StateError(f"{state} is not a dsnworker state (it has no schema)")
    if version > SCHEMA_VERSION:
        raise StateError(
            f"{state} has schema version {version}, newer than this dsnworker ({SCHEMA_VERSION}): upgrade dsnworker"
        )
    if version < _OUTCOME_DAYS_SINCE:
        raise StateError(
            f"{state} was written by an older dsnworker (schema version {version}), which kept no "
            "daily counts: restart the worker with this version (or run `dsnworker poll` once); the report "
            "counts the bounces read from then on"
        )
