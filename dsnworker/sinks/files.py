"""Append-only files that survive crashes: an exclusive lock, durable appends, torn-tail repair.

Both file sinks (the events file, the suppression file) are built on these helpers. The rules:

- Every writer holds an exclusive ``fcntl.flock`` on the file itself while it checks and appends, so
  the records of two processes never interleave and a check ("is this already written?") is still
  true when the write happens. ``flock`` locks belong to an open file description: two separate opens
  exclude each other even within one process. (On NFS, Linux emulates ``flock`` with byte-range
  locks; the sinks are meant for local files.)
- A batch is appended in one ``write`` (a loop only if the kernel writes less), then the file is
  fsynced, and its directory too when the file was new, so that the name survives a power loss.
- A crash in the middle of a write leaves a last record without its terminating newline. It was never
  acknowledged (the caller records progress only after ``fsync`` returned), so the next writer, under
  the lock, cuts it off before appending. Readers that do not take the lock skip it.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from dsnworker.errors import DsnworkerError

_CHUNK = 64 * 1024


class SinkError(DsnworkerError):
    """A sink's file cannot be used as it is; names the file and says what is wrong."""

    def __init__(self, path: Path, problem: str) -> None:
        self.path, self.problem = path, problem
        super().__init__(f"{path}: {problem}")


