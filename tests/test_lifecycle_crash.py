"""The suppression lifecycle across SIGKILL: `suppressions remove`, expiry (in `poll`) and `erase` are
killed at each of their crash points, run again, and must end exactly where an uninterrupted run ends:
the address gone where they promise, every other row and event still there, nothing written twice.
"""

from __future__ import annotations

import json
import shutil
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from tests import processes
from tests.test_suppression_lifecycle import FULL, GONE, emails, events, suppressed_config
from tests.test_worker_crash import outputs

EXPIRY = 'expire_after = { mailbox_full = "1s" }\n'


@pytest.fixture(scope="module")
def polled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("polled")
    assert processes.run("poll", "-c", suppressed_config(root)).returncode == 0
    return root


def fresh(polled: Path, tmp_path: Path) -> Path:
    shutil.copytree(polled, tmp_path / "root")
    return tmp_path / "root"


def settled(root: Path) -> dict[str, object]:
    """The outputs once every pending delivery is done (the worker's next poll), checked for doubles."""
    result = processes.run("poll", "-c", root / "config.toml")
    assert result.returncode == 0, result.stderr
    found = outputs(root)  # asserts that no event and no address is written twice
    return {key: found[key] for key in ("events", "suppressed")}


# -- suppressions remove ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def removed(polled: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    root = fresh(polled, tmp_path_factory.mktemp("removed"))
    result = processes.run("suppressions", "remove", "-c", root / "config.toml", GONE, "--note", "n", "--by", "a")
    assert result.returncode == 0, result.stderr
    expected = settled(root)
    assert GONE not in expected["suppressed"]  # type: ignore[operator]
    return expected


@pytest.mark.parametrize(
    ("crash_at", "rerun_exit"),
    [
        ("after_unsuppress_commit", 0),  # the row is still there: found again, the same event id
        ("rewrite_before_rename", 0),
        ("rewrite_after_rename", 1),  # the row is gone: "not in a suppression file", the rest delivered
        ("after_sink_write:1", 1),
        ("after_sink_write:2", 1),
    ],
)
def test_remove_killed_then_run_again_ends_as_an_uninterrupted_remove(
    polled: Path, tmp_path: Path, removed: dict[str, object], crash_at: str, rerun_exit: int
) -> None:
    root = fresh(polled, tmp_path)
    command = ("suppressions", "remove", "-c", root / "config.toml", GONE, "--note", "n", "--by", "a")
    crashed = processes.run(*command, crash_at=crash_at)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    assert processes.run(*command).returncode == rerun_exit
    unsuppressed = [e for e in events(root) if e["type"] == "recipient.unsuppressed"]
    assert [e["data"]["recipient"] for e in unsuppressed] == [GONE]
    assert settled(root) == removed


# -- expiry ---------------------------------------------------------------------------------------


def with_expiry(root: Path) -> Path:
    config = root / "config.toml"
    config.write_text(config.read_text().replace("soft_threshold = 2\n", f"soft_threshold = 2\n{EXPIRY}"))
    time.sleep(1.5)  # the rows (timestamps to the second) are over a second old: no assertion on time
    return config


@pytest.fixture(scope="module")
def expired(polled: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    root = fresh(polled, tmp_path_factory.mktemp("expired"))
    with_expiry(root)
    expected = settled(root)
    assert FULL not in expected["suppressed"] and GONE in expected["suppressed"]  # type: ignore[operator]
    return expected


@pytest.mark.parametrize(
    "crash_at", ["after_expiry_commit", "rewrite_before_rename", "rewrite_after_rename", "after_sink_write:2"]
)
def test_expiry_killed_then_polled_again_ends_as_an_uninterrupted_poll(
    polled: Path, tmp_path: Path, expired: dict[str, object], crash_at: str
) -> None:
    root = fresh(polled, tmp_path)
    config = with_expiry(root)
    crashed = processes.run("poll", "-c", config, crash_at=crash_at)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    result = settled(root)
    # the ids of expiry events come from the rows, not the clock: the same as the reference run's
    assert result == expired


# -- erase ----------------------------------------------------------------------------------------


def trace(root: Path, address: str) -> list[str]:
    """Where the address still is: the files beside the config (the mailbox is not erase's), the state's rows."""
    found = [path.name for path in root.iterdir() if path.is_file() and address.encode() in path.read_bytes()]
    with sqlite3.connect(root / "state.sqlite") as db:
        for table in ("outbox", "soft_bounce", "suppression_history", "incident"):
            rows = db.execute(f"SELECT * FROM {table}").fetchall()  # noqa: S608  # fixed names
            found += [table for row in rows if address in json.dumps(row)]
    return found


@pytest.mark.parametrize(
    "crash_at",
    [
        "erase_after_state",
        "rewrite_before_rename",  # the suppression file (the first sink)
        "rewrite_after_rename",
        "rewrite_before_rename:2",  # the events file
        "rewrite_after_rename:2",
    ],
)
def test_erase_killed_then_run_again_leaves_no_trace_and_loses_nothing_else(
    polled: Path, tmp_path: Path, crash_at: str
) -> None:
    root = fresh(polled, tmp_path)
    assert trace(root, FULL)
    others = [e for e in events(root) if e["data"].get("recipient") != FULL]
    other_rows = [email for email in emails(root) if email != FULL]
    crashed = processes.run("erase", "-c", root / "config.toml", FULL, crash_at=crash_at)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    again = processes.run("erase", "-c", root / "config.toml", FULL)
    assert again.returncode == 0, again.stderr
    assert trace(root, FULL) == []
    assert events(root) == others
    assert emails(root) == other_rows
    assert not list(root.glob(".*.rewrite"))  # no temporary file left behind
