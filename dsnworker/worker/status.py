"""What an operator asks of a running worker: how each mailbox's last pass went, what waits, what is stuck.

Read from the state only (opened read-only: `Store.read_only`), plus, for `status`, one look at each
mailbox: IMAP `STATUS (MESSAGES UIDNEXT UIDVALIDITY)` (no SELECT, no FETCH), or a local count of the
messages not processed yet. `dsnworker status`, the metrics and `/readyz` share these figures and one
rule: a mailbox is healthy when its last pass went well and ended within three intervals.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

from dsnworker.sinks.suppression import iter_suppressions
from dsnworker.worker import events as ev
from dsnworker.worker.leases import Lease, LiveWorker, all_leases, live_workers
from dsnworker.worker.retention import INCIDENT_QUIET
from dsnworker.worker.settings import MailboxSettings, PostgresState, Settings, SinkSettings
from dsnworker.worker.source import SourceError
from dsnworker.worker.state import Cursor, PassRecord, Store

STALE_AFTER_INTERVALS = 3


@dataclass(frozen=True)
class MailboxStatus:
    name: str
    last_pass: PassRecord | None
    cursor: Cursor
    waiting: int | None  # messages not read yet; None when the mailbox could not be looked at
    waiting_error: str | None
    problem: str | None  # why the mailbox is unhealthy (exit status 1), or None


@dataclass(frozen=True)
class SinkStatus:
    name: str
    kind: str
    pending: int  # events not delivered yet
    dead: int  # webhook events given up (dead letters)
    oldest_pending_seconds: float | None
    gone: str | None  # a webhook endpoint that answered 410: delivery stopped
    suppressed: int | None  # suppression_file: the addresses it holds


@dataclass(frozen=True)
class ClusterStatus:
    """A PostgreSQL state shared by workers: who holds which lease (by lease name), and who is alive."""

    leases: dict[str, Lease]
    workers: tuple[LiveWorker, ...]

    def holder(self, lease: str, now: float) -> Lease | None:
        """The lease if someone holds it now (not released, not expired)."""
        found = self.leases.get(lease)
        return found if found is not None and found.owner is not None and found.expires_at > now else None


@dataclass(frozen=True)
class Status:
    at: float  # unix time
    mailboxes: tuple[MailboxStatus, ...]
    sinks: tuple[SinkStatus, ...]
    open_incidents: int
    cluster: ClusterStatus | None = None  # PostgreSQL only

    @property
    def healthy(self) -> bool:
        return all(mailbox.problem is None for mailbox in self.mailboxes)


def mailbox_problem(mailbox: MailboxSettings, last_pass: PassRecord | None, now: float) -> str | None:
    """Why the mailbox is not healthy, or None: no pass yet, a failed last pass, or none within three intervals."""
    if last_pass is None:
        return "no pass recorded yet"
    if last_pass.outcome != "ok":
        return f"the last pass failed: {last_pass.error}"
    due = stale_after(mailbox, last_pass.ended_at)
    if now > due:
        return f"no pass since {iso(last_pass.ended_at)}: three scheduled passes were missed (due by {iso(due)})"
    return None


def stale_after(mailbox: MailboxSettings, ended_at: float) -> float:
    """When a mailbox whose last pass ended at `ended_at` has missed three scheduled passes (unix time)."""
    schedule = mailbox.schedule
    if schedule.cron is None:
        return ended_at + STALE_AFTER_INTERVALS * (schedule.interval or 60.0) + schedule.jitter
    from apscheduler.triggers.cron import CronTrigger

    trigger = CronTrigger.from_crontab(schedule.cron, timezone=UTC)
    previous = moment = datetime.fromtimestamp(ended_at, UTC)
    for _ in range(STALE_AFTER_INTERVALS):
        following = trigger.get_next_fire_time(previous, moment)
        if following is None:
            break
        previous = moment = following
    return moment.timestamp() + schedule.jitter


def unhealthy_mailboxes(settings: Settings, store: Store, now: float) -> dict[str, str]:
    """mailbox -> its problem, for those that have one (what `/readyz` answers)."""
    passes = store.passes()
    found = {}
    for mailbox in settings.mailboxes:
        problem = mailbox_problem(mailbox, passes.get(mailbox.name), now)
        if problem is not None:
            found[mailbox.name] = problem
    return found


def sink_statuses(settings: Settings, store: Store, now: float, *, count_suppressed: bool = True) -> list[SinkStatus]:
    """Per sink: what waits to be delivered, what was given up, and since when the oldest waits (and, with
    `count_suppressed`, how many addresses a suppression file holds: it is read whole)."""
    statuses = []
    for sink in settings.sinks:
        mailboxes = [m.name for m in settings.mailboxes if sink in settings.sinks_for(m)]
        if sink.kind == "webhook":
            state = store.webhook_sink(sink.name)
            queued, dead = store.webhook_counts(sink.name)
            unqueued, unqueued_at = store.outbox_backlog(state.queued_seq, mailboxes)
            first = store.webhook_oldest_pending(sink.name)
            oldest = first if first is not None else _unix(unqueued_at)
            statuses.append(
                SinkStatus(sink.name, sink.kind, queued + unqueued, dead, _age(oldest, now), state.gone_detail, None)
            )
        else:
            pending, oldest_at = store.outbox_backlog(store.sink_progress(sink.name), mailboxes)
            counted = count_suppressed and sink.kind == "suppression_file"
            suppressed = suppressed_count(sink) if counted else None
            statuses.append(SinkStatus(sink.name, sink.kind, pending, 0, _age(_unix(oldest_at), now), None, suppressed))
    return statuses


def suppressed_count(sink: SinkSettings) -> int:
    """The distinct addresses a suppression file holds (0 before its first row)."""
    assert sink.path is not None
    try:
        return len({row["email"] for row in iter_suppressions(sink.path, sink.format)})
    except FileNotFoundError:
        return 0


def open_incidents(store: Store, now: float) -> int:
    since = datetime.fromtimestamp(now, UTC) - INCIDENT_QUIET
    return store.open_incident_count(since.strftime("%Y-%m-%dT%H:%M:%SZ"))


def collect_status(settings: Settings, store: Store, now: float, *, look: bool = True) -> Status:
    """Everything `dsnworker status` shows; `look`: count the messages waiting in each mailbox."""
    passes = store.passes()
    mailboxes = []
    for mailbox in settings.mailboxes:
        last = passes.get(mailbox.name)
        cursor = store.cursor(mailbox.name)
        waiting, error = (None, None)
        if look:
            try:
                waiting = waiting_messages(mailbox, cursor, store)
            except SourceError as exc:
                error = exc.problem
        problem = mailbox_problem(mailbox, last, now)
        if problem is None and error is not None:
            problem = f"cannot be looked at: {error}"
        mailboxes.append(MailboxStatus(mailbox.name, last, cursor, waiting, error, problem))
    cluster = cluster_status(store) if isinstance(settings.state, PostgresState) else None
    sinks = tuple(sink_statuses(settings, store, now))
    return Status(now, tuple(mailboxes), sinks, open_incidents(store, now), cluster)


def cluster_status(store: Store) -> ClusterStatus:
    """The leases and the live workers (none before a worker of this version has run on the database)."""
    try:
        return ClusterStatus({lease.name: lease for lease in all_leases(store)}, tuple(live_workers(store)))
    except store.database_errors:  # no lease table yet: no worker has shared this state
        return ClusterStatus({}, ())


def waiting_messages(mailbox: MailboxSettings, cursor: Cursor, store: Store) -> int:
    """How many messages the next pass would read. Raises SourceError when the mailbox cannot be reached.

    IMAP: from `STATUS`, the UIDs above the cursor (all the folder's messages after a UIDVALIDITY
    change), at most the folder's count: exact unless messages above the cursor were expunged by
    someone else. A maildir or an mbox has no cursor: its messages are hashed, as a pass does, and those
    the state has not processed are counted (it reads them all: the cost of one empty pass).
    """
    if mailbox.source == "imap":
        from dsnworker.worker.imap import ImapSource

        folder = ImapSource(mailbox).folder_status()
        if folder.uidvalidity != cursor.uidvalidity:
            return folder.messages
        return max(0, min(folder.messages, folder.uidnext - 1 - cursor.last_uid))
    from dsnworker.worker.runner import open_source

    source = open_source(mailbox)
    source.open()
    try:
        waiting = 0
        uids = source.new_uids(0)
        for start in range(0, len(uids), 500):
            keys = [hashlib.sha256(message.data).hexdigest() for message in source.fetch(uids[start : start + 500])]
            waiting += len(set(keys) - set(store.processed_categories(mailbox.name, keys)))
        return waiting
    finally:
        source.close()


def _unix(timestamp: str | None) -> float | None:
    if timestamp is None:
        return None
    return datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()


def _age(since: float | None, now: float) -> float | None:
    return None if since is None else max(0.0, now - since)


def iso(moment: float) -> str:
    """A unix time as the events write their timestamps."""
    return ev.timestamp(datetime.fromtimestamp(moment, UTC))
