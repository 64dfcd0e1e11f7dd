"""One pass over one mailbox: fetch -> parse and classify -> commit -> deliver -> act on the messages.

Exactly once, by construction. For each batch of messages, one transaction records the outcomes'
events in the outbox, marks the messages done (by a hash of their bytes, which survives a
UIDVALIDITY change), moves the cursor and notes what to do with each message on the server. Only
then are the events delivered, and only then are the messages moved. A crash before the commit
redoes the batch from scratch; a crash after it replays the delivery (the sinks skip what they
hold) and the pending moves (a moved UID is simply gone). Nothing is lost, nothing doubled.
"""

from __future__ import annotations

import contextlib
import email.utils
import hashlib
import logging
import re
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import CancelledError
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from dsnworker.analyser import Analyser
from dsnworker.errors import DsnworkerError
from dsnworker.identify import Identifier
from dsnworker.model import Outcome
from dsnworker.pool import AnalysisPool, RuleSet
from dsnworker.worker import events as ev
from dsnworker.worker.delivery import OutboxDelivery
from dsnworker.worker.faults import crash_point
from dsnworker.worker.policy import BatchTally, MessageContext, PolicyEngine
from dsnworker.worker.settings import Disposition, MailboxSettings
from dsnworker.worker.source import FetchedMessage, MailSource, SourceError
from dsnworker.worker.state import Cursor, Processed, StateError, Store

log = logging.getLogger(__name__)

BOUNCE, NOT_BOUNCE, UNPARSED = "bounce", "not_bounce", "unparsed"
_HEADER_LINE = re.compile(rb"[!-9;-~]{1,100}:|From ")  # a field name (RFC 5322 ftext) or an mbox From_ line
_BLANK_LINE = re.compile(rb"\n\r?\n|\r\r")  # the end of the header, whatever the line endings
_DATE_HEADER = re.compile(rb"(?i)(?:^|[\r\n])date:[ \t]*([^\r\n]{1,200})")
_DIGITS = re.compile(r"\d+")
# Dovecot ends a NO with its timings, "(0.001 + 0.000 secs)", a third term when it waited on the client
_SERVER_TIMINGS = re.compile(r"\s*\(\d+\.\d+(?: \+ \d+\.\d+)* secs\)")
_RECONNECTS = (1.0, 2.0, 4.0)  # seconds between reconnection attempts within one pass
SIZES_PER_COMMAND = 5000  # UIDs whose sizes are asked at once
UIDS_PER_STRETCH = 50_000  # UIDs whose batches run as one pipeline (their sizes held meanwhile: ~5 MB)
# bytes of messages per batch: two batches are in memory at once (one parsed, the next coming)
BATCH_BYTES = 32_000_000


@dataclass
class PassSummary:
    mailbox: str
    new: int = 0
    bounces: int = 0  # messages read as bounces
    recipients: int = 0  # their outcomes: a bounce may report several recipients
    suppressed: int = 0
    not_bounce: int = 0
    unparsed: int = 0
    duplicates: int = 0
    errors: list[str] = field(default_factory=list)
    started_at: float = 0.0  # unix time
    seconds: float = 0.0
    dry_run_events: list[dict[str, Any]] = field(default_factory=list)

    def line(self) -> str:
        return (
            f"mailbox={self.mailbox} new={self.new} bounces={self.bounces} recipients={self.recipients} "
            f"suppressed={self.suppressed} "
            f"not_bounce={self.not_bounce} unparsed={self.unparsed} duplicates={self.duplicates} "
            f"errors={len(self.errors)} seconds={self.seconds:.2f}"
        )

    def fields(self) -> dict[str, Any]:
        return {
            "mailbox": self.mailbox,
            "new": self.new,
            "bounces": self.bounces,
            "recipients": self.recipients,
            "suppressed": self.suppressed,
            "not_bounce": self.not_bounce,
            "unparsed": self.unparsed,
            "duplicates": self.duplicates,
            "errors": self.errors,
            "seconds": round(self.seconds, 3),
        }


@dataclass
class _Analysed:
    message: FetchedMessage
    key: str
    category: str
    outcomes: list[Outcome]
    unparsed_why: str | None = None


