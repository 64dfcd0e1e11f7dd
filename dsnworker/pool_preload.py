"""Imported by the worker's fork server as it starts (multiprocessing's forkserver preload): loads the
rule sets `start_fork_server` named, once, so that every analysing child forked from the server
starts with them loaded instead of loading the packs itself.

A rule set that fails to load here is left out (the packs may have changed since the worker loaded
them): a child then loads it itself, and says what is wrong as it would have.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from dsnworker import pool


def _preload() -> None:
    named = json.loads(os.environ.get(pool.PRELOAD_VARIABLE) or "[]")
    for folders, actions in named:
        rules = pool.RuleSet(tuple(Path(folder) for folder in folders), tuple((a, b) for a, b in actions))
        try:
            pool.preloaded[rules] = rules.analyser()
        except Exception:  # noqa: BLE001, S112 - the child loads it and reports the error
            continue


_preload()
