"""What the pipeline needs from a mailbox, whatever holds it (IMAP, a maildir, an mbox file)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from dsnworker.errors import DsnworkerError
from dsnworker.worker.settings import Disposition


class SourceError(DsnworkerError):
    """A mailbox could not be reached or used; the message names the mailbox and says why."""

    def __init__(self, mailbox: str, problem: str, *, retryable: bool = True) -> None:
        self.mailbox, self.problem, self.retryable = mailbox, problem, retryable
        super().__init__(f"mailbox {mailbox!r}: {problem}")


@dataclass(frozen=True)
class FetchedMessage:
    uid: int  # IMAP UID; for local sources a number stable within one pass
    data: bytes
    size: int  # the full size (RFC822.SIZE), even when truncated
    truncated: bool = False  # over the size limit: only the header and the first part were taken
    unreadable: str | None = None  # the server refused to return it (its words); data is empty


class MailSource(Protocol):
    """One mailbox folder. Not thread-safe: one pass uses it at a time."""

    name: str

    def open(self) -> None:
        """Connect, log in, select the folder. Raises SourceError."""

    def close(self) -> None:
        """Log out / release; never raises."""

    @property
    def uidvalidity(self) -> int | None:
        """The folder's UIDVALIDITY after `open` (None for sources without one)."""

    def new_uids(self, after_uid: int) -> list[int]:
        """UIDs greater than `after_uid`, ascending (IMAP: `UID SEARCH UID n:*`, never ALL)."""

    def fetch(self, uids: Sequence[int]) -> Iterator[FetchedMessage]:
        """The messages, in `uids` order, fetched in batches; a UID that vanished is skipped."""

    def sizes(self, uids: Sequence[int]) -> dict[int, int]:
        """UID -> size in bytes (IMAP: `UID FETCH (RFC822.SIZE)`); vanished UIDs are absent."""

    def fetch_later(
        self, uids: Sequence[int], sizes: Mapping[int, int] | None = None
    ) -> Callable[[], list[FetchedMessage]]:
        """Start fetching one batch (its `sizes` when known); the returned function gives the messages
        (IMAP: a pipelined FETCH)."""

    def dispose(self, uids: Sequence[int], disposition: Disposition) -> None:
        """Apply a disposition to messages (move creates the folder when missing); vanished UIDs are fine."""

    def dispose_later(self, uids: Sequence[int], disposition: Disposition) -> Callable[[], None]:
        """Start a disposition; the returned function waits until it is done (IMAP: pipelined MOVE)."""

    def wait_for_new(self, timeout: float) -> bool:
        """Block up to `timeout` s (IMAP IDLE) and say whether new mail may have arrived."""
