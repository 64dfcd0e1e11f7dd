"""`dsnworker migrate`: a SQLite state copied, whole, into a PostgreSQL database.

Every table of the schema is copied, found from the migrations themselves (`schema_tables`), so a
table a later version adds is copied without a change here. The rows keep their values, the outbox
its `seq` and ids; each identity sequence of the target then continues after the highest value the
source ever gave (SQLite's AUTOINCREMENT counter, not only the rows left: a pruned outbox must not
hand out a seq that a sink has already passed).

Nothing may change the source meanwhile: the copy holds the worker's `STATE.lock` (a running `run` or
`poll` refuses the migration, and none can start), the delivery lock (`erase`) and SQLite's write
lock (`suppressions remove`); it changes nothing in the file itself. The target is opened as a
worker opens it (its schema made or brought up to date) and filled in one transaction: a failure or
a kill leaves it without a row.
"""

from __future__ import annotations

import contextlib
import fcntl
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from dsnworker.errors import DsnworkerError
from dsnworker.worker.faults import crash_point
from dsnworker.worker.settings import PostgresState
from dsnworker.worker.state import _MIGRATIONS, SCHEMA_VERSION
from dsnworker.worker.state_file import delivery_lock, open_worker_lock, state_problem

_CHUNK = 2000  # rows read from the source and sent to the target at a time


class MigrationError(DsnworkerError):
    """The migration was refused or failed; the message says why and what to do. The target holds no row of it."""


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[str, ...]


@dataclass
class Migration:
    """What was copied: rows per table, and where each identity sequence continues."""

    source: Path
    target: PostgresState
    rows: dict[str, int] = field(default_factory=dict)
    sequences: dict[str, int] = field(default_factory=dict)  # "table.column" -> the last value given
    replaced: dict[str, int] = field(default_factory=dict)  # --replace: the target's rows deleted, per table


def schema_tables() -> tuple[Table, ...]:
    """Every table of this version's schema, in the order the migrations create them."""
    with contextlib.closing(sqlite3.connect(":memory:")) as db:
        for step in _MIGRATIONS:
            db.executescript(step)
        names = [
            name
            for (name,) in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY rowid"
            )
        ]
        return tuple(
            Table(name, tuple(column[1] for column in db.execute(f'PRAGMA table_info("{name}")'))) for name in names
        )


def migrate(source: Path, target: PostgresState, *, replace: bool = False) -> Migration:
    """Copy the SQLite state `source` into the PostgreSQL database `target` (see the module's doc)."""
    if not source.is_file():
        raise MigrationError(f"state file {source} does not exist (or is not a file): nothing to migrate")
    with _worker_lock(source), delivery_lock(source), _source(source) as db:
        return _copy(db, source, target, replace=replace)


@contextmanager
def _worker_lock(source: Path) -> Iterator[IO[bytes]]:
    """The lock a worker holds on its state file, taken as runner.py takes it."""
    handle, _ = open_worker_lock(source)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise MigrationError(
                f"state file {source} is in use by a running dsnworker (run or poll): stop it first, so that "
                "nothing it commits after the copy is left behind; then migrate, and start it on PostgreSQL"
            ) from None
        yield handle
    finally:
        handle.close()


@contextmanager
def _source(source: Path) -> Iterator[sqlite3.Connection]:
    """The source, its schema version checked, in one transaction that holds SQLite's write lock (a
    `suppressions remove` waits, then fails, rather than commit an event the copy would miss)."""
    try:
        db = sqlite3.connect(source, timeout=30, isolation_level=None)
    except sqlite3.Error as exc:
        raise state_problem(source, exc) from exc
    try:
        db.execute("BEGIN IMMEDIATE")
        (version,) = db.execute("PRAGMA user_version").fetchone()
        _check_version(source, version)
        yield db
        db.execute("ROLLBACK")
    except sqlite3.Error as exc:
        raise state_problem(source, exc) from exc
    finally:
        db.close()


