"""Durable state in SQLite: cursors, processed messages, the outbox, bounce history, incidents.

Everything the worker must not forget goes through this one small interface (`Store`). Its SQL is
written to run on SQLite and PostgreSQL alike (`ON CONFLICT` upserts, qualified columns in them, no
integer used as a boolean), so `state_pg.PostgresStore` inherits every query and brings only its
connections, placeholders, DDL and locks.
WAL mode: readers never block the writer, and a commit survives a process kill (`synchronous=NORMAL`
can lose the last commits on a power cut, never on a crash of the process; FULL is a config away).
"""

from __future__ import annotations

import contextlib
import functools
import json
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, ParamSpec, TypeVar

from dsnworker.worker.state_file import (
    StateError,
    check_existing,
    delivery_lock,
    is_damaged,
    set_aside,
    state_problem,
    write_marker,
)

# Each step takes the schema from version i to i + 1; a new version only appends a step.
_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE cursor (
        mailbox TEXT PRIMARY KEY,
        uidvalidity INTEGER,
        last_uid INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE processed (
        mailbox TEXT NOT NULL,
        key TEXT NOT NULL,            -- sha256 of the message bytes: survives a UIDVALIDITY change
        uid INTEGER,
        category TEXT NOT NULL,       -- bounce | not_bounce | unparsed
        processed_at TEXT NOT NULL,
        PRIMARY KEY (mailbox, key)
    ) WITHOUT ROWID;
    CREATE TABLE pending_disposition (  -- committed with the outcomes, cleared once done on the server
        mailbox TEXT NOT NULL,
        uidvalidity INTEGER,
        uid INTEGER NOT NULL,
        disposition TEXT NOT NULL,
        PRIMARY KEY (mailbox, uid)
    ) WITHOUT ROWID;
    CREATE TABLE outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        mailbox TEXT NOT NULL,
        type TEXT NOT NULL,
        recipient TEXT,
        body TEXT NOT NULL
    );
    CREATE TABLE sink_progress (      -- ordered sinks: everything up to last_seq is delivered
        sink TEXT PRIMARY KEY,
        last_seq INTEGER NOT NULL
    );
    CREATE TABLE soft_bounce (
        mailbox TEXT NOT NULL,
        recipient TEXT NOT NULL,
        at REAL NOT NULL              -- unix time
    );
    CREATE INDEX soft_bounce_by_recipient ON soft_bounce (mailbox, recipient, at);
    CREATE TABLE incident (
        key TEXT PRIMARY KEY,
        mailbox TEXT NOT NULL,
        provider TEXT,
        reason TEXT NOT NULL,
        blocklist TEXT,
        listed TEXT,
        details TEXT NOT NULL,        -- JSON: delist_url, ref, the first diagnostic
        first_seen TEXT NOT NULL,
        last_seen TEXT NOT NULL,
        count INTEGER NOT NULL,
        reported_count INTEGER NOT NULL DEFAULT 0
    );
    """,
    # webhook delivery: a queue per sink, fed from the outbox; delivered rows are deleted
    """
    CREATE TABLE webhook_queue (
        sink TEXT NOT NULL,
        seq INTEGER NOT NULL,         -- the event's place in the outbox
        ordering TEXT NOT NULL,       -- recipient (or incident): its events go out in outbox order
        attempts INTEGER NOT NULL DEFAULT 0,
        next_at REAL NOT NULL,        -- unix time of the next attempt
        first_at REAL NOT NULL,       -- when it was queued: retry_for counts from here
        state TEXT NOT NULL DEFAULT 'pending',  -- pending | dead
        last_error TEXT,
        PRIMARY KEY (sink, seq)
    ) WITHOUT ROWID;
    CREATE INDEX webhook_due ON webhook_queue (sink, state, next_at);
    CREATE INDEX webhook_order ON webhook_queue (sink, ordering, seq);
    CREATE TABLE webhook_sink (
        sink TEXT PRIMARY KEY,
        queued_seq INTEGER NOT NULL DEFAULT 0,  -- the outbox up to here is queued for this sink
        gone_at REAL,                 -- the endpoint answered 410: delivery stopped until retried
        gone_detail TEXT
    );
    """,
    # retention: when a pass last met the message, and whether its disposition leaves it in the folder
    """
    ALTER TABLE processed ADD COLUMN seen_at TEXT;
    ALTER TABLE processed ADD COLUMN stays INTEGER NOT NULL DEFAULT 1;
    CREATE INDEX processed_by_age ON processed (mailbox, seen_at);
    CREATE INDEX incident_by_age ON incident (last_seen);
    """,
    # the report: outcomes counted per day (UTC), mailbox, provider, reason, action and hardness; no
    # address, so the counts outlive what a data-protection erasure removes
    """
    CREATE TABLE outcome_day (
        day TEXT NOT NULL,            -- YYYY-MM-DD: the bounce's own Date, else when the worker read it
        mailbox TEXT NOT NULL,
        provider TEXT NOT NULL,       -- '' when no rule names one
        reason TEXT NOT NULL,
        action TEXT NOT NULL,         -- after the policy (a soft bounce over the threshold is suppress)
        hard INTEGER NOT NULL,
        count INTEGER NOT NULL,
        PRIMARY KEY (day, mailbox, provider, reason, action, hard)
    ) WITHOUT ROWID;
    """,
    # the suppression lifecycle: expiry counts from the latest suppression of an address, which the
    # suppression file (one row per address, never updated) does not hold
    """
    CREATE TABLE suppression_history (
        mailbox TEXT NOT NULL,
        recipient TEXT NOT NULL,      -- as policy.recipient_key writes it
        last_at TEXT NOT NULL,        -- UTC timestamp of the latest recipient.suppressed event
        PRIMARY KEY (mailbox, recipient)
    ) WITHOUT ROWID;
    """,
    # the last pass over each mailbox, for `status` and the metrics (a row per mailbox, replaced)
    """
    CREATE TABLE pass_log (
        mailbox TEXT PRIMARY KEY,
        started_at REAL NOT NULL,     -- unix time
        seconds REAL NOT NULL,
        outcome TEXT NOT NULL,        -- ok | failed
        error TEXT,                   -- the first error of a failed pass
        last_ok_at REAL               -- when the last pass that went well ended
    ) WITHOUT ROWID;
    """,
)
SCHEMA_VERSION = len(_MIGRATIONS)
# what the report counts outcomes by: (day, mailbox, provider, reason, action, hard)
OutcomeKind = tuple[str, str, str | None, str, str, bool]
_PASS_LOG_VERSION = 6  # the schema that added pass_log

# one encoder each: json.dumps with options builds a new encoder per call
_to_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_to_ascii_json = json.JSONEncoder(separators=(",", ":")).encode


def _storable(text: str | None) -> str | None:
    """SQLite stores UTF-8: a lone surrogate (from undecodable input) is written as its escape; so is a
    NUL character, which PostgreSQL's text refuses."""
    if not text:
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _reported(method: Callable[_P, _R]) -> Callable[_P, _R]:
    """A Store method whose database and OS errors become one StateError naming the state and what to do."""

    @functools.wraps(method)
    def call(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return method(*args, **kwargs)
        except Exception as exc:
            store = args[0]
            assert isinstance(store, Store)
            if not isinstance(exc, store.database_errors):
                raise
            raise store.problem(exc) from exc

    return call


def _reporting(cls: type[Store]) -> type[Store]:
    """Every public method of the Store reports its errors (the context managers do it themselves)."""
    for name, member in list(vars(cls).items()):
        if callable(member) and not name.startswith("_") and name not in ("transaction", "savepoint", "delivery_lock"):
            setattr(cls, name, _reported(member))
    return cls


@dataclass(frozen=True)
class Cursor:
    uidvalidity: int | None
    last_uid: int


class Processed(NamedTuple):
    """A message to mark processed: its key, its UID (None for a local source), its category, when,
    and whether its disposition leaves it in the folder (leave, none, seen)."""

    key: str
    uid: int | None
    category: str
    at: str
    stays: bool


@dataclass(frozen=True)
class PendingDisposition:
    uidvalidity: int | None
    uid: int
    disposition: str


class OutboxEvent(Mapping[str, Any]):
    """An outbox event as stored: its JSON text, parsed only when a field other than id and type is
    read (the events file writes the text as it is; the suppression file reads only its own type)."""

    __slots__ = ("seq", "id", "type", "mailbox", "recipient", "text", "_body")

    def __init__(self, seq: int, id_: str, type_: str, mailbox: str, recipient: str | None, text: str) -> None:
        self.seq, self.id, self.type, self.mailbox, self.recipient, self.text = (
            seq,
            id_,
            type_,
            mailbox,
            recipient,
            text,
        )
        self._body: dict[str, Any] | None = None

    @property
    def body(self) -> dict[str, Any]:
        if self._body is None:
            self._body = json.loads(self.text)
        return self._body

    def __getitem__(self, key: str) -> Any:
        if key == "id":
            return self.id
        if key == "type":
            return self.type
        return self.body[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.body)

    def __len__(self) -> int:
        return len(self.body)


@dataclass(frozen=True)
class Incident:
    key: str
    mailbox: str
    provider: str | None
    reason: str
    blocklist: str | None
    listed: str | None
    details: dict[str, Any]
    first_seen: str
    last_seen: str
    count: int
    reported_count: int


@dataclass(frozen=True)
class PassRecord:
    """The last pass over a mailbox: when it began (unix time), how long it took, how it ended."""

    started_at: float
    seconds: float
    outcome: str  # ok | failed
    error: str | None
    last_ok_at: float | None  # the end of the last pass that went well

    @property
    def ended_at(self) -> float:
        return self.started_at + self.seconds


@dataclass(frozen=True)
class WebhookSinkState:
    queued_seq: int
    gone_at: float | None
    gone_detail: str | None


@dataclass(frozen=True)
class QueuedEvent:
    seq: int
    attempts: int
    first_at: float
    event: dict[str, Any]


@_reporting
class Store:
    """One SQLite file. A connection per thread (sqlite3 objects must stay on their thread).

    `new_state` (the operator's `--new-state`) allows starting afresh where a state existed and is now
    missing, empty or damaged (see `state_file`); on a usable state it is refused.
    """

    database_errors: tuple[type[Exception], ...] = (sqlite3.Error, OSError)  # what `problem` explains
    _begin: tuple[str, ...] = ("BEGIN IMMEDIATE",)  # one writer at a time: the outbox's seq is commit order

    def __init__(self, path: Path, *, new_state: bool = False) -> None:
        self.path = path
        self._local = threading.local()
        self._read_only = False
        self._version = SCHEMA_VERSION
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            check_existing(path, new_state=new_state)
            existed = path.exists() and path.stat().st_size > 0
            try:
                self._migrate()
                damaged = new_state and existed and not self._healthy()
            except sqlite3.DatabaseError as exc:
                if not (new_state and is_damaged(exc)):
                    raise
                damaged = True
            if damaged:  # kept aside for a post-mortem, and a new state begun
                self.close()
                set_aside(path)
                self._migrate()
            elif new_state and existed:
                # a flag left in a unit file would hide the next loss of the state: it is for one start
                raise StateError(
                    f"state file {path} is usable: --new-state only starts afresh where the state is "
                    "missing, empty or damaged; run without it"
                )
            write_marker(path)
        except (OSError, sqlite3.Error) as exc:
            self.close()
            raise state_problem(path, exc) from exc
        except StateError:
            self.close()
            raise

    @classmethod
    def read_only(cls, path: Path) -> Store:
        """The state as it is, for reading beside a running worker: opened read-only (`mode=ro`), never
        created, migrated or locked. Its methods that write fail (SQLITE_READONLY)."""
        store = cls.__new__(cls)
        store.path, store._local, store._read_only = path, threading.local(), True
        if not path.is_file():
            check_existing(path, new_state=False)  # one that existed and vanished: what to do about it
            raise StateError(f"state file {path} does not exist: the worker has not run with this configuration")
        try:
            (version,) = store.db.execute("PRAGMA user_version").fetchone()
        except sqlite3.Error as exc:
            store.close()
            raise state_problem(path, exc) from exc
        if version > SCHEMA_VERSION:
            store.close()
            raise StateError(
                f"state file {path} has schema version {version}, newer than this dsnworker ({SCHEMA_VERSION}): "
                "upgrade dsnworker"
            )
        store._version = version
        return store

    def problem(self, exc: BaseException) -> StateError:
        """The error to show for a database error met on this state: what happened and what to do."""
        return state_problem(self.path, exc)

    def delivery_lock(self) -> contextlib.AbstractContextManager[None]:
        """Held while the file sinks are written, by the worker and by `erase` (one writer per sink file)."""
        return delivery_lock(self.path)

    def _healthy(self) -> bool:
        (verdict,) = self.db.execute("PRAGMA quick_check(1)").fetchone()
        return bool(verdict == "ok")

    @property
    def db(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None and self._read_only:
            uri = f"{self.path.absolute().as_uri()}?mode=ro"
            connection = sqlite3.connect(uri, uri=True, timeout=30, isolation_level=None, check_same_thread=True)
            connection.execute("PRAGMA busy_timeout=30000")
            self._local.connection = connection
        elif connection is None:
            connection = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=True)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.execute("PRAGMA busy_timeout=30000")
            self._local.connection = connection
        return connection

    def close(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None

    def _migrate(self) -> None:
        with self.transaction():
            (version,) = self.db.execute("PRAGMA user_version").fetchone()
            if version > SCHEMA_VERSION:
                raise StateError(
                    f"state file {self.path} has schema version {version}, newer than this dsnworker "
                    f"({SCHEMA_VERSION}): upgrade dsnworker"
                )
            for step in _MIGRATIONS[version:]:
                for statement in step.split(";"):
                    if statement.strip():
                        self.db.execute(statement)
            self.db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def _connection_held(self) -> contextlib.AbstractContextManager[object]:
        """Keeps this thread on one connection for the block (SQLite's is the thread's own already)."""
        return contextlib.nullcontext()

    def transaction(self) -> contextlib.AbstractContextManager[Any]:
        """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on any exception): all or nothing."""
        return self._transaction(self._begin)

    @contextmanager
    def _transaction(
        self, begin: Sequence[str], held: contextlib.AbstractContextManager[object] | None = None
    ) -> Iterator[Any]:
        """`begin`'s statements ... COMMIT (ROLLBACK on any exception), on the connection `held` keeps (this
        thread's by default)."""
        with held if held is not None else self._connection_held():
            try:
                db = self.db
            except self.database_errors as exc:
                raise self.problem(exc) from exc
            try:
                for statement in begin:
                    db.execute(statement)
            except self.database_errors as exc:
                self._rollback(db)
                raise self.problem(exc) from exc
            try:
                yield db
            except BaseException:
                self._rollback(db)
                raise
            try:
                db.execute("COMMIT")
            except self.database_errors as exc:  # a full disk, most often: nothing of the transaction is kept
                self._rollback(db)
                raise self.problem(exc) from exc

    def _rollback(self, db: Any) -> None:
        # after SQLITE_FULL or an I/O error SQLite may have rolled back already; the first error is what counts
        if db.in_transaction:
            with contextlib.suppress(*self.database_errors):
                db.execute("ROLLBACK")

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """Inside a transaction: on an exception, undo what was written since, then re-raise."""
        try:
            self.db.execute("SAVEPOINT message")
        except self.database_errors as exc:
            raise self.problem(exc) from exc
        try:
            yield
        except BaseException:
            if self.db.in_transaction:  # not when SQLite rolled the whole transaction back itself
                with contextlib.suppress(*self.database_errors):
                    self.db.execute("ROLLBACK TO message")
                    self.db.execute("RELEASE message")
            raise
        try:
            self.db.execute("RELEASE message")
        except self.database_errors as exc:
            raise self.problem(exc) from exc

    # cursors and processed messages

    def cursor(self, mailbox: str) -> Cursor:
        row = self.db.execute("SELECT uidvalidity, last_uid FROM cursor WHERE mailbox = ?", (mailbox,)).fetchone()
        return Cursor(row[0], row[1]) if row else Cursor(None, 0)

    def set_cursor(self, mailbox: str, cursor: Cursor) -> None:
        self.db.execute(
            "INSERT INTO cursor (mailbox, uidvalidity, last_uid) VALUES (?, ?, ?) "
            "ON CONFLICT (mailbox) DO UPDATE SET uidvalidity = excluded.uidvalidity, last_uid = excluded.last_uid",
            (mailbox, cursor.uidvalidity, cursor.last_uid),
        )

    def processed_categories(self, mailbox: str, keys: Sequence[str]) -> dict[str, str]:
        """key -> category of those keys already processed in this mailbox."""
        found: dict[str, str] = {}
        for start in range(0, len(keys), 500):  # SQLite's bound-parameter limit
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self.db.execute(
                f"SELECT key, category FROM processed WHERE mailbox = ? AND key IN ({marks})", (mailbox, *chunk)
            )
            found.update(rows)
        return found

    def mark_processed(
        self, mailbox: str, key: str, uid: int | None, category: str, at: str, stays: bool = True
    ) -> None:
        """`stays`: the message's disposition leaves it in the folder (leave, none, seen)."""
        self.mark_all_processed(mailbox, [Processed(key, uid, category, at, stays)])

    def mark_all_processed(self, mailbox: str, messages: Sequence[Processed]) -> None:
        """`mark_processed` for each, in one statement run for every row (a batch's, at its end)."""
        self.db.executemany(
            "INSERT INTO processed (mailbox, key, uid, category, processed_at, seen_at, stays) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            [(mailbox, m.key, m.uid, m.category, m.at, m.at, int(m.stays)) for m in messages],
        )

    def met_again(self, mailbox: str, keys: Sequence[str], at: str, unless_since: str) -> None:
        """A pass met these processed messages again: they are still in the folder (written at most
        once per `unless_since`, not at every pass)."""
        self.db.executemany(
            "UPDATE processed SET seen_at = ? WHERE mailbox = ? AND key = ? AND coalesce(seen_at, processed_at) < ?",
            [(at, mailbox, key, unless_since) for key in keys],
        )

    def prune_processed(self, mailbox: str, before: str, *, every_pass_lists_all: bool) -> int:
        """Forget the messages last met before `before` that cannot come round again.

        A local source lists every message at every pass, so one not met since `before` has left the
        folder. An IMAP pass reads only UIDs above the cursor: a message it left in the folder
        (`stays`) is met again only after a UIDVALIDITY change, and must still be recognised then.
        """
        with self.transaction() as db:
            cursor = db.execute(
                "DELETE FROM processed WHERE mailbox = ? AND coalesce(seen_at, processed_at) < ? "
                "AND (? = 1 OR stays = 0) AND (uid IS NULL OR uid NOT IN "
                "(SELECT uid FROM pending_disposition WHERE mailbox = ?))",
                (mailbox, before, int(every_pass_lists_all), mailbox),
            )
            return cursor.rowcount

    def processed_count(self, mailbox: str) -> int:
        return int(self.db.execute("SELECT count(*) FROM processed WHERE mailbox = ?", (mailbox,)).fetchone()[0])

    # dispositions still to apply on the server

    def add_pending(self, mailbox: str, uidvalidity: int | None, uid: int, disposition: str) -> None:
        self.add_all_pending(mailbox, uidvalidity, [(uid, disposition)])

    def add_all_pending(self, mailbox: str, uidvalidity: int | None, dispositions: Sequence[tuple[int, str]]) -> None:
        """`add_pending` for each (UID, disposition), in order, in one statement run for every row."""
        self.db.executemany(
            "INSERT INTO pending_disposition (mailbox, uidvalidity, uid, disposition) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (mailbox, uid) DO UPDATE SET uidvalidity = excluded.uidvalidity, "
            "disposition = excluded.disposition",
            [(mailbox, uidvalidity, uid, disposition) for uid, disposition in dispositions],
        )

    def pending(self, mailbox: str) -> list[PendingDisposition]:
        rows = self.db.execute(
            "SELECT uidvalidity, uid, disposition FROM pending_disposition WHERE mailbox = ? ORDER BY uid", (mailbox,)
        )
        return [PendingDisposition(*row) for row in rows]

    def clear_pending(self, mailbox: str, uids: Sequence[int]) -> None:
        with self.transaction() as db:
            db.executemany(
                "DELETE FROM pending_disposition WHERE mailbox = ? AND uid = ?", [(mailbox, uid) for uid in uids]
            )

    # the outbox

    def add_event(self, mailbox: str, event: dict[str, Any]) -> bool:
        """Queue an event; False when one with this id is already queued (the same bounce again)."""
        data = event.get("data") or {}
        body = _to_json(event)
        try:
            body.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate from undecodable input: JSON can escape it, UTF-8 cannot
            body = _to_ascii_json(event)
        cursor = self.db.execute(
            "INSERT INTO outbox (id, mailbox, type, recipient, body) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (event["id"], mailbox, event["type"], _storable(data.get("recipient")), body),
        )
        return cursor.rowcount == 1

    def events_after(self, seq: int, limit: int = 1000) -> list[OutboxEvent]:
        query = "SELECT seq, id, type, mailbox, recipient, body FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?"
        return [OutboxEvent(*row) for row in self.db.execute(query, (seq, limit))]

    def event_count(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM outbox").fetchone()[0])

    def sink_progress(self, sink: str) -> int:
        row = self.db.execute("SELECT last_seq FROM sink_progress WHERE sink = ?", (sink,)).fetchone()
        return int(row[0]) if row else 0

    def set_sink_progress(self, sink: str, seq: int) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO sink_progress (sink, last_seq) VALUES (?, ?) "
                "ON CONFLICT (sink) DO UPDATE SET last_seq = excluded.last_seq "
                "WHERE excluded.last_seq > sink_progress.last_seq",
                (sink, seq),
            )

    # per-recipient soft-bounce history

    def add_soft_bounce(self, mailbox: str, recipient: str, at: float) -> None:
        self.db.execute("INSERT INTO soft_bounce (mailbox, recipient, at) VALUES (?, ?, ?)", (mailbox, recipient, at))

    def soft_bounces_since(self, mailbox: str, recipient: str, since: float) -> tuple[int, float | None]:
        """How many soft bounces this recipient had since `since`, and the time of the first of them."""
        count, first = self.db.execute(
            "SELECT count(*), min(at) FROM soft_bounce WHERE mailbox = ? AND recipient = ? AND at >= ?",
            (mailbox, recipient, since),
        ).fetchone()
        return int(count), first

    def reset_soft_bounces(self, mailbox: str, recipient: str) -> None:
        self.db.execute("DELETE FROM soft_bounce WHERE mailbox = ? AND recipient = ?", (mailbox, recipient))

    def forget_soft_bounces_before(self, mailbox: str, at: float) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM soft_bounce WHERE mailbox = ? AND at < ?", (mailbox, at))

    def prune_outbox(self, file_sinks: Sequence[str], webhook_sinks: Sequence[str]) -> int:
        """Delete the outbox events every configured sink has taken and no webhook queue still holds.

        The outbox would otherwise grow for as long as the worker runs. Events a sink added later
        has not seen are those still in the outbox only.
        """
        marks = [self.sink_progress(name) for name in file_sinks]
        marks += [self.webhook_sink(name).queued_seq for name in webhook_sinks]
        if not marks:
            return 0
        with self.transaction() as db:
            cursor = db.execute(
                "DELETE FROM outbox WHERE seq <= ? AND seq NOT IN (SELECT seq FROM webhook_queue)", (min(marks),)
            )
            return cursor.rowcount

    # outcomes per day, for the report

    def count_outcomes(self, counts: Mapping[OutcomeKind, int]) -> None:
        """Add a batch's outcomes to the daily counts: one statement per kind, not per outcome."""
        self.db.executemany(
            "INSERT INTO outcome_day (day, mailbox, provider, reason, action, hard, count) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (day, mailbox, provider, reason, action, hard) "
            "DO UPDATE SET count = outcome_day.count + excluded.count",
            [
                (day, mailbox, _storable(provider) or "", reason, action, int(hard), count)
                for (day, mailbox, provider, reason, action, hard), count in counts.items()
            ],
        )

    def prune_outcome_days(self, before: str) -> int:
        """Forget the daily counts of the days before `before` (YYYY-MM-DD)."""
        with self.transaction() as db:
            return db.execute("DELETE FROM outcome_day WHERE day < ?", (before,)).rowcount

    # suppression history (expiry) and erasure

    def note_suppressed(self, mailbox: str, recipient: str, at: str) -> None:
        self.db.execute(
            "INSERT INTO suppression_history (mailbox, recipient, last_at) VALUES (?, ?, ?) "
            "ON CONFLICT (mailbox, recipient) DO UPDATE SET last_at = excluded.last_at "
            "WHERE excluded.last_at > suppression_history.last_at",
            (mailbox, _storable(recipient), at),
        )

    def last_suppressed(self, mailbox: str, recipient: str) -> str | None:
        row = self.db.execute(
            "SELECT last_at FROM suppression_history WHERE mailbox = ? AND recipient = ?",
            (mailbox, _storable(recipient)),
        ).fetchone()
        return str(row[0]) if row else None

    def events_mentioning(self, text: str) -> list[OutboxEvent]:
        """Outbox events whose JSON holds `text` in any case (ASCII case folding, as SQLite's lower())."""
        query = "SELECT seq, id, type, mailbox, recipient, body FROM outbox WHERE instr(lower(body), lower(?)) > 0"
        return [OutboxEvent(*row) for row in self.db.execute(query, (_storable(text),))]

    def delete_events(self, seqs: Sequence[int]) -> int:
        """Delete outbox events and their webhook queue rows (pending or dead); the queue rows deleted."""
        queued = 0
        for seq in seqs:
            queued += self.db.execute("DELETE FROM webhook_queue WHERE seq = ?", (seq,)).rowcount
            self.db.execute("DELETE FROM outbox WHERE seq = ?", (seq,))
        return queued

    def set_event_body(self, seq: int, body: str) -> None:
        self.db.execute("UPDATE outbox SET body = ? WHERE seq = ?", (_storable(body), seq))

    def forget_recipient(self, address: str) -> tuple[int, int]:
        """Delete an address's soft bounces and suppression history, in any case; (soft bounces, histories)."""
        stored = _storable(address)
        soft = self.db.execute("DELETE FROM soft_bounce WHERE lower(recipient) = lower(?)", (stored,)).rowcount
        history = self.db.execute(
            "DELETE FROM suppression_history WHERE lower(recipient) = lower(?)", (stored,)
        ).rowcount
        return soft, history

    def incidents_mentioning(self, text: str) -> list[Incident]:
        rows = self.db.execute(
            "SELECT key FROM incident WHERE instr(lower(details), lower(?)) > 0", (_storable(text),)
        ).fetchall()
        return [incident for (key,) in rows if (incident := self.incident(key)) is not None]

    # incidents

    def incident(self, key: str) -> Incident | None:
        row = self.db.execute(
            "SELECT key, mailbox, provider, reason, blocklist, listed, details, first_seen, last_seen, count, "
            "reported_count FROM incident WHERE key = ?",
            (key,),
        ).fetchone()
        if row is None:
            return None
        values = list(row)
        values[6] = json.loads(values[6])
        return Incident(*values)

    def save_incident(self, incident: Incident) -> None:
        self.db.execute(
            "INSERT INTO incident (key, mailbox, provider, reason, blocklist, listed, details, first_seen, "
            "last_seen, count, reported_count) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (key) DO UPDATE SET mailbox = excluded.mailbox, provider = excluded.provider, "
            "reason = excluded.reason, blocklist = excluded.blocklist, listed = excluded.listed, "
            "details = excluded.details, first_seen = excluded.first_seen, last_seen = excluded.last_seen, "
            "count = excluded.count, reported_count = excluded.reported_count",
            (
                incident.key,
                incident.mailbox,
                incident.provider,
                incident.reason,
                incident.blocklist,
                incident.listed,
                json.dumps(incident.details, ensure_ascii=False),
                incident.first_seen,
                incident.last_seen,
                incident.count,
                incident.reported_count,
            ),
        )

    def prune_incidents(self, before: str) -> int:
        """Forget the incidents with no refusal since `before` (closed): a later one opens anew."""
        with self.transaction() as db:
            return db.execute("DELETE FROM incident WHERE last_seen < ?", (before,)).rowcount

    # webhook queues

    def webhook_sink(self, sink: str) -> WebhookSinkState:
        row = self.db.execute(
            "SELECT queued_seq, gone_at, gone_detail FROM webhook_sink WHERE sink = ?", (sink,)
        ).fetchone()
        return WebhookSinkState(*row) if row else WebhookSinkState(0, None, None)

    def queue_for_webhook(self, sink: str, rows: Sequence[tuple[int, str]], queued_seq: int, now: float) -> None:
        """Queue (seq, ordering key) rows and move the sink's outbox mark, in one transaction."""
        with self.transaction() as db:
            # an event erased since it was read is not queued; nor one past the sink's mark, queued by another
            # worker of a shared state meanwhile (and maybe delivered and deleted already: sent twice, else)
            db.executemany(
                "INSERT INTO webhook_queue (sink, seq, ordering, next_at, first_at) "
                "SELECT ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM outbox WHERE seq = ?) "
                "AND ? > coalesce((SELECT queued_seq FROM webhook_sink WHERE sink = ?), 0) ON CONFLICT DO NOTHING",
                [(sink, seq, ordering, now, now, seq, seq, sink) for seq, ordering in rows],
            )
            db.execute(
                "INSERT INTO webhook_sink (sink, queued_seq) VALUES (?, ?) "
                "ON CONFLICT (sink) DO UPDATE SET queued_seq = excluded.queued_seq "
                "WHERE excluded.queued_seq > webhook_sink.queued_seq",
                (sink, queued_seq),
            )

    def due_webhook_events(self, sink: str, now: float, limit: int) -> list[QueuedEvent]:
        """Pending events due now, oldest first, none of them behind an earlier pending event of its recipient."""
        rows = self.db.execute(
            "SELECT q.seq, q.attempts, q.first_at, o.body FROM webhook_queue q JOIN outbox o ON o.seq = q.seq "
            "WHERE q.sink = ? AND q.state = 'pending' AND q.next_at <= ? AND NOT EXISTS ("
            "  SELECT 1 FROM webhook_queue p WHERE p.sink = q.sink AND p.ordering = q.ordering "
            "  AND p.seq < q.seq AND p.state = 'pending') "
            "ORDER BY q.seq LIMIT ?",
            (sink, now, limit),
        )
        return [QueuedEvent(row[0], row[1], row[2], json.loads(row[3])) for row in rows]

    def webhook_delivered(self, sink: str, seqs: Sequence[int]) -> None:
        with self.transaction() as db:
            db.executemany("DELETE FROM webhook_queue WHERE sink = ? AND seq = ?", [(sink, seq) for seq in seqs])

    def webhook_failed(self, sink: str, updates: Sequence[tuple[int, float | None, str]]) -> None:
        """(seq, next attempt or None for a dead letter, error) for each event that failed."""
        with self.transaction() as db:
            db.executemany(
                "UPDATE webhook_queue SET attempts = attempts + 1, last_error = ?, "
                "next_at = coalesce(?, next_at), state = CASE WHEN ? IS NULL THEN 'dead' ELSE 'pending' END "
                "WHERE sink = ? AND seq = ?",
                [(error, next_at, next_at, sink, seq) for seq, next_at, error in updates],
            )

    def webhook_gone(self, sink: str, now: float | None, detail: str | None) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO webhook_sink (sink, gone_at, gone_detail) VALUES (?, ?, ?) "
                "ON CONFLICT (sink) DO UPDATE SET gone_at = excluded.gone_at, gone_detail = excluded.gone_detail",
                (sink, now, detail),
            )

    def webhook_queue_rows(self, sink: str | None, dead_only: bool) -> list[dict[str, Any]]:
        query = (
            "SELECT q.sink, o.id, o.type, o.recipient, q.attempts, q.next_at, q.first_at, q.state, q.last_error "
            "FROM webhook_queue q JOIN outbox o ON o.seq = q.seq WHERE (? IS NULL OR q.sink = ?) "
            + ("AND q.state = 'dead' " if dead_only else "")
            + "ORDER BY q.sink, q.seq"
        )
        names = ("sink", "id", "type", "recipient", "attempts", "next_at", "first_at", "state", "last_error")
        return [dict(zip(names, row, strict=True)) for row in self.db.execute(query, (sink, sink))]

    def webhook_retry(self, sink: str | None, event_id: str | None, now: float) -> int:
        """Dead letters (all, or one by id) back to pending, due now, their retry window restarted."""
        with self.transaction() as db:
            cursor = db.execute(
                "UPDATE webhook_queue SET state = 'pending', attempts = 0, next_at = ?, first_at = ? "
                "WHERE state = 'dead' AND (? IS NULL OR sink = ?) "
                "AND (? IS NULL OR seq = (SELECT seq FROM outbox WHERE id = ?))",
                (now, now, sink, sink, event_id, event_id),
            )
            return cursor.rowcount

    def webhook_counts(self, sink: str) -> tuple[int, int]:
        """(pending, dead) events queued for a sink."""
        rows = dict(self.db.execute("SELECT state, count(*) FROM webhook_queue WHERE sink = ? GROUP BY state", (sink,)))
        return int(rows.get("pending", 0)), int(rows.get("dead", 0))

    # the last pass per mailbox

    def record_pass(self, mailbox: str, started_at: float, seconds: float, error: str | None) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO pass_log (mailbox, started_at, seconds, outcome, error, last_ok_at) "
                "VALUES (:mailbox, :started, :seconds, :outcome, :error, "
                "CASE WHEN :error IS NULL THEN :started + :seconds END) "
                "ON CONFLICT (mailbox) DO UPDATE SET started_at = excluded.started_at, seconds = excluded.seconds, "
                "outcome = excluded.outcome, error = excluded.error, "
                "last_ok_at = coalesce(excluded.last_ok_at, pass_log.last_ok_at)",
                # named, not numbered: Python 3.14's sqlite3 refuses ?1 ... with a sequence
                {
                    "mailbox": mailbox,
                    "started": started_at,
                    "seconds": seconds,
                    "outcome": "failed" if error else "ok",
                    "error": _storable(error),
                },
            )

    def passes(self) -> dict[str, PassRecord]:
        """mailbox -> its last pass (none for a state older than the pass log: read-only, not migrated yet)."""
        if self._version < _PASS_LOG_VERSION:
            return {}
        rows = self.db.execute("SELECT mailbox, started_at, seconds, outcome, error, last_ok_at FROM pass_log")
        return {row[0]: PassRecord(*row[1:]) for row in rows}

    # backlogs, for `status` and the metrics

    def outbox_backlog(self, after_seq: int, mailboxes: Sequence[str]) -> tuple[int, str | None]:
        """(how many events of these mailboxes come after `after_seq`, the timestamp of the oldest of them)."""
        if not mailboxes:
            return 0, None
        marks = ",".join("?" * len(mailboxes))
        count, oldest = self.db.execute(
            f"SELECT count(*), min(seq) FROM outbox WHERE seq > ? AND mailbox IN ({marks})", (after_seq, *mailboxes)
        ).fetchone()
        if not count:
            return 0, None
        (body,) = self.db.execute("SELECT body FROM outbox WHERE seq = ?", (oldest,)).fetchone()
        return int(count), json.loads(body).get("timestamp")

    def webhook_oldest_pending(self, sink: str) -> float | None:
        """When the oldest event still pending for a webhook sink was queued (unix time)."""
        row = self.db.execute(
            "SELECT min(first_at) FROM webhook_queue WHERE sink = ? AND state = 'pending'", (sink,)
        ).fetchone()
        return row[0]

    def open_incident_count(self, since: str) -> int:
        """Incidents with a refusal counted since `since` (the others are closed, awaiting pruning)."""
        return int(self.db.execute("SELECT count(*) FROM incident WHERE last_seen >= ?", (since,)).fetchone()[0])
