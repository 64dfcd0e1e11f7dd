"""An mbox as a worker source: read in pieces, the same messages as `dsnworker parse` splits, and
only when it is a regular file."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsnworker import inputs
from dsnworker.inputs import index_mbox, iter_messages, mbox_message
from dsnworker.worker.local import MboxSource
from dsnworker.worker.settings import Disposition, MailboxSettings
from dsnworker.worker.source import SourceError
from tests import mailgen

PIECES = [
    b"From MAILER-DAEMON Thu Nov 26 02:30:00 2026\n",
    b"From someone without a time\n",
    b">From quoted 10:00\n",
    b"From: header@example.jp\n",
    b"Subject: x\n",
    b"\n",
    b"body text\n",
    b"From a sentence in prose\n",
    b"x" * 700 + b"\n",
]


def split_as_parse_does(path: Path) -> list[bytes]:
    return [data for _, data in iter_messages([str(path)], lambda _, exc: pytest.fail(str(exc)))]


def split_by_index(path: Path) -> list[bytes] | None:
    fd = os.open(path, os.O_RDONLY)
    try:
        spans = index_mbox(fd)
        return None if spans is None else [mbox_message(os.pread(fd, end - start, start)) for start, end in spans]
    finally:
        os.close(fd)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=40), st.sampled_from([64, 450, 1000, 4 << 20]))
def test_the_index_splits_exactly_where_parse_splits(tmp_path_factory, pieces, chunk):
    path = tmp_path_factory.mktemp("mbox") / "box"
    path.write_bytes(PIECES[0] + b"".join(pieces))
    original = inputs._INDEX_CHUNK
    inputs._INDEX_CHUNK = chunk  # separators across every kind of chunk boundary
    try:
        assert split_by_index(path) == split_as_parse_does(path)
    finally:
        inputs._INDEX_CHUNK = original


def test_a_file_the_index_cannot_read_in_pieces_is_read_whole_with_the_same_messages(tmp_path):
    path = tmp_path / "crlf.mbox"
    path.write_bytes(
        b"From a Thu Nov 26 02:30:00 2026\r\nSubject: 1\r\n\r\nx\r\n\r\nFrom b Thu Nov 26 02:31:00 2026\r\n\r\ny\r\n"
    )
    assert split_by_index(path) is None
    source = MboxSource(MailboxSettings("m", "mbox", path=path, after=Disposition("none")))
    source.open()
    assert [m.data for m in source.fetch(source.new_uids(0))] == split_as_parse_does(path) and source._count() == 2
    source.close()


def test_an_mbox_is_read_a_batch_at_a_time_not_whole(tmp_path, monkeypatch):
    path = tmp_path / "bounces.mbox"
    messages = [mailgen.dsn(f"u{n}@example.jp", serial=n).replace(b"\r\n", b"\n") for n in range(200)]
    path.write_bytes(b"".join(b"From MAILER-DAEMON Thu Nov 26 02:30:00 2026\n" + m + b"\n" for m in messages))
    monkeypatch.setattr(inputs, "_INDEX_CHUNK", 64 * 1024)
    read: list[int] = []
    real_pread = os.pread

    def pread(fd: int, length: int, offset: int) -> bytes:
        read.append(length)
        return real_pread(fd, length, offset)

    monkeypatch.setattr(os, "pread", pread)
    source = MboxSource(MailboxSettings("m", "mbox", path=path, after=Disposition("none")))
    source.open()
    assert max(read) == 64 * 1024  # indexing: one chunk at a time, whatever the file's size
    read.clear()
    fetched = list(source.fetch([1, 2, 3]))
    assert sum(read) == sum(len(m.data) for m in fetched)  # those three messages, nothing more
    assert [m.data for m in fetched] == split_as_parse_does(path)[:3]
    source.close()


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_an_mbox_that_is_no_regular_file_is_refused_at_open_without_blocking(tmp_path, kind):
    path = tmp_path / "bounces.mbox"
    if kind == "fifo":
        os.mkfifo(path)  # made after the configuration was loaded: open() must not wait for a writer
    else:
        path.symlink_to("/dev/zero")  # would be read for ever
    source = MboxSource(MailboxSettings("m", "mbox", path=path, after=Disposition("none")))

    def hung(signum: int, frame: object) -> None:
        raise TimeoutError("open() blocked")

    previous = signal.signal(signal.SIGALRM, hung)  # a watchdog against a hang, not a timing
    signal.alarm(30)
    try:
        with pytest.raises(SourceError) as caught:
            source.open()
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert str(caught.value) == f"mailbox 'm': {path} is not a regular file: an mbox source must be one"
    assert not caught.value.retryable


def test_an_empty_mbox_holds_no_message(tmp_path):
    path = tmp_path / "bounces.mbox"
    path.write_bytes(b"")
    source = MboxSource(MailboxSettings("m", "mbox", path=path, after=Disposition("none")))
    source.open()
    assert source.new_uids(0) == []
