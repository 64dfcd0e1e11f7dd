"""Loaded rule packs kept between runs, keyed by what they were loaded from.

Reading, validating and proving several hundred rules (YAML, regex syntax, the hostile-text probes)
costs ~120 ms at every start of `dsnworker parse`; reading the result back ~5 ms. The key is a
hash of every pack file's path and bytes, of the code that builds packs (this module, rules.py,
patterns.py) and of the versions of Python and of the libraries whose objects are kept, so a changed
pack, an upgrade or an edited checkout never reads a stale entry.

The cache lives in `$DSNWORKER_CACHE_DIR`, else `$XDG_CACHE_HOME/dsnworker`, else
`~/.cache/dsnworker` (created private to the user); `DSNWORKER_CACHE_DIR=""` turns it off. It is
an optimisation only: a missing, unreadable, corrupt or unwritable cache means loading as before.
Entries are pickles, read only from that private folder (whoever can write there can already run
code as the user).
"""

from __future__ import annotations

import gc
import os
import pickle
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any, BinaryIO

from dsnworker.lazylog import LazyLogger

try:  # hashlib loads OpenSSL (2-3 ms, at every start) whatever the algorithm; BLAKE2 is built in
    from _blake2 import blake2b
except ImportError:  # a Python without the module hashlib itself takes it from
    from hashlib import blake2b

log = LazyLogger(__name__)

FORMAT = 1  # bump when what is pickled changes shape in a way the code hash would not show
_KEEP = 8  # entries kept: a few rule folders and versions side by side


def cache_dir() -> Path | None:
    configured = os.environ.get("DSNWORKER_CACHE_DIR")
    if configured is not None:
        return Path(configured) if configured else None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "dsnworker"


def cache_key(files: Iterable[Path]) -> str:
    """A hash of the pack files (paths and bytes) and of everything that shapes the loaded objects."""
    import regex

    from dsnworker import __version__
    from dsnworker.classify import patterns, rules

    digest = blake2b(digest_size=32)
    versions = (FORMAT, __version__, sys.version, regex.__version__)
    digest.update(repr(versions).encode())
    for module in (patterns, rules, sys.modules[__name__]):
        digest.update(Path(module.__file__ or "").read_bytes())
    for path in files:
        digest.update(str(path).encode("utf-8", "surrogateescape") + b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def read(key: str) -> Any | None:
    """The value stored under `key`, or None (no cache, no entry, or an entry that does not load)."""
    folder = cache_dir()
    if folder is None:
        return None
    path = folder / f"packs-{key}.pickle"
    try:
        with path.open("rb") as file:
            return _unpickled(file)
    except FileNotFoundError:
        return None
    except Exception as exc:  # a torn or foreign file: load the packs as if there were none
        log.debug("rule pack cache %s not used: %s", path, exc)
        return None


def _unpickled(file: BinaryIO) -> Any:
    """The stored packs. The cyclic collector is paused meanwhile: it would walk the tens of
    thousands of objects being made again and again, a quarter of the time of the load."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        return pickle.load(file)  # noqa: S301 - our own private cache folder
    finally:
        if collecting:
            gc.enable()


def write(key: str, value: Any) -> None:
    """Store `value` under `key`, atomically; a folder we cannot write is no error."""
    folder = cache_dir()
    if folder is None:
        return
    import tempfile  # only on a miss: a run that reads the cache need not load it

    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=".packs-", dir=folder)
        try:
            with os.fdopen(handle, "wb") as file:
                pickle.dump(value, file, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(temporary, folder / f"packs-{key}.pickle")
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        _prune(folder)
    except Exception as exc:
        log.debug("rule pack cache not written in %s: %s", folder, exc)


def _prune(folder: Path) -> None:
    entries = sorted(folder.glob("packs-*.pickle"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in entries[_KEEP:]:
        old.unlink(missing_ok=True)
