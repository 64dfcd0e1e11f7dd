"""The worker process: a pass per mailbox on its schedule (APScheduler), IDLE watchers, clean stops.

`poll` runs one pass per mailbox and returns; `run` keeps going until SIGTERM or SIGINT, which
finish the message in hand, commit, log out and return.
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import logging
import signal
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import IO, TYPE_CHECKING

from dsnworker.analyser import Analyser
from dsnworker.errors import DsnworkerError
from dsnworker.pool import AnalysisPool, RuleSet, start_fork_server
from dsnworker.worker.cluster import Coordinator, worker_id
from dsnworker.worker.delivery import OutboxDelivery
from dsnworker.worker.leases import LeaseLost
from dsnworker.worker.pipeline import MailboxPass, PassSummary, mailbox_rules
from dsnworker.worker.retention import prune_state
from dsnworker.worker.settings import MailboxSettings, PostgresState, Settings
from dsnworker.worker.source import MailSource, SourceError
from dsnworker.worker.state import StateError
from dsnworker.worker.state_file import open_worker_lock
from dsnworker.worker.status import unhealthy_mailboxes
from dsnworker.worker.stores import open_store
from dsnworker.worker.webhooks import RoundSummary, WebhookDelivery

if TYPE_CHECKING:  # prometheus_client is imported only where [metrics] is set
    from dsnworker.worker.metrics import Metrics
    from dsnworker.worker.metrics_server import MetricsServer

log = logging.getLogger("dsnworker.worker")

_IDLE_WINDOW = 30.0  # seconds per IDLE command: short enough for a prompt stop, far below RFC 2177's 29 min
_IDLE_BACKOFF_MAX = 300.0
_KEEP_SESSION_MAX = 600.0  # seconds between passes up to which the IMAP session is kept
_WEBHOOK_INTERVAL = 1.0  # seconds between delivery rounds (a round sends everything due)
_HEARTBEAT_SECONDS = 5.0  # /healthz: the scheduler is alive while this job keeps running
_SIGNAL_CHECK = 1.0  # seconds between the main thread's looks at a pending SIGTERM
_FILE_SINK_INTERVAL = 1.0  # seconds between the file-sinks holder's deliveries of the others' events


def open_source(settings: MailboxSettings) -> MailSource:
    if settings.source == "imap":
        from dsnworker.worker.imap import ImapSource

        return ImapSource(settings)
    from dsnworker.worker.local import MaildirSource, MboxSource

    return MaildirSource(settings) if settings.source == "maildir" else MboxSource(settings)


class Worker:
    def __init__(self, settings: Settings, *, new_state: bool = False) -> None:
        self.settings = settings
        self.stop = threading.Event()
        # one worker per SQLite state (STATE.lock); on PostgreSQL, any number, each mailbox leased to one
        self._state_lock = _lock_state(settings.state) if isinstance(settings.state, Path) else None
        self.store = open_store(settings, new_state=new_state)
        self.delivery = OutboxDelivery.for_settings(self.store, settings)
        analysers: dict[RuleSet, Analyser] = {}
        self.passes: dict[str, MailboxPass] = {}
        self.webhooks = WebhookDelivery.for_settings(self.store, settings, self.stop)
        self._idling: dict[str, MailSource] = {}  # the IDLE connections, to interrupt them on stop
        self._guard = threading.Lock()
        self._running: set[str] = set()  # mailboxes whose pass runs now
        self._again: set[str] = set()  # mailboxes to pass again when the running pass ends
        self.metrics: Metrics | None = None  # `run` with [metrics]
        self._heartbeat = 0.0  # monotonic time of the scheduler's last heartbeat job
        self.cluster: Coordinator | None = None  # a PostgreSQL state: this worker's leases (`join_cluster`)
        rule_sets = {mailbox.name: mailbox_rules(mailbox) for mailbox in settings.mailboxes}
        for rules in rule_sets.values():  # mailboxes with the same rules and action map share one loaded set
            if rules not in analysers:
                analysers[rules] = rules.analyser()
        # `jobs = 2` or more: the messages are analysed in child processes, started at the first batch
        self.pool = AnalysisPool(settings.jobs, analysers) if settings.jobs > 1 else None
        if self.pool is not None:
            start_fork_server(analysers)  # now, in the main thread: see there why
        for mailbox in settings.mailboxes:
            rules = rule_sets[mailbox.name]
            self.passes[mailbox.name] = MailboxPass(
                mailbox,
                self.store,
                analysers[rules],
                self.delivery,
                open_source,
                self.stop,
                pool=self.pool,
                rules=rules,
            )

        # the rules live as long as the process: the collector's full passes need not walk them again
        gc.freeze()

    def join_cluster(self, *, balance: bool) -> None:
        """A PostgreSQL state: register, take leases (`run` its share, `poll` what is free) and keep them
        with a heartbeat; only a mailbox whose lease this worker holds is passed. SQLite: nothing to do."""
        if not isinstance(self.settings.state, PostgresState):
            return
        from dsnworker.worker.leases import Leases
        from dsnworker.worker.state_pg import PostgresStore

        assert isinstance(self.store, PostgresStore)
        cluster = self.cluster = Coordinator(
            Leases(self.store, worker_id(), self.settings.cluster.lease),
            list(self.passes),
            file_sinks=bool(self.delivery.routes),
            balance=balance,
            guard=self._guard,
            busy=lambda: self._running,
        )
        self.delivery.may_write = cluster.writes_file_sinks
        log.info("worker %s joins the workers of %s", cluster.owner, self.settings.state)
        cluster.start(self.settings.cluster.heartbeat)

    def leave_cluster(self) -> None:
        """Release the leases and unregister (a clean stop); the others take the mailboxes at once."""
        if self.cluster is not None:
            self.cluster.stop()
            self.cluster = None

    def _leased(self, name: str) -> bool:
        """Whether this worker may pass the mailbox now (its lease held: the pass is fenced by its
        generation); always, on SQLite. Call under `_guard`."""
        if self.cluster is None:
            return True
        generation = self.cluster.generation(name)
        if generation is None:
            return False
        self.passes[name].fence = self.cluster.fence(name, generation)
        return True

    def poll(self, names: Sequence[str] = (), dry_run: bool = False) -> list[PassSummary]:
        summaries = []
        for name, mailbox_pass in self.passes.items():
            if names and name not in names:
                continue
            with self._guard:
                leased = self._leased(name)
                if leased:
                    self._running.add(name)
            if not leased:
                log.info("mailbox %r: skipped, its lease is another worker's", name)
                continue
            try:
                summary = mailbox_pass.run(dry_run=dry_run)
            except LeaseLost as exc:
                log.warning("mailbox %r: %s", name, exc)
                continue
            finally:
                with self._guard:
                    self._running.discard(name)
            _log_summary(summary)
            if not dry_run:
                self._passed(name, summary.started_at, summary.seconds, summary.errors[0] if summary.errors else None)
            summaries.append(summary)
            if self.stop.is_set():
                break
        return summaries

    def close_pool(self) -> None:
        """Stop the analysing processes (`jobs` > 1), if started; they start again when needed."""
        if self.pool is not None:
            self.pool.close()

    def _passed(self, name: str, started_at: float, seconds: float, error: str | None) -> None:
        """Note the pass for `status`, `/readyz` and the metrics."""
        if self.metrics is not None:
            self.metrics.pass_done(name, seconds, error is None)
        try:
            self.store.record_pass(name, started_at, seconds, error)
        except StateError as exc:  # the pass itself has said what went wrong with the state
            log.debug("mailbox %r: the pass could not be noted: %s", name, exc)

    def deliver_webhooks(self) -> list[RoundSummary]:
        """One delivery round per webhook sink (what `poll` does after its passes)."""
        rounds = []
        for delivery in self.webhooks:
            summary = delivery.run_round()
            log.log(logging.WARNING if summary.failed or summary.gone else logging.INFO, "%s", summary.line())
            rounds.append(summary)
        return rounds

    def prune(self, now: datetime | None = None) -> None:
        """Drop what the state no longer needs (events every sink has taken, processed keys and incidents
        past retention): the state must not grow for years."""
        file_sinks = [s.name for s in self.settings.sinks if s.kind != "webhook"]
        webhook_sinks = [s.name for s in self.settings.sinks if s.kind == "webhook"]
        try:
            pruned = self.store.prune_outbox(file_sinks, webhook_sinks)
            kept = prune_state(self.store, self.settings, now or datetime.now(UTC))
        except StateError as exc:  # a full disk: tried again in an hour, said in one line
            log.error("%s", exc)
            return
        if pruned or kept.processed or kept.incidents or kept.outcome_days:
            log.debug(
                "pruned: %d delivered event(s), %d processed key(s), %d closed incident(s), %d daily count(s)",
                pruned,
                kept.processed,
                kept.incidents,
                kept.outcome_days,
            )

    def expire_suppressions(self, now: datetime | None = None) -> None:
        """Un-suppress the rows whose reason's `expire_after` has passed (`run` hourly, `poll` after its passes)."""
        from dsnworker.worker.lifecycle import expire

        if not self.delivery.may_write():
            return  # a shared state: the suppression file is the file-sinks writer's, and so is its expiry
        try:
            expired = expire(self.settings, self.store, self.delivery, now or datetime.now(UTC))
        except DsnworkerError as exc:  # a full disk, a sink that cannot be written: tried again next time
            log.error("expiring suppressions: %s", exc)
            return
        for event in expired:
            data = event["data"]
            log.info(
                "suppression of %s expired (%s, %s after %s)",
                data["recipient"],
                data["reason"],
                data["expire_after"],
                data["last_suppressed"],
            )

    def run(self) -> None:
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.schedulers.background import BackgroundScheduler
        from apscheduler.triggers.interval import IntervalTrigger

        scheduler = BackgroundScheduler(
            executors={
                "default": ThreadPoolExecutor(max(1, len(self.passes))),
                # webhooks have threads of their own: a slow endpoint never holds up a mailbox
                # + the hourly pruning and expiry, and the file sinks' writer on a shared state
                "webhooks": ThreadPoolExecutor(len(self.webhooks) + 3),
            },
            # one pass per mailbox at a time; runs missed while one was busy collapse into one
            job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": None},
            timezone=UTC,
        )
        for mailbox in self.settings.mailboxes:
            # the first pass at once; for an IDLE mailbox its watcher asks for it once its IDLE session has
            # selected the folder (see `_idle_watch`): a pass begun before would leave a gap IDLE cannot see
            # and need a second one, two passes at every start
            first = None if _watched(mailbox) else datetime.now(UTC)
            scheduler.add_job(
                self._scheduled_pass,
                _trigger(mailbox),
                args=[mailbox.name],
                id=mailbox.name,
                name=f"pass {mailbox.name}",
                **({"next_run_time": first} if first else {}),
            )
        for delivery in self.webhooks:
            scheduler.add_job(
                self._webhook_round,
                IntervalTrigger(seconds=_WEBHOOK_INTERVAL, timezone=UTC),
                args=[delivery],
                id=f"webhook {delivery.sink.name}",
                executor="webhooks",
            )
        scheduler.add_job(self.prune, IntervalTrigger(hours=1, timezone=UTC), id="prune", executor="webhooks")
        scheduler.add_job(
            self.expire_suppressions,
            IntervalTrigger(hours=1, timezone=UTC),
            id="expire",
            executor="webhooks",
            next_run_time=datetime.now(UTC),
        )
        if isinstance(self.settings.state, PostgresState):
            self._cluster_jobs(scheduler)
        server = self._serve_metrics(scheduler)
        for mailbox_pass in self.passes.values():
            # one IMAP session from pass to pass, when passes come often enough that the server does
            # not log it out meanwhile (Dovecot after 30 idle minutes, RFC 3501 after at least 30)
            schedule = mailbox_pass.settings.schedule
            mailbox_pass.keep_open = schedule.cron is None and (schedule.interval or 60.0) <= _KEEP_SESSION_MAX
        self._install_signal_handlers()
        scheduler.start()
        watchers = [
            threading.Thread(
                target=self._idle_watch, args=(mailbox, scheduler), name=f"idle-{mailbox.name}", daemon=True
            )
            for mailbox in self.settings.mailboxes
            if _watched(mailbox)
        ]
        for watcher in watchers:
            watcher.start()
        log.info("worker started: %d mailbox(es)", len(self.passes))
        # woken now and then: a signal the kernel handed to another thread (it may, e.g. after SIGSTOP and
        # SIGCONT) runs its Python handler only when this thread runs, and a wait without a timeout never does
        while not self.stop.wait(_SIGNAL_CHECK):
            pass
        log.info("stopping: finishing the messages in hand")
        for source in list(self._idling.values()):
            source.interrupt()  # type: ignore[attr-defined]
        scheduler.shutdown(wait=True)
        self.leave_cluster()
        if server is not None:
            server.close()
        for mailbox_pass in self.passes.values():
            mailbox_pass.close()  # LOGOUT
        for watcher in watchers:
            watcher.join(timeout=5)
        self.close_pool()
        self.store.close()
        log.info("worker stopped")

    def _cluster_jobs(self, scheduler: object) -> None:
        """Join the other workers; a mailbox whose lease is gained is passed at once (a dead worker's backlog
        does not wait for the interval), and the holder of the file-sinks lease writes the files every
        second (the events the other workers committed too)."""
        from apscheduler.triggers.interval import IntervalTrigger

        def passes_now(names: list[str]) -> None:
            for name in names:
                with contextlib.suppress(Exception):  # not scheduled yet (the first tick) or stopping
                    scheduler.modify_job(name, next_run_time=datetime.now(UTC))  # type: ignore[attr-defined]

        self.join_cluster(balance=True)
        assert self.cluster is not None
        self.cluster.on_gained = passes_now
        if self.delivery.routes:
            scheduler.add_job(  # type: ignore[attr-defined]
                self._deliver_files,
                IntervalTrigger(seconds=_FILE_SINK_INTERVAL, timezone=UTC),
                id="file sinks",
                executor="webhooks",
            )

    def _deliver_files(self) -> None:
        try:
            self.delivery.deliver_pending()  # nothing unless this worker holds the file-sinks lease
        except (DsnworkerError, OSError) as exc:  # a full disk: said, and tried again in a second
            log.error("delivering to the file sinks: %s", exc)

    def _serve_metrics(self, scheduler: object) -> MetricsServer | None:
        """With [metrics]: count, and serve /metrics, /healthz and /readyz (started before the first pass)."""
        if self.settings.metrics is None:
            return None
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.triggers.interval import IntervalTrigger

        from dsnworker.worker.metrics import Metrics
        from dsnworker.worker.metrics_server import MetricsServer

        metrics = self.metrics = Metrics(self.settings)
        for mailbox_pass in self.passes.values():
            mailbox_pass.on_commit = metrics.committed
        for delivery in self.webhooks:
            delivery.on_attempt = metrics.webhook_attempt

        def beat() -> None:
            self._heartbeat = time.monotonic()

        # a thread of its own: busy passes or a slow endpoint do not make the scheduler look dead
        scheduler.add_executor(ThreadPoolExecutor(1), "heartbeat")  # type: ignore[attr-defined]
        scheduler.add_job(  # type: ignore[attr-defined]
            beat,
            IntervalTrigger(seconds=_HEARTBEAT_SECONDS, timezone=UTC),
            id="heartbeat",
            executor="heartbeat",
            next_run_time=datetime.now(UTC),
        )

        def alive() -> bool:
            running = getattr(scheduler, "running", False)
            return bool(running) and time.monotonic() - self._heartbeat < _HEARTBEAT_SECONDS * 6

        def unready() -> dict[str, str]:
            # the worker's own store: a read, on a connection of the asking thread (SQLite) or borrowed from
            # the pool (PostgreSQL), instead of a store opened and closed at every probe
            return unhealthy_mailboxes(self.settings, self.store, time.time())

        server = MetricsServer(self.settings, metrics, alive, unready)
        server.start()
        log.info("metrics on http://%s/metrics (and /healthz, /readyz)", _address(self.settings))
        return server

    def _scheduled_pass(self, name: str) -> None:
        with self._guard:
            if not self._leased(name):
                return  # another worker's mailbox now
            self._running.add(name)
        try:
            while not self.stop.is_set():
                started_at, started = time.time(), time.monotonic()
                try:
                    summary = self.passes[name].run()
                    _log_summary(summary)
                    self._passed(name, started_at, summary.seconds, summary.errors[0] if summary.errors else None)
                except LeaseLost as exc:  # paused or cut off past the lease: the new owner does the batch
                    log.warning("mailbox %r: %s", name, exc)
                    self.passes[name].close()
                    break
                except DsnworkerError as exc:  # a full disk, an unwritable state: said in one line, retried
                    log.error("mailbox %r: pass stopped: %s", name, exc)
                    self._passed(name, started_at, time.monotonic() - started, f"pass stopped: {exc}")
                except Exception as exc:  # a bug must not kill the job: the next run tries again
                    log.exception("mailbox %r: pass failed", name)
                    self._passed(name, started_at, time.monotonic() - started, f"internal error: {exc!r}")
                with self._guard:
                    if name not in self._again or not self._leased(name):
                        break
                    self._again.discard(name)  # IDLE said "new mail" during the pass: one more
        finally:
            with self._guard:
                self._running.discard(name)

    def _wake(self, name: str, scheduler: object) -> None:
        """New mail (IDLE): a pass now, or one more right after the pass running now."""
        with self._guard:
            if name in self._running:
                self._again.add(name)
                return
        scheduler.modify_job(name, next_run_time=datetime.now(UTC))  # type: ignore[attr-defined]

    def _webhook_round(self, delivery: WebhookDelivery) -> None:
        try:
            summary = delivery.run_round()
        except Exception:  # a bug must not kill the job: the next run tries again
            log.exception("webhook %r: delivery round failed", delivery.sink.name)
            return
        if summary.delivered or summary.failed or summary.dead:
            log.log(logging.WARNING if summary.failed else logging.INFO, "%s", summary.line())

    def _idle_watch(self, mailbox: MailboxSettings, scheduler: object) -> None:
        """Keep an IDLE connection; on news, run the mailbox's pass now (the poll stays as a safety net).

        Its first connection, made or failed, brings the mailbox's first pass (`run` schedules none for it).
        """
        delay = 1.0
        first = True
        while not self.stop.is_set():
            source = open_source(mailbox)
            self._idling[mailbox.name] = source
            try:
                source.open()
                delay = 1.0
                # what arrived before this IDLE began (at start, after a drop) is no news to IDLE
                first = False
                self._wake(mailbox.name, scheduler)
                while not self.stop.is_set():
                    if source.wait_for_new(_IDLE_WINDOW):
                        self._wake(mailbox.name, scheduler)
            except SourceError as exc:
                if self.stop.is_set():
                    break  # interrupted on purpose
                if first:  # the start's pass all the same: it reports (and records) why it cannot connect
                    first = False
                    self._wake(mailbox.name, scheduler)
                log.warning("%s (IDLE); again in %.0f s", exc, delay)
                self.stop.wait(delay)
                delay = min(delay * 2, _IDLE_BACKOFF_MAX)
            finally:
                self._idling.pop(mailbox.name, None)
                source.close()

    def _install_signal_handlers(self) -> None:
        def request_stop(signum: int, frame: FrameType | None) -> None:
            log.info("%s received", signal.Signals(signum).name)
            self.stop.set()

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)


