"""Mailboxes on local disk, for MTAs that deliver bounces locally: a maildir, or an mbox file.

Neither has IMAP's UIDs: each `open` numbers the messages present, and the pipeline relies on the
processed-message keys (hashes of the bytes) rather than on a cursor. An mbox is read-only to us.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

from dsnworker.inputs import index_mbox, mbox_message, split_messages
from dsnworker.worker.settings import Disposition, MailboxSettings
from dsnworker.worker.source import FetchedMessage, SourceError


class _Immediate:
    """Local sources have no server to work meanwhile: `fetch_later` reads at once, `dispose_later`
    acts when waited for (where an IMAP disposition reports its answer)."""

    def fetch(self, uids: Sequence[int]) -> Iterator[FetchedMessage]:
        raise NotImplementedError

    def dispose(self, uids: Sequence[int], disposition: Disposition) -> None:
        raise NotImplementedError

    def fetch_later(
        self, uids: Sequence[int], sizes: Mapping[int, int] | None = None
    ) -> Callable[[], list[FetchedMessage]]:
        fetched = list(self.fetch(uids))
        return lambda: fetched

    def dispose_later(self, uids: Sequence[int], disposition: Disposition) -> Callable[[], None]:
        return lambda: self.dispose(uids, disposition)


class MaildirSource(_Immediate):
    """A maildir (`cur/`, `new/`); `move:X` files a message into the Maildir++ subfolder `.X`."""

    def __init__(self, settings: MailboxSettings) -> None:
        assert settings.path is not None
        self.name = settings.name
        self.root = settings.path
        self.limit = settings.max_message_bytes
        self._files: list[Path] = []

    def open(self) -> None:
        if not (self.root / "cur").is_dir() and not (self.root / "new").is_dir():
            raise SourceError(self.name, f"{self.root} is not a maildir (no cur/ or new/ folder)", retryable=False)
        files = []
        for sub in ("new", "cur"):
            folder = self.root / sub
            if folder.is_dir():
                files.extend(folder / name for name in os.listdir(folder) if not name.startswith("."))
        # maildir names start with the delivery time: sorting them is arrival order
        self._files = sorted(files, key=lambda path: path.name)

    def close(self) -> None:
        self._files = []

    @property
    def uidvalidity(self) -> int | None:
        return None

    def new_uids(self, after_uid: int) -> list[int]:
        return list(range(after_uid + 1, len(self._files) + 1))

    def fetch(self, uids: Sequence[int]) -> Iterator[FetchedMessage]:
        for uid in uids:
            try:
                with open(self._files[uid - 1], "rb") as file:
                    size = os.fstat(file.fileno()).st_size
                    # over the limit: its beginning only (the header and, usually, the first part)
                    data = file.read(self.limit)
            except (IndexError, FileNotFoundError):
                continue  # taken by someone else since `open`
            except OSError as exc:
                raise SourceError(self.name, f"cannot read {self._files[uid - 1]}: {exc.strerror}") from exc
            yield FetchedMessage(uid=uid, data=data, size=size, truncated=size > self.limit)

    def dispose(self, uids: Sequence[int], disposition: Disposition) -> None:
        """Move, flag or delete the files. A refusal (permissions, a file where the folder should be)
        is no transient fault: it is raised once for the lot, not retried (the pass goes on)."""
        paths = [self._files[uid - 1] for uid in uids if 0 < uid <= len(self._files)]
        if not paths:
            return
        target = self.root / f".{disposition.folder}" if disposition.kind == "move" else self.root / "cur"
        if disposition.kind == "move":
            try:
                for sub in ("cur", "new", "tmp"):
                    (target / sub).mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise SourceError(self.name, f"cannot create folder {target}: {_why(exc)}", retryable=False) from None
        refused: list[tuple[Path, OSError]] = []
        for path in paths:
            try:
                if disposition.kind == "move":
                    os.replace(path, target / "cur" / path.name)
                elif disposition.kind == "seen" and ":2," not in path.name:
                    os.replace(path, target / f"{path.name}:2,S")
                elif disposition.kind == "delete":
                    path.unlink()
            except FileNotFoundError:
                continue  # already moved: a disposition replayed after a crash
            except OSError as exc:
                refused.append((path, exc))
        if refused:
            path, exc = refused[0]
            where = f"from {path.parent} to {target / 'cur'}" if disposition.kind == "move" else f"in {path.parent}"
            raise SourceError(
                self.name, f"cannot {disposition} {len(refused)} message(s) {where}: {_why(exc)}", retryable=False
            )

    def sizes(self, uids: Sequence[int]) -> dict[int, int]:
        found = {}
        for uid in uids:
            with contextlib.suppress(IndexError, OSError):  # gone since `open`: absent, as IMAP says
                found[uid] = self._files[uid - 1].stat().st_size
        return found

    def wait_for_new(self, timeout: float) -> bool:
        return False


class MboxSource(_Immediate):
    """An mbox file, read-only: dispositions other than none/leave are refused by the config.

    `open` indexes where each message lies (4 MiB read at a time) and `fetch` reads the messages of a
    batch from there: a 300 MB mbox is never in memory whole. Only a regular file is read: a FIFO
    would block `open` (and SIGTERM with it), a device such as /dev/zero would never end.
    """

    def __init__(self, settings: MailboxSettings) -> None:
        assert settings.path is not None
        self.name = settings.name
        self.path = settings.path
        self._fd: int | None = None
        self._spans: list[tuple[int, int]] = []  # (start, end) of each message in the file
        self._messages: list[bytes] | None = None  # instead, for a file indexed whole (CR line ends)

    def open(self) -> None:
        self.close()
        try:  # O_NONBLOCK: opening a FIFO for reading would wait for a writer
            fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as exc:
            raise SourceError(self.name, f"cannot read {self.path}: {_why(exc)}", retryable=False) from None
        self._fd = fd
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            self.close()
            raise SourceError(
                self.name, f"{self.path} is not a regular file: an mbox source must be one", retryable=False
            )
        try:
            spans = None if self.path.suffix.lower() == ".eml" else index_mbox(fd)
            if spans is None:
                self._messages = _read_whole(fd, str(self.path))
            else:
                self._spans = spans
        except OSError as exc:
            self.close()
            raise SourceError(self.name, f"cannot read {self.path}: {_why(exc)}", retryable=False) from None

    def close(self) -> None:
        fd, self._fd = self._fd, None
        self._spans, self._messages = [], None
        if fd is not None:
            os.close(fd)

    @property
    def uidvalidity(self) -> int | None:
        return None

    def _count(self) -> int:
        return len(self._messages) if self._messages is not None else len(self._spans)

    def new_uids(self, after_uid: int) -> list[int]:
        return list(range(after_uid + 1, self._count() + 1))

    def fetch(self, uids: Sequence[int]) -> Iterator[FetchedMessage]:
        for uid in uids:
            if 0 < uid <= self._count():
                data = self._message(uid)
                yield FetchedMessage(uid=uid, data=data, size=len(data))

    def _message(self, uid: int) -> bytes:
        if self._messages is not None:
            return self._messages[uid - 1]
        assert self._fd is not None
        start, end = self._spans[uid - 1]
        try:
            return mbox_message(os.pread(self._fd, end - start, start))
        except OSError as exc:
            raise SourceError(self.name, f"cannot read {self.path}: {_why(exc)}") from exc

    def sizes(self, uids: Sequence[int]) -> dict[int, int]:
        if self._messages is not None:
            return {uid: len(self._messages[uid - 1]) for uid in uids if 0 < uid <= len(self._messages)}
        return {
            uid: end - start for uid in uids if 0 < uid <= len(self._spans) for start, end in [self._spans[uid - 1]]
        }

    def dispose(self, uids: Sequence[int], disposition: Disposition) -> None:
        if disposition.kind not in ("none", "leave"):
            raise SourceError(self.name, f"an mbox source is read-only: cannot {disposition}", retryable=False)

    def wait_for_new(self, timeout: float) -> bool:
        return False


def _read_whole(fd: int, source: str) -> list[bytes]:
    """Every message of a file `index_mbox` cannot index (CR line ends, no From_ line): read whole."""
    chunks = []
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    data = b"".join(chunks)
    return [message for _, message in split_messages(source, data)] if data else []


def _why(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__
