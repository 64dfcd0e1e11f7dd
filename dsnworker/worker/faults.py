"""Crash points for the exactly-once tests: the worker kills itself (SIGKILL) where a test asks.

`DSNWORKER_CRASH_AT=after_commit:3` kills the process the 3rd time it passes `after_commit`.
Unset (always, outside tests), a crash point is one dictionary lookup.
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
    point, _, nth = _PLAN.partition(":")
    if point != name:
        return
    _passed[name] += 1
    if _passed[name] >= int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)
