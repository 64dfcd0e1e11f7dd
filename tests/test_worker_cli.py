"""`dsnworker poll` and `dsnworker run` as a user runs them: real processes, real files, signals."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests import mailgen, processes
from tests.processes import wait_until
from tests.test_worker_pipeline import make_maildir

ROOT = Path(__file__).resolve().parents[1]


def write_config(root: Path, mailboxes: list[str], extra: str = "") -> Path:
    text = 'state = "state.sqlite"\n'
    for name in mailboxes:
        text += f'[[mailbox]]\nname = "{name}"\nsource = "maildir:{name}"\ninterval = "1s"\n{extra}'
    text += '[[sink]]\nname = "events"\ntype = "events_file"\npath = "events.jsonl"\n'
    text += '[[sink]]\nname = "suppressions"\ntype = "suppression_file"\npath = "suppressions.csv"\n'
    config = root / "config.toml"
    config.write_text(text)
    return config


dsnworker = processes.run


def test_poll_prints_a_summary_per_mailbox(tmp_path: Path) -> None:
    make_maildir(tmp_path / "jp", [mailgen.dsn("gone@example.jp", serial=1), mailgen.personal(2)])
    result = dsnworker("poll", "-c", write_config(tmp_path, ["jp"]))
    assert result.returncode == 0, result.stderr
    assert "mailbox=jp new=2 bounces=1 recipients=1 suppressed=1 not_bounce=1" in result.stdout


def test_the_poll_summary_counts_messages_and_recipients_apart(tmp_path: Path) -> None:
    two_recipients = mailgen.dsn("a@example.jp", serial=1).replace(
        b"Final-Recipient: rfc822; a@example.jp\r\n",
        b"Final-Recipient: rfc822; b@example.jp\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n"
        b"Final-Recipient: rfc822; a@example.jp\r\n",
    )
    make_maildir(tmp_path / "jp", [two_recipients, mailgen.dsn("c@example.jp", serial=2), mailgen.personal(3)])
    result = dsnworker("poll", "-c", write_config(tmp_path, ["jp"]))
    assert "new=3 bounces=2 recipients=3 suppressed=3 not_bounce=1" in result.stdout, result.stdout


def test_one_failing_mailbox_does_not_stop_the_others_and_poll_exits_1(tmp_path: Path) -> None:
    make_maildir(tmp_path / "good", [mailgen.dsn("gone@example.jp", serial=1)])
    (tmp_path / "broken").mkdir()  # not a maildir
    result = dsnworker("poll", "-c", write_config(tmp_path, ["broken", "good"]))
    assert result.returncode == 1
    assert "mailbox 'broken'" in result.stderr and "not a maildir" in result.stderr
    assert "mailbox=good new=1" in result.stdout


def test_poll_of_one_named_mailbox(tmp_path: Path) -> None:
    make_maildir(tmp_path / "a", [mailgen.dsn("a@example.jp", serial=1)])
    make_maildir(tmp_path / "b", [mailgen.dsn("b@example.jp", serial=2)])
    result = dsnworker("poll", "-c", write_config(tmp_path, ["a", "b"]), "--mailbox", "b")
    assert "mailbox=b" in result.stdout and "mailbox=a" not in result.stdout
    unknown = dsnworker("poll", "-c", tmp_path / "config.toml", "--mailbox", "c")
    assert unknown.returncode == 2 and "no mailbox named 'c'" in unknown.stderr


def test_dry_run_prints_the_events_and_writes_nothing(tmp_path: Path) -> None:
    make_maildir(tmp_path / "jp", [mailgen.dsn("gone@example.jp", serial=1)])
    result = dsnworker("poll", "-c", write_config(tmp_path, ["jp"]), "--dry-run")
    assert result.returncode == 0, result.stderr
    (event,) = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert event["type"] == "recipient.suppressed" and event["data"]["recipient"] == "gone@example.jp"
    assert not (tmp_path / "events.jsonl").exists()
    assert len(list((tmp_path / "jp" / "new").iterdir())) == 1


def test_json_logs_carry_the_pass_summary(tmp_path: Path) -> None:
    make_maildir(tmp_path / "jp", [mailgen.dsn("gone@example.jp", serial=1)])
    result = dsnworker("poll", "-c", write_config(tmp_path, ["jp"]), "--log-format", "json")
    lines = [json.loads(line) for line in result.stderr.splitlines()]
    (summary,) = [line["summary"] for line in lines if "summary" in line]
    assert summary["mailbox"] == "jp" and summary["new"] == 1 and summary["suppressed"] == 1


def test_suppressions_list_reads_the_file_back(tmp_path: Path) -> None:
    make_maildir(tmp_path / "jp", [mailgen.dsn("gone@example.jp", serial=1)])
    config = write_config(tmp_path, ["jp"])
    dsnworker("poll", "-c", config)
    result = dsnworker("suppressions", "list", "-c", config, "--format", "jsonl")
    (row,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert row["email"] == "gone@example.jp" and row["reason"] == "user_unknown" and row["mailbox"] == "jp"


def test_suppressions_list_is_an_aligned_table(tmp_path: Path) -> None:
    addresses = ["a@example.jp", "a-much-longer-address.of.someone@mail.example.jp"]
    make_maildir(tmp_path / "jp", [mailgen.dsn(address, serial=n) for n, address in enumerate(addresses)])
    config = write_config(tmp_path, ["jp"])
    dsnworker("poll", "-c", config)
    header, *rows = dsnworker("suppressions", "list", "-c", config).stdout.splitlines()
    assert header.split() == ["EMAIL", "REASON", "STATUS", "PROVIDER", "LAST_SEEN", "MAILBOX"]
    assert sorted(row.split()[0] for row in rows) == sorted(addresses)
    # every column starts where its title does
    assert {row.index("user_unknown") for row in rows} == {header.index("REASON")}
    assert {row.rindex(" jp") + 1 for row in rows} == {header.index("MAILBOX")}


def test_a_bad_config_names_the_file_and_key(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[[mailbox]]\nname = "x"\nsource = "maildir:x"\nbatch_size = "many"\n')
    result = dsnworker("poll", "-c", config)
    assert result.returncode == 2
    assert "config.toml" in result.stderr and "batch_size" in result.stderr


def test_run_keeps_polling_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    maildir = make_maildir(tmp_path / "jp", [mailgen.dsn("first@example.jp", serial=1)])
    config = write_config(tmp_path, ["jp"])
    process = processes.start(
        "run", "-c", config, env={"PYTHONUNBUFFERED": "1"}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        events = tmp_path / "events.jsonl"
        assert wait_until(lambda: events.exists() and events.read_text().count("\n") == 1)
        (maildir / "new" / "1800000000.M1P1.test").write_bytes(mailgen.dsn("second@example.jp", serial=2))
        assert wait_until(lambda: events.read_text().count("\n") == 2)  # the next scheduled pass took it
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert "SIGTERM received" in stderr and "worker stopped" in stderr


def test_a_second_worker_on_the_same_state_is_refused(tmp_path: Path) -> None:
    from dsnworker.errors import DsnworkerError
    from dsnworker.worker.config import load_settings
    from dsnworker.worker.runner import Worker

    make_maildir(tmp_path / "jp", [])
    config = write_config(tmp_path, ["jp"])
    holder = Worker(load_settings(config))
    result = dsnworker("poll", "-c", config)
    assert result.returncode == 2 and "in use by another dsnworker" in result.stderr
    with pytest.raises(DsnworkerError, match="in use by another dsnworker"):
        Worker(load_settings(config))
    del holder


def test_a_second_worker_on_the_same_state_through_a_symlink_is_refused(tmp_path: Path) -> None:
    from dsnworker.worker.config import load_settings
    from dsnworker.worker.runner import Worker

    make_maildir(tmp_path / "jp", [])
    config = write_config(tmp_path, ["jp"])
    holder = Worker(load_settings(config))  # holds state.sqlite
    (tmp_path / "alias.sqlite").symlink_to(tmp_path / "state.sqlite")
    aliased = tmp_path / "alias.toml"
    aliased.write_text(config.read_text().replace('state = "state.sqlite"', 'state = "alias.sqlite"'))
    result = dsnworker("poll", "-c", aliased)
    assert result.returncode == 2 and "in use by another dsnworker" in result.stderr
    assert "alias.sqlite" in result.stderr and "state.sqlite" in result.stderr  # both names, for the operator
    del holder


def test_a_state_file_with_a_second_hard_link_is_refused(tmp_path: Path) -> None:
    make_maildir(tmp_path / "jp", [])
    config = write_config(tmp_path, ["jp"])
    assert dsnworker("poll", "-c", config).returncode == 0
    (tmp_path / "copy.sqlite").hardlink_to(tmp_path / "state.sqlite")
    result = dsnworker("poll", "-c", config)
    assert result.returncode == 2 and "has 2 hard links" in result.stderr and "state.sqlite" in result.stderr


def test_a_deleted_state_stops_poll_until_new_state_and_the_sinks_do_not_double(tmp_path: Path) -> None:
    make_maildir(tmp_path / "jp", [mailgen.dsn(f"u{n}@example.jp", serial=n) for n in range(1200)])
    config = write_config(tmp_path, ["jp"], extra='after = "leave"\n')
    assert dsnworker("poll", "-c", config).returncode == 0
    events = (tmp_path / "events.jsonl").read_text()
    suppressions = (tmp_path / "suppressions.csv").read_text()
    for path in tmp_path.glob("state.sqlite*"):
        if not path.name.endswith((".lock", ".created")):
            path.unlink()  # the operator's mistake
    refused = dsnworker("poll", "-c", config)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert f"state file {tmp_path / 'state.sqlite'} is missing" in refused.stderr and "--new-state" in refused.stderr
    assert (tmp_path / "events.jsonl").read_text() == events  # nothing processed again
    afresh = dsnworker("poll", "-c", config, "--new-state")
    assert afresh.returncode == 0, afresh.stderr
    assert "mailbox=jp new=1200" in afresh.stdout  # read again, as the operator was told
    assert (tmp_path / "events.jsonl").read_text() == events  # but no event and no address written twice
    assert (tmp_path / "suppressions.csv").read_text() == suppressions


def test_status_counts_the_messages_of_a_maildir_not_processed_yet(tmp_path: Path) -> None:
    maildir = make_maildir(tmp_path / "jp", [mailgen.dsn("gone@example.jp", serial=1), mailgen.personal(2)])
    config = write_config(tmp_path, ["jp"])
    # before the first pass: what waits is shown, and a mailbox never passed is unhealthy
    before = dsnworker("status", "-c", config, "--format", "json")
    assert before.returncode == 1, before.stderr
    (jp,) = json.loads(before.stdout)["mailboxes"]
    assert jp["waiting"] == 2 and jp["last_pass"] is None and jp["problem"]
    assert "has not run with this configuration" in json.loads(before.stdout)["note"]
    table = dsnworker("status", "-c", config).stdout.splitlines()
    assert table[0].startswith("no state yet") and table[2].split()[0] == "MAILBOX" and table[3].split()[0] == "jp"
    assert not (tmp_path / "state.sqlite").exists()  # status wrote nothing
    dsnworker("poll", "-c", config)  # the bounce is moved away, the personal message stays (processed)
    (maildir / "new" / "1800000000.M1P1.test").write_bytes(mailgen.dsn("second@example.jp", serial=3))
    result = dsnworker("status", "-c", config, "--format", "json")
    assert result.returncode == 0, result.stderr
    (jp,) = json.loads(result.stdout)["mailboxes"]
    assert jp["waiting"] == 1 and jp["problem"] is None and jp["last_pass"]["outcome"] == "ok"
    sinks = {sink["name"]: sink for sink in json.loads(result.stdout)["sinks"]}
    assert sinks["suppressions"]["suppressed"] == 1
    # a state that existed and vanished is not taken for a first run
    (tmp_path / "state.sqlite").unlink()
    vanished = dsnworker("status", "-c", config)
    assert vanished.returncode == 2 and "is missing, but a state was created there before" in vanished.stderr


def test_status_exits_1_when_three_scheduled_passes_were_missed(tmp_path: Path) -> None:
    from dsnworker.worker.state import Store

    make_maildir(tmp_path / "jp", [])
    config = write_config(tmp_path, ["jp"])
    config.write_text(config.read_text().replace('interval = "1s"', 'interval = "1h"'))
    dsnworker("poll", "-c", config)
    assert dsnworker("status", "-c", config).returncode == 0
    Store(tmp_path / "state.sqlite").record_pass("jp", time.time() - 3 * 3600 - 60, 1.0, None)  # a worker gone quiet
    result = dsnworker("status", "-c", config)
    assert result.returncode == 1 and "three scheduled passes were missed" in result.stdout, result.stdout


def test_a_cron_mailbox_is_stale_after_its_third_missed_run() -> None:
    from datetime import UTC, datetime

    from dsnworker.worker.settings import MailboxSettings, Schedule
    from dsnworker.worker.status import stale_after

    mailbox = MailboxSettings("jp", "maildir", schedule=Schedule(interval=None, cron="0 */6 * * *"))
    ended = datetime(2026, 1, 1, 7, 30, tzinfo=UTC).timestamp()  # runs at 12:00, 18:00, then 00:00
    assert stale_after(mailbox, ended) == datetime(2026, 1, 2, 0, 0, tzinfo=UTC).timestamp()
    every_minute = MailboxSettings("jp", "maildir", schedule=Schedule(interval=60.0, jitter=10.0))
    assert stale_after(every_minute, 1000.0) == 1000.0 + 180 + 10
