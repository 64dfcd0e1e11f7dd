"""A full disk or a read-only folder under the state or a sink: one error that names the path and says
what to do, never a traceback; and once the disk is back, everything exactly once.

The faults are real: a small tmpfs that fills up, or one remounted read-only (as root, chmod would
not stop us). Where mounting is not allowed the tests skip.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dsnworker.sinks.events_file import EventsFile
from dsnworker.sinks.files import SinkError
from dsnworker.worker.config import load_settings
from dsnworker.worker.runner import Worker
from dsnworker.worker.state import StateError, Store
from tests import mailgen, processes
from tests.conftest import Tmpfs
from tests.test_worker_pipeline import make_maildir

MESSAGES = 1200


def bounces() -> list[bytes]:
    kinds = ("user_unknown", "mailbox_full")
    return [mailgen.dsn(f"user{n % 40}@example.jp", kinds[n % 2], n) for n in range(MESSAGES)]


def config(root: Path, state: str, events: str = "events.jsonl") -> Path:
    path = root / "config.toml"
    path.write_text(
        f'state = "{state}"\n'
        '[[mailbox]]\nname = "bounces"\nsource = "maildir:mail"\nbatch_size = 100\n'
        f'[[sink]]\nname = "events"\ntype = "events_file"\npath = "{events}"\n'
        '[[sink]]\nname = "suppressions"\ntype = "suppression_file"\npath = "suppressions.csv"\n'
    )
    return path


def event_ids(path: Path) -> list[str]:
    return [json.loads(line)["id"] for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The event ids of the same mailbox processed on a disk with room."""
    root = tmp_path_factory.mktemp("reference")
    make_maildir(root / "mail", bounces())
    worker = Worker(load_settings(config(root, "state.sqlite")))
    (summary,) = worker.poll()
    assert summary.errors == [] and summary.new == MESSAGES
    worker.store.close()
    return sorted(event_ids(root / "events.jsonl"))


def test_a_full_disk_under_the_state_is_one_error_and_nothing_is_lost_or_doubled_once_there_is_room(
    tmp_path: Path, tmpfs: Tmpfs, reference: list[str]
) -> None:
    tmpfs.mount("400k")  # the state of 1,200 bounces needs about 2 MB
    make_maildir(tmp_path / "mail", bounces())
    worker = Worker(load_settings(config(tmp_path, "small/state.sqlite")))
    with pytest.raises(StateError) as raised:
        worker.poll()
    message = str(raised.value)
    assert str(tmp_path / "small" / "state.sqlite") in message and "is full" in message and "free space" in message
    tmpfs.remount("size=20m")  # the disk is back: the same worker goes on where it stopped
    (summary,) = worker.poll()
    assert summary.errors == [] and summary.new + summary.duplicates == MESSAGES
    assert sorted(event_ids(tmp_path / "events.jsonl")) == reference  # each event once, none missing
    assert len(list((tmp_path / "mail" / ".Processed" / "cur").iterdir())) == MESSAGES
    worker.store.close()


def test_a_full_disk_under_the_state_stops_poll_with_one_line_naming_the_file(tmp_path: Path, tmpfs: Tmpfs) -> None:
    tmpfs.mount("400k")
    make_maildir(tmp_path / "mail", bounces())
    result = processes.run("poll", "-c", config(tmp_path, "small/state.sqlite"))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert f"state file {tmp_path / 'small' / 'state.sqlite'}: the disk that holds it is full" in result.stderr


def test_a_read_only_state_folder_is_one_error_naming_the_file(tmp_path: Path, tmpfs: Tmpfs) -> None:
    tmpfs.mount("10m")
    make_maildir(tmp_path / "mail", [mailgen.dsn("gone@example.jp", serial=1)])
    path = config(tmp_path, "small/state.sqlite")
    assert processes.run("poll", "-c", path).returncode == 0
    tmpfs.remount("ro")
    # poll refuses at start (its preflight writes a probe file beside the state) ...
    result = processes.run("poll", "-c", path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"{path}: state: cannot write in the folder" in result.stderr and str(tmp_path / "small") in result.stderr
    # ... and a folder that turns read-only under a running worker is the state's own one error
    with pytest.raises(StateError) as raised:
        Store(tmp_path / "small" / "other.sqlite")
    message = str(raised.value)
    assert message.startswith(f"state file {tmp_path / 'small' / 'other.sqlite'}: cannot be written")
    assert "writable" in message


def test_a_full_disk_under_the_events_file_names_it_and_leaves_no_half_line(tmp_path: Path, tmpfs: Tmpfs) -> None:
    folder = tmpfs.mount("64k")
    sink = EventsFile(folder / "events.jsonl")
    padding = "x" * 3000
    with pytest.raises(SinkError) as raised:
        for n in range(100):  # 300 kB in all: the disk fills in the middle of one of these writes
            sink.deliver([{"id": f"evt_{n:04d}", "type": "recipient.bounced", "data": {"pad": padding}}])
    assert str(folder / "events.jsonl") in str(raised.value) and "No space left" in str(raised.value)
    written = (folder / "events.jsonl").read_bytes()
    assert written.endswith(b"\n")  # the part of the failed write was taken back
    count = written.count(b"\n")
    tmpfs.remount("size=1m")
    sink.deliver([{"id": f"evt_{n:04d}", "type": "recipient.bounced", "data": {"pad": padding}} for n in range(100)])
    assert event_ids(folder / "events.jsonl") == [f"evt_{n:04d}" for n in range(100)]
    assert count < 100


def test_a_full_disk_under_a_sink_is_an_error_of_the_pass_and_its_events_come_once_there_is_room(
    tmp_path: Path, tmpfs: Tmpfs, reference: list[str]
) -> None:
    tmpfs.mount("200k")  # the events of 1,200 bounces take about 2 MB
    make_maildir(tmp_path / "mail", bounces())
    worker = Worker(load_settings(config(tmp_path, "state.sqlite", events="small/events.jsonl")))
    (summary,) = worker.poll()
    (problem,) = summary.errors
    assert str(tmp_path / "small" / "events.jsonl") in problem and "No space left on device" in problem
    tmpfs.remount("size=20m")
    (summary,) = worker.poll()
    assert summary.errors == []
    assert sorted(event_ids(tmp_path / "small" / "events.jsonl")) == reference
    worker.store.close()