@dataclass(frozen=True)
class Committed:
    """What one committed batch did, for the metrics: counted only once it is in the state."""

    mailbox: str
    outcomes: Counter[tuple[str, str, str]]  # (provider or "", reason, action) -> outcomes
    messages: Counter[str]  # bounce | not_bounce | unparsed | duplicate -> messages


class _DryRunRollback(Exception):
    """Raised inside the transaction of a dry run: everything it wrote is rolled back."""


def mailbox_rules(settings: MailboxSettings) -> RuleSet:
    """The rule set a mailbox's messages are analysed with: its extra rule folders and action overrides."""
    return RuleSet(settings.rules, tuple(sorted(settings.policy.actions.items())))


def utc_now() -> datetime:
    return datetime.now(UTC)


class MailboxPass:
    """Runs passes over one mailbox; a pass at a time (the scheduler guarantees it)."""

    def __init__(
        self,
        settings: MailboxSettings,
        store: Store,
        analyser: Analyser,
        delivery: OutboxDelivery,
        source_factory: Callable[[MailboxSettings], MailSource],
        stop: threading.Event | None = None,
        clock: Callable[[], datetime] = utc_now,
        *,
        pool: AnalysisPool | None = None,
        rules: RuleSet | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.analyser = analyser
        self.delivery = delivery
        self.source_factory = source_factory
        self.stop = stop or threading.Event()
        self.clock = clock
        self.pool = pool  # analyses in child processes (`jobs` > 1), with the rules of `rules`
        self.rules = rules or mailbox_rules(settings)
        self.policy = PolicyEngine(store, settings.policy)
        self.identifier = Identifier(settings.verp)  # events say how each recipient was identified
        self._batch_events: list[dict[str, Any]] = []  # queued in the open transaction (a dry run shows them)
        self.keep_open = False  # keep the IMAP session between passes (`run` sets it)
        self._refused_said: dict[str, str] = {}  # disposition -> the refusal logged at ERROR (its gist)
        self._source: MailSource | None = None
        self.on_commit: Callable[[Committed], None] | None = None  # the metrics' hook (`run` sets it)
        # a shared PostgreSQL state: checks, inside each batch's transaction, that this worker still holds
        # the mailbox's lease (raises LeaseLost, rolling the batch back: its messages stay for the owner)
        self.fence: Callable[[], None] | None = None

    def run(self, dry_run: bool = False) -> PassSummary:
        summary = PassSummary(self.settings.name, started_at=time.time())
        started = time.monotonic()
        attempts = iter(_RECONNECTS)
        while True:
            try:
                self._pass(summary, dry_run)
                break
            except SourceError as exc:
                delay = next(attempts, None) if exc.retryable and not self.stop.is_set() else None
                if delay is None:
                    summary.errors.append(str(exc))
                    log.error("%s", exc)
                    break
                log.warning("%s; reconnecting in %.0f s", exc, delay)
                self.stop.wait(delay)
        if not dry_run:
            self._deliver(summary)
            # soft bounces older than the window can never count again
            window = self.settings.policy.soft_window_days * 86400
            self.store.forget_soft_bounces_before(self.settings.name, self.clock().timestamp() - window)
        summary.seconds = time.monotonic() - started
        return summary

    def _deliver(self, summary: PassSummary) -> None:
        """Outbox -> file sinks. A sink that fails (a full disk) keeps its events in the outbox for the
        next pass; the messages are committed, so the pass goes on."""
        try:
            self.delivery.deliver_pending()
        except StateError:
            raise  # the state itself, not a sink: the pass stops with it
        except (OSError, DsnworkerError) as exc:
            problem = f"delivering to a sink: {exc}"
            if problem not in summary.errors:
                summary.errors.append(problem)
                log.error("mailbox %r: %s", self.settings.name, problem)

    def _pass(self, summary: PassSummary, dry_run: bool) -> None:
        source = self._connected_source()
        try:
            self._pass_over(source, summary, dry_run)
        except BaseException:
            self.close()  # a failed or interrupted pass: the next one starts on a new connection
            raise
        # `run` keeps an IMAP session from pass to pass: SELECT of a large folder costs the server
        # hundreds of ms (a maildir of 100,000 messages), NOOP + SEARCH about one. A local source
        # lists its files at open: it is opened anew each pass.
        if not self.keep_open or source.uidvalidity is None or self.stop.is_set():
            self.close()

    def _connected_source(self) -> MailSource:
        if self._source is None:
            source = self.source_factory(self.settings)
            source.open()
            self._source = source
        return self._source

    def close(self) -> None:
        """Log out of the mailbox, if a session is kept open; never raises."""
        source, self._source = self._source, None
        if source is not None:
            source.close()

    def _pass_over(self, source: MailSource, summary: PassSummary, dry_run: bool) -> None:
        if not dry_run:
            self._replay_pending(source)
        validity = source.uidvalidity
        cursor = self.store.cursor(self.settings.name)
        if validity is not None and cursor.uidvalidity != validity:
            if cursor.uidvalidity is not None:
                log.warning(
                    "mailbox %r: UIDVALIDITY changed (%s -> %s): reading the folder again; messages already "
                    "processed are recognised by their content and not counted twice",
                    self.settings.name,
                    cursor.uidvalidity,
                    validity,
                )
            cursor = Cursor(validity, 0)
        after = cursor.last_uid if validity is not None else 0
        while not self.stop.is_set():
            uids = source.new_uids(after)
            if not uids:
                break
            for stretch in _chunks(uids, UIDS_PER_STRETCH):
                # every size of the stretch first, then its batches as one pipeline: the next batch
                # is fetched and analysed while one is committed, with no pause every window
                sizes: dict[int, int] = {}
                for window in _chunks(stretch, SIZES_PER_COMMAND):  # a backlog of 100,000 is not one answer
                    sizes.update(source.sizes(window))
                chunks = list(self._sized_chunks(stretch, sizes))
                after = self._batches(source, chunks, sizes, validity, summary, dry_run)
                if self.stop.is_set():
                    break
            if validity is None:
                break  # a local source lists everything once per pass

    def _sized_chunks(self, uids: Sequence[int], sizes: Mapping[int, int]) -> Iterator[list[int]]:
        """Batches of at most `batch_size` messages and about `BATCH_BYTES`: memory stays bounded
        whatever the messages weigh (a returned newsletter with its images is megabytes)."""
        limit = self.settings.max_message_bytes
        chunk: list[int] = []
        weight = 0
        for uid in uids:
            size = min(sizes.get(uid, 0), limit)  # over the limit, only its beginning is fetched
            if chunk and (len(chunk) >= self.settings.batch_size or weight + size > BATCH_BYTES):
                yield chunk
                chunk, weight = [], 0
            chunk.append(uid)
            weight += size
        if chunk:
            yield chunk

    def _batches(
        self,
        source: MailSource,
        chunks: list[list[int]],
        sizes: Mapping[int, int],
        validity: int | None,
        summary: PassSummary,
        dry_run: bool,
    ) -> int:
        """Process the chunks in turn, the server working on the next while this thread parses one.

        On the wire (one connection, pipelined): FETCH n+1 and MOVE n-1 are sent before batch n is
        parsed and committed, and their answers read after. A batch is filed away one batch late; its
        dispositions are in the state meanwhile, so a crash only delays them.
        """
        last_uid = 0
        deferred: list[tuple[int, str]] = []
        filing: Callable[[], None] | None = None
        coming: Callable[[], list[FetchedMessage]] | None = source.fetch_later(chunks[0], sizes)
        ahead: Callable[[], list[list[Outcome]]] | None = None  # the next batch, analysed meanwhile

        def read_ahead() -> None:
            """While child processes analyse batch n, this thread reads the answer to FETCH n+1 and
            queues batch n+1 for them: they analyse it while batch n is committed here. Which of its
            messages are new is decided after that commit, as without a pool; only the analysis of a
            message found done is wasted."""
            nonlocal coming, ahead
            if coming is None or self.pool is None:
                return
            coming, messages = _read_now(coming)
            if messages is not None and not self.stop.is_set():
                ahead = self._analyse_later(messages)

        try:
            for number, chunk in enumerate(chunks):
                assert coming is not None
                fetched, coming = coming(), None
                if filing is not None:
                    filing, done = None, filing
                    done()
                if number + 1 < len(chunks) and not self.stop.is_set():
                    coming = source.fetch_later(chunks[number + 1], sizes)
                if deferred:
                    filing, deferred = self._dispose_later(source, deferred), []
                analysed_ahead, ahead = ahead, None
                last_uid, deferred = self._batch(chunk, fetched, validity, summary, dry_run, read_ahead, analysed_ahead)
                if self.stop.is_set():  # SIGTERM: the batch in hand is committed; the one in flight dropped
                    break
        finally:
            # answers still due are read before anything else is said on the connection
            with contextlib.suppress(SourceError):
                if coming is not None:
                    coming()
        if filing is not None:
            filing()
        self._dispose(source, deferred)
        return last_uid

    def _dispose_later(self, source: MailSource, dispositions: Sequence[tuple[int, str]]) -> Callable[[], None]:
        waits = [
            (disposition, uids, source.dispose_later(uids, parse_disposition(disposition)))
            for disposition, uids in _by_disposition(dispositions).items()
        ]

        def wait() -> None:
            for disposition, uids, done in waits:
                try:
                    done()
                    self._refused_said.pop(disposition, None)  # works again: a new refusal is news
                except SourceError as exc:
                    self._refused(exc, disposition, uids)
                if source.uidvalidity is not None:
                    self.store.clear_pending(self.settings.name, uids)
            if waits:
                crash_point("after_dispose")

        return wait

    def _replay_pending(self, source: MailSource) -> None:
        """Dispositions committed before a crash or a lost connection: apply them now."""
        pending = self.store.pending(self.settings.name)
        if not pending:
            return
        validity = source.uidvalidity
        current = [p for p in pending if p.uidvalidity == validity]
        stale = [p.uid for p in pending if p.uidvalidity != validity]
        if stale:  # those UIDs name other messages now; the messages come round again, recognised by key
            self.store.clear_pending(self.settings.name, stale)
        self._dispose(source, [(p.uid, p.disposition) for p in current])

    def _batch(
        self,
        uids: Sequence[int],
        fetched: list[FetchedMessage],
        validity: int | None,
        summary: PassSummary,
        dry_run: bool,
        meanwhile: Callable[[], None] = lambda: None,
        analysed_ahead: Callable[[], list[list[Outcome]]] | None = None,
    ) -> tuple[int, list[tuple[int, str]]]:
        """Analyse and commit one batch; (the cursor's new UID, the dispositions to apply on the server).
        `meanwhile` runs while child processes analyse it (reading the next batch); `analysed_ahead`
        gives the outcomes of every fetched message when the batch was queued for them before."""
        # the whole chunk is done, UIDs that vanished between SEARCH and FETCH included
        last_uid = uids[-1]
        keys = [hashlib.sha256(message.data).hexdigest() for message in fetched]
        done = self.store.processed_categories(self.settings.name, keys)
        fresh, repeats = [], []
        seen: set[str] = set()
        at: list[int] = []  # where each fresh message is in `fetched`
        for index, (message, key) in enumerate(zip(fetched, keys, strict=True)):
            if key in done or key in seen:
                repeats.append((message, key))
                continue
            seen.add(key)
            fresh.append((message, key))
            at.append(index)
        if analysed_ahead is None:
            analysed_ahead = self._analyse_later([message for message, _ in fresh])
            at = list(range(len(fresh)))
        meanwhile()
        outcomes = analysed_ahead()
        analysed = [_analysed(message, key, outcomes[index]) for index, (message, key) in zip(at, fresh, strict=True)]
        summary.new += len(analysed)
        summary.duplicates += len(repeats)

        dispositions: list[tuple[int, str]] = []
        crash_point("before_commit")
        try:
            with self.store.transaction():
                if self.fence is not None:
                    self.fence()
                moment = self.clock()
                tally = self._record_all(analysed, validity, moment, summary, dispositions)
                if repeats:  # still in the folder: their keys must outlive the retention bound
                    day_ago = ev.timestamp(moment - timedelta(days=1))
                    self.store.met_again(self.settings.name, [key for _, key in repeats], ev.timestamp(moment), day_ago)
                for message, key in repeats:  # already counted: only make sure it is filed away
                    disposition = self._disposition_for(done.get(key, BOUNCE))
                    if disposition.kind not in ("none", "leave"):
                        dispositions.append((message.uid, str(disposition)))
                self.store.count_outcomes(tally.days)
                for mailbox, event in self.policy.incident_updates(tally, moment):
                    self._queue(mailbox, event)
                if validity is not None:  # local sources number messages anew each pass: nothing to replay
                    self.store.add_all_pending(self.settings.name, validity, dispositions)
                    self.store.set_cursor(self.settings.name, Cursor(validity, max(last_uid, 0)))
                summary.recipients += tally.recipients
                summary.suppressed += tally.suppressed
                if dry_run:
                    summary.dry_run_events.extend(self._batch_events)
                    raise _DryRunRollback
        except _DryRunRollback:
            return last_uid, []
        finally:
            self._batch_events = []
        crash_point("after_commit")
        if self.on_commit is not None:
            messages = Counter(item.category for item in analysed)
            messages["duplicate"] = len(repeats)
            self.on_commit(Committed(self.settings.name, tally.outcomes, messages))
        self._deliver(summary)
        crash_point("after_deliver")
        return last_uid, dispositions

    def _queue(self, mailbox: str, event: dict[str, Any]) -> None:
        if self.store.add_event(mailbox, event):
            self._batch_events.append(event)

    def _analyse_later(self, messages: list[FetchedMessage]) -> Callable[[], list[list[Outcome]]]:
        """Start analysing the messages; the returned function gives each one's outcomes, in order.
        In this process (`jobs = 1`: at once), or in the pool's children."""
        if self.pool is None or not messages:
            found = [self._outcomes(message) for message in messages]
            return lambda: found
        pool = self.pool
        try:
            outcomes_later = pool.outcomes_later(
                self.rules, self.identifier, [(self._source_name(message), message.data) for message in messages]
            )
        except BrokenProcessPool as exc:  # broken while idle: a child killed between batches
            found = self._after_broken_pool(pool, exc, messages)
            return lambda: found

        def outcomes() -> list[list[Outcome]]:
            try:
                return outcomes_later()
            except BrokenProcessPool as exc:
                return self._after_broken_pool(pool, exc, messages)
            except CancelledError:  # queued ahead, then the pool was closed after a child died
                return [self._outcomes(message) for message in messages]

        return outcomes

    def _after_broken_pool(
        self, pool: AnalysisPool, exc: BrokenProcessPool, messages: list[FetchedMessage]
    ) -> list[list[Outcome]]:
        """A child died (the OOM killer, an operator's kill): these messages are analysed in this process,
        and the pool is started anew for the next batch. Nothing is committed yet: nothing is lost."""
        log.error(
            "mailbox %r: an analysing process died (%s); this batch is analysed in the worker's own process",
            self.settings.name,
            exc,
        )
        pool.close()
        return [self._outcomes(message) for message in messages]

    def _source_name(self, message: FetchedMessage) -> str:
        return f"{self.settings.name}:{message.uid}"

    def _outcomes(self, message: FetchedMessage) -> list[Outcome]:
        return self.analyser.analyse(message.data, self._source_name(message), self.identifier)

    def _record_all(
        self,
        analysed: list[_Analysed],
        validity: int | None,
        moment: datetime,
        summary: PassSummary,
        dispositions: list[tuple[int, str]],
    ) -> BatchTally:
        """Record the batch's messages, inside its transaction; the tally of what they did.

        All in one savepoint. Should recording one of them trip a bug of ours, everything is undone to
        it and the messages are recorded again one at a time (`_record_isolated`), so that only that one
        is quarantined. A savepoint per message from the start cost two statements and two copies of
        the tally a message (~8 us), for a case that should never come.
        """
        tally = BatchTally()
        processed: list[Processed] = []
        counts = (summary.unparsed, summary.not_bounce, summary.bounces)
        try:
            with self.store.savepoint():
                for item in analysed:
                    self._record(item, validity, moment, tally, summary, dispositions, processed)
        except StateError:
            raise  # a full disk or a damaged state is no fault of any message: the batch is rolled back
        except Exception:
            summary.unparsed, summary.not_bounce, summary.bounces = counts  # undone with the writes
            tally, processed = BatchTally(), []
            dispositions.clear()
            self._batch_events.clear()
            for item in analysed:
                self._record_isolated(item, validity, moment, tally, summary, dispositions, processed)
        self.store.mark_all_processed(self.settings.name, processed)
        return tally

    def _record_isolated(
        self,
        item: _Analysed,
        validity: int | None,
        moment: datetime,
        tally: BatchTally,
        summary: PassSummary,
        dispositions: list[tuple[int, str]],
        processed: list[Processed],
    ) -> None:
        """Record one message; a bug of ours while doing so quarantines that message, not the batch.

        Without this, one message that trips the recording would roll back its batch at every pass:
        a crash loop. Its writes are undone to a savepoint and it is recorded as unparsed instead.
        """
        counted, days = tally.outcomes.copy(), tally.days.copy()
        marked = len(processed)
        try:
            with self.store.savepoint():
                self._record(item, validity, moment, tally, summary, dispositions, processed)
        except StateError:
            raise  # a full disk or a damaged state is no fault of this message: the batch is rolled back
        except Exception as exc:
            tally.outcomes, tally.days = counted, days  # its outcomes were undone with its writes
            del processed[marked:]
            log.exception("mailbox %r: internal error while recording message %s", self.settings.name, item.message.uid)
            why = f"internal error while recording: {type(exc).__name__}: {exc}"[:300]
            quarantined = _Analysed(item.message, item.key, UNPARSED, [], why)
            with self.store.savepoint():
                self._record(quarantined, validity, moment, tally, summary, dispositions, processed)

    def _record(
        self,
        item: _Analysed,
        validity: int | None,
        moment: datetime,
        tally: BatchTally,
        summary: PassSummary,
        dispositions: list[tuple[int, str]],
        processed: list[Processed],
    ) -> None:
        """Queue the message's events and note it `processed` (marked at the end of the batch)."""
        name = self.settings.name
        uid = item.message.uid if validity is not None else None
        context = MessageContext(name, item.key, uid, moment, bounced_at(item.message.data))
        if item.category == UNPARSED:
            summary.unparsed += 1
            self._queue(name, _unparsed_event(context, item))
        elif item.category == NOT_BOUNCE:
            summary.not_bounce += 1
        else:
            for event in self.policy.events_for(context, item.outcomes, tally):
                self._queue(name, event)
            summary.bounces += 1
        disposition = self._disposition_for(item.category)
        stays = disposition.kind in ("none", "leave", "seen")
        processed.append(Processed(item.key, uid, item.category, ev.timestamp(moment), stays))
        if disposition.kind not in ("none", "leave"):
            dispositions.append((item.message.uid, str(disposition)))

    def _disposition_for(self, category: str) -> Disposition:
        if category == UNPARSED:
            return self.settings.unparsed
        if category == NOT_BOUNCE:
            return self.settings.not_bounce
        return self.settings.after

    def _dispose(self, source: MailSource, dispositions: Sequence[tuple[int, str]]) -> None:
        self._dispose_later(source, dispositions)()

    def _refused(self, exc: SourceError, disposition: str, uids: Sequence[int]) -> None:
        """A disposition the server refused (NO, or a maildir folder we may not write): said once, not
        retried within the pass. The outcomes are committed; the messages stay where they are (a maildir
        lists them again at the next pass: recognised as done, and their move tried again, quietly).
        A lost connection is raised: retried."""
        if exc.retryable:
            raise exc
        gist = _DIGITS.sub("#", _SERVER_TIMINGS.sub("", exc.problem))  # servers put times and counts in their words
        level = logging.DEBUG if self._refused_said.get(disposition) == gist else logging.ERROR
        self._refused_said[disposition] = gist
        log.log(
            level,
            "mailbox %r: %s of %d message(s) refused, left in place: %s",
            self.settings.name,
            disposition,
            len(uids),
            exc.problem,
        )


def parse_disposition(text: str) -> Disposition:
    kind, _, folder = text.partition(":")
    return Disposition("move", folder) if kind == "move" else Disposition(kind)  # type: ignore[arg-type]


def bounced_at(data: bytes) -> str | None:
    """The bounce's own Date header as UTC (`2026-11-28T02:30:00Z`): when it happened, which may be
    long before the worker read it. None when absent or unreadable."""
    # bytes.find for the usual spelling (a regex alone cost 10 us a message), the regex for the rest
    at = data.find(b"\nDate:", 0, 16384)
    if at >= 0 and not _BLANK_LINE.search(data, 0, at + 1):
        value = data[at + 6 : at + 206]
    else:  # another spelling, CR-only lines, or that "Date:" is in the body: the header alone, by regex
        end = _BLANK_LINE.search(data, 0, 65536)
        match = _DATE_HEADER.search(data[: end.start() if end else 16384])
        if match is None:
            return None
        value = match.group(1)
    value = value.split(b"\n", 1)[0].split(b"\r", 1)[0]
    try:
        moment = email.utils.parsedate_to_datetime(value.decode("ascii", "replace").strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if moment.tzinfo is None:  # RFC 5322's -0000: a time in UTC, source zone unknown
        moment = moment.replace(tzinfo=UTC)
    return ev.timestamp(moment)


def _analysed(message: FetchedMessage, key: str, outcomes: list[Outcome]) -> _Analysed:
    why = _unparsed_why(message, outcomes)
    if why is not None:
        return _Analysed(message, key, UNPARSED, outcomes, why)
    category = NOT_BOUNCE if all(o.verdict.reason == "not_bounce" for o in outcomes) else BOUNCE
    return _Analysed(message, key, category, outcomes)


def _read_now(
    coming: Callable[[], list[FetchedMessage]],
) -> tuple[Callable[[], list[FetchedMessage]], list[FetchedMessage] | None]:
    """Read a fetched batch now: (what gives it when its turn comes, the messages or None). A lost
    connection is raised at its turn, after the batch before it is committed (as if read then)."""
    try:
        messages = coming()
    except SourceError as exc:
        failure = exc

        def failed() -> list[FetchedMessage]:
            raise failure

        return failed, None
    return (lambda: messages), messages


def _unparsed_why(message: FetchedMessage, outcomes: list[Outcome]) -> str | None:
    """Why a message gets the `unparsed` outcome (quarantine), or None when it was read."""
    if message.unreadable is not None:
        return f"the server could not return it: {message.unreadable}"
    if any(o.message.format == "error" for o in outcomes):
        details = next(o.verdict.details for o in outcomes if o.message.format == "error")
        return details.get("error", "not read")  # says its cause: a bug of ours, a parser that raised, a cut
    if not _HEADER_LINE.match(message.data.lstrip()):
        return "not an e-mail message (no header at the start)"
    if message.truncated and all(o.verdict.reason in ("undefined", "not_bounce") for o in outcomes):
        return f"over the size limit ({message.size} bytes) and undecided from its first part"
    return None


def _unparsed_event(context: MessageContext, item: _Analysed) -> dict[str, Any]:
    data = {
        "mailbox": context.mailbox,
        "uid": context.uid,
        "message_key": context.key,
        "size": item.message.size,
        "why": item.unparsed_why,
    }
    return ev.make_event(ev.MESSAGE_UNPARSED, ev.event_id(context.key, "unparsed"), context.received, data)


def _by_disposition(dispositions: Sequence[tuple[int, str]]) -> dict[str, list[int]]:
    grouped: dict[str, list[int]] = defaultdict(list)
    for uid, disposition in dispositions:
        grouped[disposition].append(uid)
    return grouped


def _chunks(items: Sequence[int], size: int) -> Iterator[Sequence[int]]:
    for start in range(0, len(items), max(size, 1)):
        yield items[start : start + size]