def _check_version(source: Path, version: int) -> None:
    if version == 0:
        raise MigrationError(f"state file {source} is not a dsnworker state (it has no schema)")
    if version > SCHEMA_VERSION:
        raise MigrationError(
            f"state file {source} has schema version {version}, newer than this dsnworker ({SCHEMA_VERSION}): "
            "migrate with the dsnworker that wrote it (or a newer one)"
        )
    if version < SCHEMA_VERSION:
        raise MigrationError(
            f"state file {source} has schema version {version}, older than this dsnworker's ({SCHEMA_VERSION}): "
            "bring it up to date first by opening it as the worker does (`dsnworker poll -c CONFIG` once with this "
            "version and the configuration that names the file), then migrate"
        )


def _copy(source_db: sqlite3.Connection, source: Path, target: PostgresState, *, replace: bool) -> Migration:
    from dsnworker.worker.state_pg import PostgresStore  # psycopg only for this command

    tables = schema_tables()
    done = Migration(source, target)
    store = PostgresStore(target, max_connections=2)
    try:
        # the transaction holds the writers' lock: no worker commits meanwhile, and one alive is refused
        with store.transaction() as db:
            alive = _live_workers(db)
            if alive:
                raise MigrationError(
                    f"PostgreSQL state {target} is in use by {alive} running dsnworker worker(s): stop them, "
                    "then migrate (it fills a database no worker uses)"
                )
            held = {table.name: _count(db, table.name) for table in tables}
            held = {name: count for name, count in held.items() if count}
            if held and not replace:
                listed = ", ".join(f"{name} {count}" for name, count in held.items())
                raise MigrationError(
                    f"PostgreSQL state {target} already holds a dsnworker state (rows: {listed}): migrate fills an "
                    "empty one. Give another database, or --replace to delete those rows and copy the file's in "
                    "their place (in the same transaction)"
                )
            for name in held:
                db.execute(f'DELETE FROM "{name}"')
            done.replaced = held
            for table in tables:
                done.rows[table.name] = _copy_table(source_db, db, table)
                crash_point("migrate_table_copied")
            for table in tables:
                copied = _count(db, table.name)
                if copied != done.rows[table.name]:  # a guard: the target must hold exactly what was read
                    raise MigrationError(
                        f"table {table.name}: {done.rows[table.name]} row(s) read, {copied} in the target; nothing "
                        "was kept"
                    )
            done.sequences = _continue_sequences(source_db, db)
    except store.database_errors as exc:  # a row the target refuses, a lost connection: rolled back
        raise MigrationError(f"{store.problem(exc)}; nothing was copied (the transaction was rolled back)") from exc
    finally:
        store.close()
    return done


def _live_workers(db: Any) -> int:
    """How many workers are registered and alive on the target (leases.py's table, once a worker ran)."""
    if db.execute("SELECT to_regclass('dsnworker_worker') IS NULL").fetchone()[0]:
        return 0
    return int(db.execute("SELECT count(*) FROM dsnworker_worker WHERE expires_at > clock_timestamp()").fetchone()[0])


def _count(db: Any, table: str) -> int:
    return int(db.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0])


def _copy_table(source_db: sqlite3.Connection, db: Any, table: Table) -> int:
    names = ", ".join(f'"{column}"' for column in table.columns)
    insert = f'INSERT INTO "{table.name}" ({names}) VALUES ({", ".join("?" * len(table.columns))})'
    rows = source_db.execute(f'SELECT {names} FROM "{table.name}"')
    copied = 0
    while chunk := rows.fetchmany(_CHUNK):
        db.executemany(insert, chunk)
        copied += len(chunk)
    return copied


def _continue_sequences(source_db: sqlite3.Connection, db: Any) -> dict[str, int]:
    """Set each identity column's sequence past the highest value the source gave (0: none yet)."""
    given = dict(source_db.execute("SELECT name, seq FROM sqlite_sequence").fetchall())
    continued = {}
    identities = db.execute(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND is_identity = 'YES' ORDER BY table_name"
    ).fetchall()
    for table, column in identities:
        (highest,) = source_db.execute(f'SELECT coalesce(max("{column}"), 0) FROM "{table}"').fetchone()
        last = max(int(highest), int(given.get(table) or 0))
        # is_called false: the next value is `last` itself, so 1 for a table that never had a row
        db.execute("SELECT setval(pg_get_serial_sequence(?, ?), ?, ?)", (f'"{table}"', column, max(last, 1), last > 0))
        continued[f"{table}.{column}"] = last
    return continued