def _lock_state(state: Path) -> IO[bytes]:
    """One worker per state file: two would read the same mailboxes and count soft bounces twice.

    An exclusive `flock` on `STATE.lock` beside the real file (symlinks resolved: a second name for the
    state must not be a second lock), held as long as the process lives (the kernel drops it when the
    process ends, even on SIGKILL: no stale lock to clean up).
    """
    handle, real = open_worker_lock(state)  # held for the process's life
    links = _hard_links(real)
    if links > 1:
        handle.close()
        # each name would get a lock of its own, and SQLite a journal of its own: both corrupt the state
        raise DsnworkerError(
            f"state file {state} has {links} hard links: give it one name (a symbolic link is fine), "
            "so that one lock and one journal guard it"
        )
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        shown = f"{state} (= {real})" if real != state.absolute() else str(state)
        raise DsnworkerError(
            f"state file {shown} is in use by another dsnworker (run or poll): one worker per state file"
        ) from None
    return handle


def _hard_links(path: Path) -> int:
    try:
        return path.stat().st_nlink
    except FileNotFoundError:
        return 1


def _address(settings: Settings) -> str:
    assert settings.metrics is not None
    host = settings.metrics.host
    return f"[{host}]:{settings.metrics.port}" if ":" in host else f"{host}:{settings.metrics.port}"


def _watched(mailbox: MailboxSettings) -> bool:
    """Whether an IDLE connection watches the mailbox (IDLE is IMAP's)."""
    return mailbox.idle and mailbox.source == "imap"


def _trigger(mailbox: MailboxSettings) -> object:
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    # jitter spreads the passes of many mailboxes (and of many workers) over time
    jitter = int(mailbox.schedule.jitter) or None
    if mailbox.schedule.cron:
        trigger = CronTrigger.from_crontab(mailbox.schedule.cron, timezone=UTC)
        trigger.jitter = jitter  # from_crontab takes no jitter argument
        return trigger
    return IntervalTrigger(seconds=mailbox.schedule.interval or 60.0, jitter=jitter, timezone=UTC)


def _log_summary(summary: PassSummary) -> None:
    level = logging.WARNING if summary.errors else logging.INFO
    log.log(level, "pass %s", summary.line(), extra={"summary": summary.fields()})
