"""Rewriting a sink file in place, for the rare changes that are not appends (un-suppress, erase).

The caller holds the file's exclusive flock (`files.locked`), the same lock every writer takes, so no
record is appended meanwhile. The new content goes to a temporary file beside it, which is fsynced,
given the old file's mode and owner (the operator may run the command as root; the worker must still
append afterwards), renamed over the name, and the folder fsynced. A reader or a crash sees the old
file or the new one, never a mix. A writer that was waiting for the lock on the old file finds the
name moved on and takes the lock on the new one (see `files.locked`); a writer that remembers what it
read notices the new inode and reads it afresh.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from pathlib import Path

from dsnworker.sinks.files import LockedFile, SinkError, file_problem, fsync_directory
from dsnworker.worker.faults import crash_point


def temporary_path(path: Path) -> Path:
    """Where the new content is written: hidden, beside the file (a rename never crosses file systems)."""
    return path.with_name(f".{path.name}.rewrite")


def replace_content(file: LockedFile, records: Iterable[bytes]) -> tuple[tuple[int, int], int]:
    """Make ``records`` the whole content of the locked file, atomically; (new identity, new size)."""
    path = file.path
    temporary = temporary_path(path)
    before = os.fstat(file.fd)
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise file_problem(path, exc) from exc
    try:
        with open(fd, "wb", closefd=False) as out:
            for record in records:
                out.write(record)
        os.fsync(fd)
        _same_owner_and_mode(fd, before, path)
        crash_point("rewrite_before_rename")
        os.replace(temporary, path)
        fsync_directory(path.parent)
        after = os.fstat(fd)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise file_problem(path, exc) from exc
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    finally:
        os.close(fd)
    crash_point("rewrite_after_rename")
    return (after.st_dev, after.st_ino), after.st_size


def _same_owner_and_mode(fd: int, before: os.stat_result, path: Path) -> None:
    os.fchmod(fd, before.st_mode & 0o7777)
    if (before.st_uid, before.st_gid) == (os.getuid(), os.getgid()):
        return
    try:
        os.fchown(fd, before.st_uid, before.st_gid)
    except PermissionError:
        # the worker (its owner) could no longer append to a file owned by us
        raise SinkError(
            path,
            f"is owned by uid {before.st_uid}: rewriting it as uid {os.getuid()} would take it from the "
            "worker; run the command as that user (or as root)",
        ) from None
