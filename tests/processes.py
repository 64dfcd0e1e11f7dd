"""`dsnworker` run as a user runs it, from the tests: a real process, with a chosen environment.

The environment is this one without `DSNWORKER_CRASH_AT` (a test asks for a crash point explicitly),
plus the variables a test gives (passwords, secrets).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any


def environment(extra: Mapping[str, str] | None = None, crash_at: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DSNWORKER_CRASH_AT"} | dict(extra or {})
    if crash_at:
        env["DSNWORKER_CRASH_AT"] = crash_at
    return env


def run(
    *args: object, env: Mapping[str, str] | None = None, crash_at: str | None = None
) -> subprocess.CompletedProcess[str]:
    """`dsnworker ARGS...` to its end, output captured."""
    command = [sys.executable, "-m", "dsnworker", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, env=environment(env, crash_at), timeout=120)


def start(*args: object, env: Mapping[str, str] | None = None, **popen: Any) -> subprocess.Popen[str]:
    """`dsnworker ARGS...` in the background (`run`, or a `poll` to kill)."""
    command = [sys.executable, "-m", "dsnworker", *map(str, args)]
    return subprocess.Popen(command, env=environment(env), **popen)


def wait_until(condition: Callable[[], bool], timeout: float = 20.0) -> bool:
    """Whether `condition` came true within `timeout` seconds (checked every 0.1 s)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False
