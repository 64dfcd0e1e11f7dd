"""`dsnworker parse --jobs N` and the analysis pool: the same bytes for any N, in input order, and
children that never outlive their parent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from dsnworker.pool import AnalysisPool, RuleSet, batch_chunk_size
from dsnworker.work_split import CHUNK_MESSAGES, chunked
from tests import mailgen, processes
from tests.conftest import corpus_dir, external_corpus_dirs
from tests.watchdog import watchdog


def parse(*args: object) -> bytes:
    command = [sys.executable, "-m", "dsnworker", "parse", *map(str, args)]
    result = subprocess.run(command, capture_output=True, env=processes.environment(), timeout=300)
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout


def test_two_jobs_give_the_bytes_of_one_job_over_the_corpus_in_input_order() -> None:
    emails = corpus_dir() / "emails"
    assert sum(1 for _ in emails.iterdir()) > 2 * CHUNK_MESSAGES  # more than one chunk: the pool is used
    one = parse("--jobs", "1", emails)
    assert parse("--jobs", "2", emails) == one
    assert parse("--jobs", "3", "--format", "table", emails) == parse("--jobs", "1", "--format", "table", emails)
    sources = [line.split(b'"source": "', 1)[1].split(b'"', 1)[0] for line in one.splitlines()]
    assert sources == sorted(sources)  # a folder is read in name order, and so written


def test_two_jobs_give_the_bytes_of_one_job_over_the_external_corpora_and_an_mbox(tmp_path: Path) -> None:
    folders = external_corpus_dirs()
    mbox = tmp_path / "bounces.mbox"
    mbox.write_bytes(
        b"".join(b"From MAILER-DAEMON Sat Nov 28 02:30:00 2026\n" + mailgen.dsn(f"u{n}@example.jp", serial=n) + b"\n"
                 for n in range(3 * CHUNK_MESSAGES))
    )  # fmt: skip
    assert parse("--jobs", "2", *folders, mbox) == parse("--jobs", "1", *folders, mbox)


def test_a_number_of_jobs_below_one_is_refused_with_what_is_expected() -> None:
    result = processes.run("parse", "--jobs", "0", "-")
    assert result.returncode == 2
    assert "--jobs: expected a number of processes >= 1, got '0'" in result.stderr


def test_the_pool_gives_each_message_its_outcomes_in_order(analyser) -> None:
    messages = [
        (f"m{n}", mailgen.dsn(f"user{n}@example.jp", ("user_unknown", "mailbox_full")[n % 2], n)) for n in range(50)
    ]
    pool = AnalysisPool(2, {})
    try:
        outcomes = pool.outcomes_later(RuleSet(), None, messages)()
    finally:
        pool.close()
    assert outcomes == [analyser.analyse(data, source) for source, data in messages]


@pytest.mark.parametrize("method", ["fork", "forkserver"])
def test_when_a_child_dies_the_pool_stops_its_siblings_though_they_ignore_sigterm(method: str, monkeypatch) -> None:
    # the children ignore SIGTERM; the executor "terminates" the siblings of a dead child and joins
    # them (on 3.12.1 holding the lock every submit takes): terminating must kill, or the pool hangs
    monkeypatch.setattr(AnalysisPool, "start_method", property(lambda self: method))
    messages = [(f"m{n}", mailgen.dsn(f"user{n}@example.jp", "user_unknown", n)) for n in range(8)]
    pool = AnalysisPool(2, {})
    try:
        pool.outcomes_later(RuleSet(), None, messages)()  # both children started and idle
        first, sibling = pool.pids()
        os.kill(first, signal.SIGKILL)
        assert processes.wait_until(lambda: not _alive(sibling), timeout=30), "the sibling was never stopped"
    finally:
        pool.close()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][0] != "Z"  # a zombie has exited
    except FileNotFoundError:
        return False


def test_a_batch_is_shared_by_every_child_however_small() -> None:
    assert batch_chunk_size(7, 2) == 2  # 4 chunks for 2 children, never one chunk for one child
    assert batch_chunk_size(1, 2) == 1
    assert batch_chunk_size(500, 2) == CHUNK_MESSAGES  # a large batch: chunks large enough for IPC to be cheap


def test_chunks_are_bounded_by_count_and_by_bytes() -> None:
    small = [(f"s{n}", b"x" * 10) for n in range(CHUNK_MESSAGES + 1)]
    assert [len(c) for c in chunked(small)] == [CHUNK_MESSAGES, 1]
    big = [(f"b{n}", b"x" * 600_000) for n in range(3)]
    assert [len(c) for c in chunked(big)] == [2, 1]


_ORPHAN_SCRIPT = """
import sys
from dsnworker.pool import AnalysisPool, RuleSet
pool = AnalysisPool(2, {}, fork_safe=sys.argv[1] == "fork")
pool.outcomes_later(RuleSet(), None, [("a", b"Subject: hi\\n\\nhello\\n")] * 4)()
print("ready", flush=True)
sys.stdin.read()
"""


@pytest.mark.parametrize("method", ["fork", "forkserver"])
def test_the_children_exit_when_their_parent_is_killed(method: str) -> None:
    """A parent killed with SIGKILL must not leave its children waiting for work for ever."""
    mark = f"DSNWORKER_POOL_TEST_{os.getpid()}_{method}"
    parent = subprocess.Popen(
        [sys.executable, "-c", _ORPHAN_SCRIPT, method],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=processes.environment({mark: "1"}),
        text=True,
    )
    with watchdog(120, "starting the pool"):
        assert parent.stdout is not None and parent.stdout.readline() == "ready\n"
        children = [pid for pid in _marked(mark) if pid != parent.pid]
        assert len(children) >= 2  # the two analysing children (and, for forkserver, its server)
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        assert processes.wait_until(lambda: not _marked(mark), timeout=60), f"left running: {_marked(mark)}"


def _marked(mark: str) -> list[int]:
    """The live processes whose environment holds `mark`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if f"{mark}=1".encode() in environ.split(b"\0") and state != "Z":
            found.append(int(entry.name))
    return found