def file_problem(path: Path, exc: OSError) -> SinkError:
    """The error to show for `exc` met while writing the sink file `path`: what happened and what to do."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        action = "free space there; its events wait in the state's outbox and are written once there is room"
    elif exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        action = f"make the file and {path.parent} writable for the user dsnworker runs as; its events wait meanwhile"
    else:
        action = "check the disk; its events wait in the state's outbox meanwhile"
    return SinkError(path, f"cannot be written ({exc.strerror or exc}): {action}")


class LockedFile:
    """An open file held under an exclusive flock; it is only appended to, or cut back to a record end."""

    def __init__(self, path: Path, fd: int, created: bool) -> None:
        self.path, self.fd, self.created = path, fd, created

    @property
    def identity(self) -> tuple[int, int]:
        """(device, inode): tells a file replaced under the same name (rotation) from the one read before."""
        st = os.fstat(self.fd)
        return st.st_dev, st.st_ino

    def size(self) -> int:
        return os.fstat(self.fd).st_size

    def read(self, offset: int, length: int) -> bytes:
        """``length`` bytes from ``offset`` (fewer only at the end of the file)."""
        parts: list[bytes] = []
        while length > 0:
            part = os.pread(self.fd, min(length, 1 << 24), offset)
            if not part:
                break
            parts.append(part)
            offset += len(part)
            length -= len(part)
        return b"".join(parts)

    def records(self, offset: int, *, csv_quotes: bool) -> Iterator[tuple[bytes, int]]:
        """The complete records from ``offset`` (a record boundary) on; see ``iter_records``."""
        with open(self.fd, "rb", closefd=False) as stream:
            stream.seek(offset)
            yield from iter_records(stream, offset, csv_quotes=csv_quotes)

    def end_of_last_line(self, size: int) -> int:
        """The offset just after the last newline before ``size`` (0 if none), reading backwards."""
        pos = size
        while pos > 0:
            start = max(0, pos - _CHUNK)
            found = self.read(start, pos - start).rfind(b"\n")
            if found >= 0:
                return start + found + 1
            pos = start
        return 0

    def tail_lines(self, end: int, count: int) -> bytes:
        """The last ``count`` complete lines before ``end`` (a line end), or all there are; reads only the tail."""
        chunks: list[bytes] = []
        newlines, start = 0, end
        while start > 0 and newlines <= count:
            chunk_start = max(0, start - _CHUNK)
            chunk = self.read(chunk_start, start - chunk_start)
            chunks.append(chunk)
            newlines += chunk.count(b"\n")
            start = chunk_start
        data = b"".join(reversed(chunks))
        if newlines > count:  # cut after the newline that ends the line before the last ``count``
            cut = len(data)
            for _ in range(count + 1):
                cut = data.rindex(b"\n", 0, cut)
            data = data[cut + 1 :]
        return data

    def repair_torn_line(self) -> int:
        """Cut off a last line without its newline (a crash mid-write); returns the size after."""
        size = self.size()
        if size == 0 or self.read(size - 1, 1) == b"\n":
            return size  # the usual case: one byte read, not a chunk
        end = self.end_of_last_line(size)
        if end < size:
            self.truncate(end)
        return end

    def truncate(self, size: int) -> None:
        """Cut the file back to ``size`` (a record end), durably."""
        try:
            os.ftruncate(self.fd, size)
            os.fsync(self.fd)
        except OSError as exc:
            raise file_problem(self.path, exc) from exc

    def append(self, data: bytes) -> int:
        """Append ``data`` at the end and fsync (and the directory when the file was new); returns the new size."""
        before = self.size()
        view = memoryview(data)
        try:
            while view:  # O_APPEND: every write lands at the end; a short write is continued, still under the lock
                written = os.write(self.fd, view)
                view = view[written:]
            os.fsync(self.fd)
            if self.created or before == 0:
                # an empty file also covers a creator that crashed before it fsynced the directory
                fsync_directory(self.path.parent)
        except OSError as exc:
            # a full disk mid-write: take back the part written, so that no reader sees half a record
            with contextlib.suppress(OSError):
                os.ftruncate(self.fd, before)
            raise file_problem(self.path, exc) from exc
        return self.size()


@contextmanager
def locked(path: Path) -> Iterator[LockedFile]:
    """Open (create if missing) ``path`` for appending and hold an exclusive flock until the block ends.

    If the file was renamed or deleted while we waited for the lock (log rotation), the lock is taken
    again on the file now at ``path``, so that no one appends to a file that has left its name.
    """
    flags = os.O_RDWR | os.O_APPEND | os.O_CLOEXEC
    while True:
        try:
            opened = _open(path, flags)
        except OSError as exc:
            raise file_problem(path, exc) from exc
        if opened is None:  # deleted between the two opens
            continue
        fd, created = opened
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            st = os.fstat(fd)
            try:
                now = os.stat(path)
                same = (now.st_dev, now.st_ino) == (st.st_dev, st.st_ino)
            except FileNotFoundError:
                same = False
            if same:
                yield LockedFile(path, fd, created)
                return
        finally:
            os.close(fd)  # closing the last descriptor releases the flock


def _open(path: Path, flags: int) -> tuple[int, bool] | None:
    """(descriptor, created): the file at ``path``, made if missing; None if it vanished meanwhile."""
    try:
        return os.open(path, flags | os.O_CREAT | os.O_EXCL, 0o666), True
    except FileExistsError:
        try:
            return os.open(path, flags), False
        except FileNotFoundError:
            return None


def iter_records(stream: BinaryIO, offset: int, *, csv_quotes: bool) -> Iterator[tuple[bytes, int]]:
    """The complete records of ``stream`` from its position (``offset``, a record boundary): (bytes, end offset).

    A record ends with a newline; with ``csv_quotes``, only with a newline outside a quoted field, which
    for the output of the ``csv`` module (a field holding a quote is quoted, its quotes doubled) is a
    newline after an even number of quote characters since the record began. A last record that is not
    complete (torn by a crash, or being written by someone else) is not yielded.
    """
    parts: list[bytes] = []
    quotes = 0
    for line in stream:
        if not line.endswith(b"\n"):
            return
        offset += len(line)
        parts.append(line)
        if csv_quotes:
            quotes += line.count(b'"')
            if quotes % 2:
                continue
        yield b"".join(parts), offset
        parts.clear()
        quotes = 0


def fsync_directory(path: Path) -> None:
    """Make the entries of directory ``path`` (a new file's name) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
