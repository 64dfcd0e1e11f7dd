"""The report's reading of a PostgreSQL state: state_reader's queries, in one read-only snapshot.

One connection of its own, opened read-only (`default_transaction_read_only`) in a REPEATABLE READ
transaction, so both queries see the same commit; no lock is taken, so a worker writing meanwhile
neither waits for the report nor is seen half-way.
"""

from __future__ import annotations

import contextlib

import psycopg

from dsnworker.worker.settings import PostgresState
from dsnworker.worker.state_file import StateError
from dsnworker.worker.state_pg import connect, connection_options, postgres_sql
from dsnworker.worker.state_reader import INCIDENTS_QUERY, OUTCOMES_QUERY, ReportData, check_version, report_data


def read_report_data(state: PostgresState, since_day: str, incidents_since: str) -> ReportData:
    """As state_reader.read_report_data, for a PostgreSQL state."""
    with contextlib.closing(connect(state, connection_options(state, read_only=True))) as db:
        try:
            db.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            check_version(f"PostgreSQL state {state}", _version(db, state))
            data = report_data(
                db.execute(postgres_sql(OUTCOMES_QUERY), (since_day,)).fetchall(),
                db.execute(postgres_sql(INCIDENTS_QUERY), (incidents_since,)).fetchall(),
            )
            db.execute("COMMIT")
        except psycopg.Error as exc:
            detail = " ".join(str(exc).split()) or type(exc).__name__
            raise StateError(f"PostgreSQL state {state}: cannot be read ({type(exc).__name__}: {detail})") from None
    return data


def _version(db: psycopg.Connection[object], state: PostgresState) -> int:
    """The schema version; a database the worker never ran on has none: nothing to report yet."""
    (exists,) = db.execute("SELECT to_regclass('dsnworker_schema') IS NOT NULL").fetchone() or (False,)
    row = db.execute("SELECT version FROM dsnworker_schema").fetchone() if exists else None
    if row is None:
        raise StateError(
            f"PostgreSQL state {state} holds no dsnworker state yet: nothing to report yet (`dsnworker poll` or "
            "`run` creates it), or the configuration's `state` names another database"
        )
    return int(row[0])
