"""The worker with `jobs = 2`: the messages analysed in child processes give the outputs of one process,
and a child that dies costs the batch nothing."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from dsnworker.pool import RuleSet
from dsnworker.worker.config import load_settings
from dsnworker.worker.runner import Worker
from tests import mailgen, processes
from tests.test_worker_crash import outputs, setup

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def one_process(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    root = tmp_path_factory.mktemp("one-process")
    result = processes.run("poll", "-c", setup(root, jobs=1))
    assert result.returncode == 0, result.stderr
    return outputs(root)


def test_two_jobs_give_the_outputs_of_one(tmp_path: Path, one_process: dict[str, object]) -> None:
    result = processes.run("poll", "-c", setup(tmp_path, jobs=2))
    assert result.returncode == 0, result.stderr
    assert "new=63 bounces=61 recipients=61 suppressed=20 not_bounce=1 unparsed=1" in result.stdout
    assert outputs(tmp_path) == one_process


def test_an_analysing_process_killed_costs_the_pass_nothing_but_a_log_line(
    tmp_path: Path, one_process: dict[str, object], caplog: pytest.LogCaptureFixture
) -> None:
    worker = Worker(load_settings(setup(tmp_path, jobs=2)))
    try:
        assert worker.pool is not None
        worker.pool.outcomes_later(RuleSet(), None, [("warm-up", b"Subject: hi\n\nhello\n")])()  # start it
        victim = worker.pool.pids()[0]
        os.kill(victim, signal.SIGKILL)
        assert processes.wait_until(lambda: not Path(f"/proc/{victim}").exists() or _zombie(victim))
        with caplog.at_level(logging.ERROR):
            summary = worker.poll()[0]
    finally:
        worker.close_pool()
        worker.store.close()
    assert not summary.errors
    assert "an analysing process died" in caplog.text
    assert outputs(tmp_path) == one_process


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


# run in a process of its own: the fork server is one per process, and another test may have started it
_PRELOAD_PROBE = """
import sys
from dsnworker.pool import AnalysisPool, RuleSet, start_fork_server
from tests.test_worker_jobs import analyser_origin
shipped, overridden = RuleSet(), RuleSet((), (("mailbox_full", "suppress"),))
start_fork_server([shipped])  # as the worker does at start, with the rule sets of its mailboxes
pool = AnalysisPool(2, {shipped: shipped.analyser(), overridden: overridden.analyser()})
try:
    print(*pool.map(analyser_origin, [[("probe", sys.argv[1].encode())]] * 2, shipped), pool.start_method)
    print(*pool.map(analyser_origin, [[("probe", sys.argv[1].encode())]], overridden))
finally:
    pool.close()
"""


def analyser_origin(rules: RuleSet, chunk: list[tuple[str, bytes]]) -> str:
    """In a child: whether its analyser of `rules` came loaded from the fork server, and what it read."""
    from dsnworker import pool

    (outcome,) = pool.analyse_chunk(rules, None, chunk)[0]
    origin = "preloaded" if pool.preloaded.get(rules) is pool._analyser(rules) else "loaded"
    return f"{origin}:{outcome.verdict.reason}"


def test_the_children_start_with_the_rules_the_fork_server_loaded(tmp_path: Path) -> None:
    # each child loading the packs itself cost ~200 ms of CPU, on the first batch's path
    bounce = mailgen.dsn("gone@example.jp", serial=1).decode()
    probe = subprocess.run(
        [sys.executable, "-c", _PRELOAD_PROBE, bounce], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert probe.returncode == 0, probe.stderr
    first, second = probe.stdout.splitlines()
    assert first == "preloaded:user_unknown preloaded:user_unknown forkserver"
    assert second == "loaded:user_unknown"  # a rule set the server was not given: the child loads it
