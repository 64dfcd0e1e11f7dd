"""Crash points for the exactly-once tests: the worker kills itself (SIGKILL) where a test asks.

`DSNWORKER_CRASH_AT=after_commit:3` kills the process the 3rd time it passes `after_commit`;
`DSNWORKER_CRASH_AT=before_commit:1:stop` stops it there instead (SIGSTOP, as a long GC pause or a
frozen VM would), for the test to SIGCONT later. Unset (always, outside tests), a crash point is one
dictionary lookup.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

_PLAN = os.environ.get("DSNWORKER_CRASH_AT", "")
_passed: Counter[str] = Counter()


def crash_point(name: str) -> None:
    if not _PLAN:
        return
    point, _, rest = _PLAN.partition(":")
    if point != name:
        return
    nth, _, how = rest.partition(":")
    _passed[name] += 1
    if how == "stop" and _passed[name] == int(nth or 1):
        os.kill(os.getpid(), signal.SIGSTOP)
    elif how != "stop" and _passed[name] >= int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)
