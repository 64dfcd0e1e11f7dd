"""Which `Store` a configuration's state names: a SQLite file (the default) or a PostgreSQL database.

The PostgreSQL backend (and psycopg with it) is imported only here, only for a postgresql:// state.
"""

from __future__ import annotations

from pathlib import Path

from dsnworker.errors import DsnworkerError
from dsnworker.worker.settings import Settings
from dsnworker.worker.state import Store


def open_store(settings: Settings, *, new_state: bool = False) -> Store:
    """The state to read and write. A SQLite file has one worker (the runner holds STATE.lock itself,
    before the file is opened); a PostgreSQL database is shared by any number of them (`leases`)."""
    if isinstance(settings.state, Path):
        return Store(settings.state, new_state=new_state)
    if new_state:
        raise DsnworkerError(
            f"{settings.path}: --new-state starts afresh where a SQLite state file was lost; a PostgreSQL state "
            f"({settings.state}) is not lost that way: to start afresh, drop and create the database"
        )
    from dsnworker.worker.state_pg import PostgresStore

    # a connection per thread that may use the state at once: the mailboxes' passes, the webhook sinks, the
    # rest, the heartbeat's thread and the file sinks' writer; at most `[cluster] connections` (threads beyond
    # wait for one: passes queued behind the writers' lock would hold them idle anyway)
    threads = len(settings.mailboxes) + len(settings.sinks) + 4
    connections = min(threads, settings.cluster.connections)
    # a webhook event claimed lasts a lease period, as a mailbox's lease does; and a session of this worker
    # left idle that long (the worker frozen) is ended by the server, with the locks it held
    lease = settings.cluster.lease
    return PostgresStore(settings.state, max_connections=connections, claim_seconds=lease, stall_seconds=lease)


def open_read_only(settings: Settings) -> Store:
    """The state as it is, for reading beside a running worker (never created, migrated or locked)."""
    if isinstance(settings.state, Path):
        return Store.read_only(settings.state)
    from dsnworker.worker.state_pg import PostgresStore

    return PostgresStore.read_only(settings.state)
