"""A watchdog for tests of hostile input: it stops a hang, it does not measure speed.

The limit is generous (tens of times what the work takes); a test that trips it failed because the
work did not end, not because it was slow. SIGALRM interrupts regex matching too (`re` checks for
signals while it backtracks).
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


class Hang(AssertionError):
    pass


@contextmanager
def watchdog(seconds: float, what: str) -> Iterator[None]:
    def expire(signum: int, frame: FrameType | None) -> None:
        raise Hang(f"{what} did not end within {seconds:g} s: it hangs (its cost grows faster than its input)")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
