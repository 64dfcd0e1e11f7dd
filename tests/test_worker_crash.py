"""Exactly once across crashes: the worker is killed with SIGKILL at chosen points and at random
moments, restarted, and its outputs must equal those of a run that was never interrupted.

These run `dsnworker poll` as a real process on a maildir (the IMAP variant is in test_worker_imap.py).
"""

from __future__ import annotations

import contextlib
import json
import random
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from dsnworker.sinks.suppression import iter_suppressions
from tests import mailgen, processes


def messages() -> list[bytes]:
    made = []
    for n in range(60):
        kind = ("user_unknown", "mailbox_full", "spamhaus")[n % 3]
        made.append(mailgen.dsn(f"user{n % 45}@example.jp", kind, n))
    made += [mailgen.personal(100), mailgen.garbage(101), mailgen.auto_reply(102)]
    return made


def setup(root: Path, batch_size: int = 7, jobs: int = 1) -> Path:
    maildir = root / "mail"
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True)
    for number, data in enumerate(messages()):
        (maildir / "new" / f"{1700000000 + number}.M{number}P1.test").write_bytes(data)
    config = root / "config.toml"
    config.write_text(
        'state = "state.sqlite"\n'
        f"jobs = {jobs}\n"
        "[[mailbox]]\n"
        'name = "bounces"\n'
        'source = "maildir:mail"\n'
        f"batch_size = {batch_size}\n"
        "[mailbox.policy]\n"
        "soft_threshold = 3\n"
        "[[sink]]\n"
        'name = "suppressions"\n'
        'type = "suppression_file"\n'
        'path = "suppressions.csv"\n'
        "[[sink]]\n"
        'name = "events"\n'
        'type = "events_file"\n'
        'path = "events.jsonl"\n'
    )
    return config


def poll(config: Path, crash_at: str | None = None) -> subprocess.CompletedProcess[str]:
    return processes.run("poll", "-c", config, crash_at=crash_at)


def outputs(root: Path) -> dict[str, object]:
    events = [json.loads(line) for line in (root / "events.jsonl").read_text().splitlines()]
    ids = [e["id"] for e in events]
    assert len(ids) == len(set(ids)), "an event was written twice"
    emails = [row["email"] for row in iter_suppressions(root / "suppressions.csv", "csv")]
    assert len(emails) == len(set(emails)), "an address was suppressed twice"
    incidents = [e for e in events if e["type"].startswith("incident.")]
    return {
        # incident updates come one per batch, and a restart changes the batches: compare their outcome
        "events": sorted(i for i, e in zip(ids, events, strict=True) if e["type"] != "incident.updated"),
        "suppressed": sorted(emails),
        "incident_opened": sum(e["type"] == "incident.opened" for e in incidents),
        "incident_count": max(e["data"]["count"] for e in incidents),
        "processed": len(list((root / "mail" / ".Processed" / "cur").iterdir())),
        "unparsed": len(list((root / "mail" / ".Unparsed" / "cur").iterdir())),
        "left": len(list((root / "mail" / "new").iterdir())) + len(list((root / "mail" / "cur").iterdir())),
        "report": daily_counts(root / "state.sqlite"),
    }


def daily_counts(state: Path) -> list[tuple[object, ...]]:
    """The report's counts (per provider, reason, action, hardness), committed with the outcomes: each once."""
    with contextlib.closing(sqlite3.connect(state)) as db:
        query = "SELECT mailbox, provider, reason, action, hard, sum(count) FROM outcome_day GROUP BY 1, 2, 3, 4, 5"
        counts = sorted(db.execute(query).fetchall())
    assert counts, "nothing was counted for the report"
    return counts


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    root = tmp_path_factory.mktemp("reference")
    result = poll(setup(root))
    assert result.returncode == 0, result.stderr
    expected = outputs(root)
    assert expected["incident_opened"] == 1 and expected["incident_count"] == 20
    assert expected["left"] == 1  # the personal mail
    return expected


@pytest.mark.parametrize(
    "crash_at", ["before_commit:3", "after_commit:3", "after_sink_write:2", "after_deliver:3", "after_dispose:3"]
)
def test_killed_at_a_chosen_point_then_restarted_gives_the_same_outputs(
    tmp_path: Path, reference: dict[str, object], crash_at: str
) -> None:
    config = setup(tmp_path)
    crashed = poll(config, crash_at)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    resumed = poll(config)
    assert resumed.returncode == 0, resumed.stderr
    assert outputs(tmp_path) == reference


def test_killed_at_random_moments_then_restarted_gives_the_same_outputs(
    tmp_path: Path, reference: dict[str, object]
) -> None:
    config = setup(tmp_path, batch_size=3)
    rng = random.Random(20261128)
    for _ in range(6):
        process = processes.start("poll", "-c", config, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.3, 1.0))  # start-up is ~0.3 s, a pass ~0.3 s more
        process.send_signal(signal.SIGKILL)
        process.wait()
    final = poll(config)
    assert final.returncode == 0, final.stderr
    assert outputs(tmp_path) == reference


@pytest.mark.parametrize("crash_at", ["before_commit:3", "after_commit:3", "after_dispose:3"])
def test_killed_while_two_processes_analyse_then_restarted_gives_the_same_outputs(
    tmp_path: Path, reference: dict[str, object], crash_at: str
) -> None:
    config = setup(tmp_path, jobs=2)
    crashed = poll(config, crash_at)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    resumed = poll(config)
    assert resumed.returncode == 0, resumed.stderr
    assert outputs(tmp_path) == reference


def test_two_jobs_killed_at_random_moments_then_restarted_give_the_same_outputs(
    tmp_path: Path, reference: dict[str, object]
) -> None:
    config = setup(tmp_path, batch_size=3, jobs=2)
    rng = random.Random(20261204)
    for _ in range(4):
        process = processes.start("poll", "-c", config, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.3, 1.2))  # start-up is ~0.3 s, the children's ~0.2 s more, a pass ~0.3 s
        process.send_signal(signal.SIGKILL)
        process.wait()
    final = poll(config)
    assert final.returncode == 0, final.stderr
    assert outputs(tmp_path) == reference
