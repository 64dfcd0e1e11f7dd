"""The state file's life on disk: whether it may be created, and what to tell a user when it cannot be used.

A state that existed and is now missing, empty or damaged must not pass for a new install: the worker
would read every message still in its mailboxes again and count their soft bounces anew. So the first
start writes a marker beside the state (`STATE.created`) once the schema is committed; a later start
that finds the marker but no usable state stops with an error that names the file and says what to
do, and only an explicit `poll --new-state` starts afresh (a damaged file is kept aside, never deleted).

Every SQLite or OS error on the state becomes one `StateError` that names the file and the action
(free disk space, make the folder writable, restore a backup), instead of a traceback.
"""

from __future__ import annotations

import errno
import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from dsnworker.errors import DsnworkerError

_FULL_CODES = {"SQLITE_FULL"}
_READONLY_PREFIXES = ("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_PERM", "SQLITE_AUTH")
_DAMAGED_PREFIXES = ("SQLITE_CORRUPT", "SQLITE_NOTADB")
_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
_READONLY_ERRNOS = {errno.EROFS, errno.EACCES, errno.EPERM}

NEW_STATE_HINT = "`dsnworker poll --new-state -c CONFIG` once, then start the worker as usual"


class StateError(DsnworkerError):
    """The state file cannot be used as it is; the message names it and says what to do."""


def marker_path(state: Path) -> Path:
    return state.with_name(state.name + ".created")


def is_damaged(exc: BaseException) -> bool:
    name = getattr(exc, "sqlite_errorname", "") or ""
    return name.startswith(_DAMAGED_PREFIXES)


def state_problem(state: Path, exc: BaseException) -> StateError:
    """The error to show for `exc` met while using the state file `state`: what happened and what to do."""
    if isinstance(exc, StateError):
        return exc
    name = getattr(exc, "sqlite_errorname", "") or ""
    number = exc.errno if isinstance(exc, OSError) else None
    detail = f"{exc.strerror or exc}" if isinstance(exc, OSError) else str(exc)
    if name in _FULL_CODES or number in _FULL_ERRNOS:
        action = (
            f"the disk that holds it is full ({detail}): free space in {state.parent} (or move the state "
            "elsewhere); the batch in hand was rolled back and is done again once there is room, so nothing "
            "is lost or doubled"
        )
    elif name.startswith(_READONLY_PREFIXES) or number in _READONLY_ERRNOS:
        action = (
            f"cannot be written ({detail}): the worker writes the file and, beside it, its -wal, -shm and "
            f".lock files; make {state.parent} writable for the user dsnworker runs as (and check that the "
            "file system is not mounted read-only)"
        )
    elif name.startswith(_DAMAGED_PREFIXES):
        action = (
            f"is damaged ({detail}): stop the worker and restore the file from a backup; or, to start afresh "
            f"(every message still in the mailboxes is read again; the file sinks skip what they hold), run "
            f"{NEW_STATE_HINT}, which keeps the damaged file aside"
        )
    else:
        action = f"cannot be used ({type(exc).__name__}: {detail}): check the disk and the file"
    return StateError(f"state file {state}: {action}")


def check_existing(state: Path, *, new_state: bool) -> None:
    """Refuse to create a state where one existed, unless `new_state`; then keep what is left of it aside."""
    marker = marker_path(state)
    if not marker.exists():
        return  # a first start (or a state older than the marker: it is written when the state opens)
    size = _size(state)
    if size and size > 0:
        return
    what = "is missing" if size is None else "is empty"
    if not new_state:
        raise StateError(
            f"state file {state} {what}, but a state was created there before ({marker}): restore the file "
            f"from a backup; or, to start afresh (every message still in the mailboxes is read again and its "
            f"soft bounces counted anew; the file sinks skip what they hold), run {NEW_STATE_HINT}"
        )
    if size == 0:
        set_aside(state)


def set_aside(state: Path) -> Path:
    """Rename the state file (and its -wal and -shm) to `STATE.broken-TIME`: kept for a post-mortem."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    aside = state.with_name(f"{state.name}.broken-{stamp}")
    for suffix in ("", "-wal", "-shm"):
        source = state.with_name(state.name + suffix)
        if source.exists():
            os.replace(source, aside.with_name(aside.name + suffix))
    return aside


def write_marker(state: Path) -> None:
    """Note, beside the state, that it exists (durably: a power cut must not forget it)."""
    marker = marker_path(state)
    if marker.exists():
        return
    text = (
        f"dsnworker created the state file {state.name} here on {datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ}.\n"
        "While this file exists, dsnworker refuses to start on a missing or empty state file.\n"
    )
    temporary = marker.with_name(marker.name + ".tmp")
    with open(temporary, "w", encoding="utf-8") as file:
        file.write(text)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, marker)
    directory = os.open(state.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return None


def open_worker_lock(state: Path) -> tuple[IO[bytes], Path]:
    """The file whose exclusive `flock` makes a process the state's one worker: `STATE.lock` beside the
    real file (symlinks resolved: a second name for the state must not be a second lock), opened (made
    if missing); and the real file's path."""
    try:
        state.parent.mkdir(parents=True, exist_ok=True)
        real = state.resolve()
        return open(real.with_name(real.name + ".lock"), "ab"), real  # noqa: SIM115  # the caller holds it
    except OSError as exc:
        raise state_problem(state, exc) from exc


@contextmanager
def delivery_lock(state: Path) -> Iterator[None]:
    """Hold the exclusive flock on `STATE.delivery.lock` (beside the real state file) for the block."""
    real = state.resolve()
    try:
        fd = os.open(real.with_name(real.name + ".delivery.lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    except OSError as exc:
        raise state_problem(state, exc) from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock
