"""The worker with `jobs = 2`: the messages analysed in child processes give the outputs of one process,
and a child that dies costs the batch nothing."""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path

import pytest

from dsnworker.pool import RuleSet
from dsnworker.worker.config import load_settings
from dsnworker.worker.runner import Worker
from tests import processes
from tests.test_worker_crash import outputs, setup


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
