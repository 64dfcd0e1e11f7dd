"""Reading bounces on every core: chunks of messages analysed in a pool of processes, in input order.

The pool is started once per process, when first needed, and kept: each child builds the analysers
(loads the rule packs) once, in its initializer, then reads chunk after chunk. Messages go to the
children as bytes; the outcomes come back (`Outcome` is a tree of frozen dataclasses: it pickles),
or, for `dsnworker parse`, the output lines already encoded, which leaves the parent only the writing.

Start method: `fork` where the caller says it is safe (one thread, nothing inherited that must not
be: `parse`), which costs the children nothing as they inherit the loaded rules; `forkserver`
otherwise (the worker: APScheduler and IDLE threads, the state's lock file, open sockets), whose
children are forked from a server that has `dsnworker.analyser` imported and the worker's rule sets
loaded (`dsnworker.pool_preload`); a rule set it lacks, a child loads itself.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import os
import select
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from dsnworker.analyser import Analyser
from dsnworker.identify import Identifier
from dsnworker.model import Outcome
from dsnworker.work_split import CHUNK_MESSAGES, Message, chunked

T = TypeVar("T")
_IN_FLIGHT_PER_JOB = 3  # chunks queued per child: keeps every child busy, and memory bounded
_MAIN_CHECK_SECONDS = 1.0


@dataclass(frozen=True)
class RuleSet:
    """What an analyser is built from: the extra rule folders and the action overrides."""

    extra_dirs: tuple[Path, ...] = ()
    actions: tuple[tuple[str, str], ...] = ()

    def analyser(self) -> Analyser:
        return Analyser.with_rules(self.extra_dirs, dict(self.actions))


PRELOAD_VARIABLE = "DSNWORKER_FORK_SERVER_RULES"  # the rule sets the fork server loads (JSON), for its start
preloaded: dict[RuleSet, Analyser] = {}  # filled in the fork server (`dsnworker.pool_preload`): its children inherit


def start_fork_server(rule_sets: Iterable[RuleSet] = ()) -> None:
    """Start the fork server the children are forked from, if not running, ignoring SIGTERM and SIGINT,
    with `rule_sets` loaded in it: each child forked from it inherits them instead of loading the packs
    itself (~200 ms a child, on the first batch's path).

    A service manager signals every process of the service, Ctrl-C the whole process group: the worker
    finishes the batch in hand, but a fork server killed by the signal would take the children with it
    (the pool reads a child's end through the server). Dispositions set to ignore survive its exec; they
    can be set only from the main thread, so the worker calls this at start, before its threads."""
    import json
    from multiprocessing import forkserver

    multiprocessing.get_context("forkserver").set_forkserver_preload(["dsnworker.analyser", "dsnworker.pool_preload"])
    named = [[[str(folder) for folder in rules.extra_dirs], list(rules.actions)] for rules in rule_sets]
    # the server is a new program: its environment, read by `pool_preload` as it starts, carries them
    os.environ[PRELOAD_VARIABLE] = json.dumps(named)
    try:
        if threading.current_thread() is not threading.main_thread():
            forkserver.ensure_running()
            return
        signals = (signal.SIGTERM, signal.SIGINT)
        previous = [signal.signal(number, signal.SIG_IGN) for number in signals]
        try:
            forkserver.ensure_running()
        finally:
            for number, handler in zip(signals, previous, strict=True):
                signal.signal(number, handler)
    finally:
        del os.environ[PRELOAD_VARIABLE]


def batch_chunk_size(messages: int, jobs: int) -> int:
    """Messages per chunk of a batch: a small batch is still shared by every child, about two chunks
    each, so that a chunk finishing late leaves the others less to wait for."""
    return max(1, min(CHUNK_MESSAGES, -(-messages // (jobs * 2))))


class AnalysisPool:
    """A process pool of `jobs` children, each holding the analysers of the given rule sets."""

    def __init__(self, jobs: int, analysers: Mapping[RuleSet, Analyser], *, fork_safe: bool = False) -> None:
        if jobs < 2:
            raise ValueError("a pool is for 2 jobs or more: 1 job analyses in the process itself")
        self.jobs = jobs
        self._analysers = dict(analysers)
        self._fork_safe = fork_safe
        self._executor: ProcessPoolExecutor | None = None
        self._starting = threading.Lock()  # two mailboxes' passes may ask for it at once

    @property
    def start_method(self) -> str:
        # fork copies only the thread that forks: with other threads, a lock one of them held stays held
        return "fork" if self._fork_safe and threading.active_count() == 1 else "forkserver"

    def _started(self) -> ProcessPoolExecutor:
        with self._starting:
            if self._executor is None:
                method = self.start_method
                context = _KillingContext(multiprocessing.get_context(method))
                if method == "fork":  # inherited as they are, nothing pickled: the children load nothing
                    inherited = self._analysers
                else:
                    start_fork_server(self._analysers)
                    inherited = {}
                self._executor = ProcessPoolExecutor(
                    self.jobs,
                    context,
                    initializer=_start_child,
                    initargs=(os.getpid(), tuple(self._analysers), inherited),
                )
            return self._executor

    def map(self, task: Callable[..., T], chunks: Iterable[list[Message]], *args: object) -> Iterator[T]:
        """`task(*args, chunk)` for each chunk, in the children; the results in the chunks' order.

        At most a few chunks per child are queued at once: a mailbox or mbox of any size is read as
        it is analysed, never held whole."""
        executor = self._started()
        waiting: deque[Future[T]] = deque()
        limit = self.jobs * _IN_FLIGHT_PER_JOB
        try:
            for chunk in chunks:
                waiting.append(executor.submit(task, *args, chunk))
                if len(waiting) >= limit:
                    yield waiting.popleft().result()
            while waiting:
                yield waiting.popleft().result()
        finally:
            for future in waiting:  # given up (an error, or the caller stopped reading)
                future.cancel()

    def outcomes_later(
        self, rules: RuleSet, identifier: Identifier | None, messages: list[Message]
    ) -> Callable[[], list[list[Outcome]]]:
        """Start analysing the messages (a batch: bounded by its caller); the returned function waits for
        each message's outcomes, as `Analyser.analyse` gives them, in order. It raises
        `BrokenProcessPool` if a child died (killed, out of memory)."""
        executor = self._started()
        most = batch_chunk_size(len(messages), self.jobs)
        futures = [executor.submit(analyse_chunk, rules, identifier, chunk) for chunk in chunked(messages, most)]

        def wait() -> list[list[Outcome]]:
            results: list[list[Outcome]] = []
            try:
                for future in futures:
                    results.extend(future.result())
            finally:
                for future in futures:
                    future.cancel()  # those not started, after a failure
            return results

        return wait

    def pids(self) -> list[int]:
        """The children's process ids (none before the first use)."""
        executor = self._executor
        return sorted(getattr(executor, "_processes", None) or ()) if executor is not None else []

    def close(self) -> None:
        """Stop the children (the work queued is dropped); the pool starts again if used again."""
        with self._starting:
            executor, self._executor = self._executor, None
        if executor is None:
            return
        if getattr(executor, "_broken", False):
            # a child died: one of the others may wait for ever on a queue lock its dead sibling held
            # (the executor kills them too, `_KillingContext`, but not always before this)
            for pid in list(getattr(executor, "_processes", None) or ()):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        executor.shutdown(wait=True, cancel_futures=True)


class _KilledForkProcess(multiprocessing.context.ForkProcess):
    def terminate(self) -> None:
        self.kill()


class _KilledForkServerProcess(multiprocessing.context.ForkServerProcess):
    def terminate(self) -> None:
        self.kill()


class _KillingContext:
    """A multiprocessing context whose processes are stopped with SIGKILL when terminated.

    The children ignore SIGTERM (`_start_child`). When one dies, the executor terminates the others
    and joins them; CPython 3.12.1 does so holding its shutdown lock, so with SIGTERM ignored the join
    never ends and every later `submit` waits for ever. Killing is what terminating must mean here.
    The classes are module-level: forkserver pickles the process object to the server."""

    def __init__(self, context: multiprocessing.context.BaseContext) -> None:
        self._context = context
        self.Process = _KilledForkProcess if context.get_start_method() == "fork" else _KilledForkServerProcess

    def __getattr__(self, name: str) -> object:
        return getattr(self._context, name)


# --- in the children ---------------------------------------------------------------------------

_child_analysers: dict[RuleSet, Analyser] = {}


def _start_child(main: int, rule_sets: tuple[RuleSet, ...], inherited: Mapping[RuleSet, Analyser]) -> None:
    # the parent decides when to stop: Ctrl-C (sent to the whole process group) or a SIGTERM from the
    # service manager must not kill a child in the middle of the batch the parent is finishing
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    for rules in rule_sets:
        _child_analysers[rules] = inherited.get(rules) or preloaded.get(rules) or rules.analyser()
    gc.freeze()  # the rules live as long as the child
    threading.Thread(target=_exit_with, args=(main,), daemon=True, name="exit-with-main").start()


def _exit_with(main: int) -> None:
    """Exit when the process that started the pool is gone. Killed (SIGKILL, the OOM killer), it leaves
    its children waiting on the task queue for ever; under forkserver they even keep the server alive,
    as each holds the end of the pipe whose closing tells the server to stop."""
    try:
        handle = os.pidfd_open(main)  # readable once the process has exited
    except ProcessLookupError:
        os._exit(1)
    except OSError:  # a kernel before 5.3: ask every second
        with contextlib.suppress(ProcessLookupError):
            while True:
                os.kill(main, 0)
                time.sleep(_MAIN_CHECK_SECONDS)
    else:
        select.select([handle], [], [])
    os._exit(1)


def _analyser(rules: RuleSet) -> Analyser:
    analyser = _child_analysers.get(rules)
    if analyser is None:  # a rule set the pool was not started with: loaded once, then kept
        analyser = _child_analysers[rules] = rules.analyser()
    return analyser


def analyse_chunk(rules: RuleSet, identifier: Identifier | None, chunk: list[Message]) -> list[list[Outcome]]:
    analyser = _analyser(rules)
    return [analyser.analyse(data, source, identifier) for source, data in chunk]


def format_chunk(rules: RuleSet, identifier: Identifier | None, table: bool, chunk: list[Message]) -> str:
    """`dsnworker parse`'s lines for the chunk, as one text."""
    from dsnworker.output import outcome_lines

    analyser = _analyser(rules)
    return "".join(outcome_lines(analyser.analyse(data, source, identifier), table) for source, data in chunk)
