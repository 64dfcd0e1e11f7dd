"""One worker among several on a PostgreSQL state: its heartbeat, and its share of the mailboxes.

Every heartbeat (a third of `[cluster] lease`), the worker says it is alive, renews the leases it
holds (noting those it lost: it was paused or cut off too long), counts the live workers and aims at
ceil(mailboxes / live workers) leases: it gives up its extras (never one whose pass is running) when
workers join, and claims free or expired leases when it has fewer (when one leaves or dies). The
file-sinks lease goes to whoever claims it first and stays there while that worker lives.

`run` balances; `poll` (one pass and out) claims whatever is free and releases it all at the end.
The leases decide who does the work; the fence (`Leases.fence`, in each batch's transaction) makes a
worker that lost one harmless.
"""

from __future__ import annotations

import logging
import math
import os
import random
import secrets
import socket
import threading
from collections.abc import Callable, Collection, Sequence
from functools import partial

from dsnworker.worker.leases import FILE_SINKS, Leases, mailbox_lease
from dsnworker.worker.state import StateError

log = logging.getLogger("dsnworker.worker")
_NAMES_SHOWN = 10  # mailboxes named in a log line; thousands would drown the log


def worker_id() -> str:
    """Unique among the workers, and readable: host, pid, and a few random characters (a pid is reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class Coordinator:
    """The leases this worker holds (lease name -> generation), kept up by `tick` (its own thread in `run`)."""

    def __init__(
        self,
        leases: Leases,
        mailboxes: Sequence[str],
        *,
        file_sinks: bool,
        balance: bool,
        guard: threading.Lock | None = None,
        busy: Callable[[], Collection[str]] = frozenset,
    ) -> None:
        self.leases = leases
        self.mailboxes = list(mailboxes)
        self.file_sinks = file_sinks  # the configuration has an events or suppression file to write
        self.balance = balance
        self.guard = guard or threading.Lock()  # the runner's: a pass starts only on a lease still held
        self.busy = busy  # the mailboxes whose pass runs now (read under `guard`)
        self.live_workers = 1
        self._held: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.on_gained: Callable[[list[str]], None] = lambda names: None  # mailboxes newly held

    @property
    def owner(self) -> str:
        return self.leases.owner

    def generation(self, mailbox: str) -> int | None:
        """The generation this worker holds the mailbox's lease at, or None (call under `guard`)."""
        return self._held.get(mailbox_lease(mailbox))

    def held_mailboxes(self) -> list[str]:
        with self.guard:
            return [name for name in self.mailboxes if mailbox_lease(name) in self._held]

    def fence(self, mailbox: str, generation: int) -> Callable[[], None]:
        """What a pass begun at `generation` checks in each batch's transaction."""
        return partial(self.leases.fence, mailbox_lease(mailbox), generation)

    def writes_file_sinks(self) -> bool:
        with self.guard:
            return FILE_SINKS in self._held

    def tick(self) -> list[str]:
        """One heartbeat: be counted, renew, give up extras, claim a share; the mailboxes gained."""
        self.live_workers = self.leases.beat(socket.gethostname(), os.getpid())
        with self.guard:
            held = dict(self._held)
        kept = self.leases.renew(held)
        lost = sorted(set(held) - set(kept))
        if lost:
            log.warning("lost lease(s) %s (their time ran out before a heartbeat): another worker takes them", lost)
        target = math.ceil(len(self.mailboxes) / self.live_workers) if self.balance else len(self.mailboxes)
        with self.guard:
            for name in lost:
                self._held.pop(name, None)
            mine = [name for name in self.mailboxes if mailbox_lease(name) in self._held]
            extra = len(mine) - target
            running = set(self.busy())
            given_up = {
                mailbox_lease(name): self._held.pop(mailbox_lease(name))
                for name in [name for name in mine if name not in running][: max(0, extra)]
            }
        if given_up:
            self.leases.release(given_up)
            log.info("released %d mailbox lease(s) for the %d worker(s) alive", len(given_up), self.live_workers)
        gained = self._claim(target - (len(mine) - len(given_up)))
        if self.file_sinks and FILE_SINKS not in self._held:
            generation = self.leases.claim(FILE_SINKS)
            if generation is not None:
                with self.guard:
                    self._held[FILE_SINKS] = generation
                log.info("this worker writes the file sinks now (lease generation %d)", generation)
        return gained

    def _claim(self, wanted: int) -> list[str]:
        if wanted <= 0:
            return []
        names = [name for name in self.mailboxes if mailbox_lease(name) not in self._held]
        taken = self.leases.taken([mailbox_lease(name) for name in names])
        free = [name for name in names if mailbox_lease(name) not in taken]
        random.shuffle(free)  # workers starting together do not all race for the same first names
        gained = []
        for name in free:
            if len(gained) >= wanted:
                break
            generation = self.leases.claim(mailbox_lease(name))
            if generation is not None:
                with self.guard:
                    self._held[mailbox_lease(name)] = generation
                gained.append(name)
        if gained:
            shown = sorted(gained)[:_NAMES_SHOWN]
            more = f" and {len(gained) - len(shown)} more" if len(gained) > len(shown) else ""
            log.info("took %d mailbox lease(s): %s%s", len(gained), ", ".join(shown), more)
        return gained

    def start(self, period: float) -> None:
        """A first tick now, then one every `period` seconds on a thread of its own."""
        self.on_gained(self.tick())
        self._thread = threading.Thread(target=self._beat, args=(period,), name="cluster-heartbeat", daemon=True)
        self._thread.start()

    def _beat(self, period: float) -> None:
        while not self._stop.wait(period):
            try:
                gained = self.tick()
            except StateError as exc:  # the database is away: the leases run out, and are claimed again later
                log.error("heartbeat: %s", exc)
                continue
            except Exception:  # a bug must not stop the heartbeat: the leases would run out
                log.exception("heartbeat failed")
                continue
            if gained:
                self.on_gained(gained)

    def stop(self) -> None:
        """A clean stop: no more heartbeats, every lease released and the worker unregistered, so that the
        others take its mailboxes at their next heartbeat instead of after the leases' expiry."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        with self.guard:
            held, self._held = dict(self._held), {}
        try:
            self.leases.release(held)
            self.leases.leave()
        except StateError as exc:  # they expire by themselves
            log.warning("could not release the leases at stop (they expire by themselves): %s", exc)
