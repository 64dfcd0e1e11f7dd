"""`dsnworker report`: its counts are the worker's outcomes, it reads the state without touching it.

Real processes on real files: `poll` over a maildir of generated bounces, then `report`, compared
with what the events file says of the same bounces.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest

from dsnworker.errors import DsnworkerError
from dsnworker.report.command import since_day
from dsnworker.worker.config import load_settings
from dsnworker.worker.runner import Worker
from tests import mailgen, processes
from tests.test_worker_cli import write_config
from tests.test_worker_pipeline import make_maildir

dsnworker = processes.run
RECIPIENT_EVENTS = ("recipient.suppressed", "recipient.bounced", "address.fix_needed")


def bounces() -> list[bytes]:
    """Every action the worker takes, several providers, a soft bounce that reaches the threshold."""
    messages = [mailgen.dsn(f"gone{n}@example.jp", serial=n) for n in range(4)]
    messages += [mailgen.dsn("full@example.jp", "mailbox_full", serial=10 + n) for n in range(5)]  # 5th: suppress
    messages += [mailgen.dsn(f"listed{n}@example.jp", "spamhaus", serial=20 + n) for n in range(3)]  # one incident
    messages += [mailgen.dsn("ok@example.jp", "delivered", serial=30), mailgen.auto_reply(31), mailgen.personal(32)]
    messages.append(mailgen.dsn("slow@example.jp", "mailbox_full", serial=33, action="delayed"))
    messages.append(mailgen.dsn('"john doe"@example.jp', serial=34))  # a quoted local part: fix_address
    return messages


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest) -> Any:
    """None for a SQLite state; else a fresh database of the tests' private PostgreSQL (tests/postgres.py)."""
    return request.getfixturevalue("pg_database") if request.param == "postgresql" else None


def configured(tmp_path: Path, database: Any = None) -> Path:
    """The config with its state in SQLite, or in `database` (its password in the tests' variable)."""
    config = write_config(tmp_path, ["jp"])
    if database is not None:
        from tests.postgres import PASSWORD_ENV

        state = f'state = "{database.url}"\nstate_password_env = "{PASSWORD_ENV}"\n'
        config.write_text(config.read_text().replace('state = "state.sqlite"\n', state))
    return config


def polled(tmp_path: Path, messages: list[bytes], database: Any = None) -> Path:
    make_maildir(tmp_path / "jp", messages)
    config = configured(tmp_path, database)
    result = dsnworker("poll", "-c", config)
    assert result.returncode == 0, result.stderr
    return config


def report_json(config: Path, *args: str) -> dict[str, Any]:
    result = dsnworker("report", "-c", config, "--format", "json", *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def events(tmp_path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]


def test_the_reports_counts_are_the_outcomes_in_the_events_file(tmp_path: Path, database: Any) -> None:
    config = polled(tmp_path, bounces(), database)
    report = report_json(config)
    written = events(tmp_path)
    per_recipient = [e["data"] for e in written if e["type"] in RECIPIENT_EVENTS]
    by_action = Counter(data["action"] for data in per_recipient)
    # sender_fix outcomes are counted in their incident: its last event has the count
    incidents = {e["data"]["incident"]: e["data"]["count"] for e in written if e["type"].startswith("incident.")}
    by_action["sender_fix"] = sum(incidents.values())

    total = report["total"]
    assert total["actions"] == {action: by_action.get(action, 0) for action in total["actions"]}
    assert by_action == {"suppress": 5, "retry": 5, "fix_address": 1, "sender_fix": 3}  # the mix asked for
    assert total["bounces"] == sum(by_action.values())
    assert total["hard"] == sum(1 for data in per_recipient if data["hard"])
    assert total["open_incidents"] == len(incidents) == 1
    assert total["ignored"] == 2  # the success DSN and the auto-reply
    providers = {row["provider"]: row["bounces"] for row in report["providers"]}
    assert providers == dict(Counter(data["provider"] for data in per_recipient)) | {"microsoft": 3}
    assert sum(row["bounces"] for row in report["days"]) == total["bounces"]
    (incident,) = report["open_incidents"]
    assert incident["count"] == 3 and incident["provider"] == "microsoft" and incident["reason"] == "blocked"


def test_a_second_poll_counts_nothing_twice(tmp_path: Path, database: Any) -> None:
    config = polled(tmp_path, bounces(), database)
    first = report_json(config)
    again = dsnworker("poll", "-c", config)
    assert "new=0" in again.stdout, again.stdout
    assert report_json(config)["total"] == first["total"]


def test_a_bounce_counts_on_the_day_of_its_own_date(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    three_days_ago = now - timedelta(days=3)
    messages = [
        mailgen.dsn("old@example.jp", serial=1, date=format_datetime(three_days_ago)),
        mailgen.dsn("future@example.jp", serial=2, date=format_datetime(now + timedelta(days=40))),  # a wrong clock
        mailgen.dsn("ancient@example.jp", serial=3, date="Mon, 13 May 2024 11:02:17 +0900"),  # past the retention
    ]
    config = polled(tmp_path, messages)
    read_on = {now.date(), datetime.now(UTC).date()}  # the poll may have crossed midnight
    report = report_json(config, "--since", "5d")
    days = {row["day"]: row["bounces"] for row in report["per_day"] if row["bounces"]}
    # the two with an implausible Date count on the day the worker read them
    assert days in [{three_days_ago.date().isoformat(): 1, day.isoformat(): 2} for day in read_on]
    assert len(report["per_day"]) == 6  # every day of the period, today and five back
    assert report_json(config, "--since", "2d")["total"]["bounces"] == 2


def test_the_report_reads_a_state_a_worker_holds_and_leaves_no_file_behind(tmp_path: Path) -> None:
    config = polled(tmp_path, bounces())
    settings = load_settings(config)
    with contextlib.closing(sqlite3.connect(settings.state)) as db:  # the last to close folds the journal in
        db.execute("SELECT count(*) FROM outcome_day").fetchone()
    before = sorted(p.name for p in tmp_path.iterdir())
    assert f"{settings.state.name}-wal" not in before
    table = dsnworker("report", "-c", config)
    assert table.returncode == 0, table.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # a -shm made by root would stop the worker
    holder = Worker(settings)  # holds the one-worker lock, and the state open
    try:
        assert dsnworker("poll", "-c", config).returncode == 2  # the lock holds
        held = report_json(config)
        assert held["total"]["bounces"] == 14
    finally:
        holder.store.close()


def test_the_table_names_each_column_once_and_the_incident(tmp_path: Path, database: Any) -> None:
    config = polled(tmp_path, bounces(), database)
    result = dsnworker("report", "-c", config, "--since", "1d")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    header = lines[lines.index("Per provider") + 1].split()
    assert header[:7] == ["PROVIDER", "BOUNCES", "SUPPRESS", "RETRY", "REVIEW", "FIX_ADDRESS", "SENDER_FIX"]
    microsoft = next(line.split() for line in lines[lines.index("Per provider") :] if line.startswith("microsoft"))
    assert microsoft[:7] == ["microsoft", "3", "0", "0", "0", "0", "3"]
    assert "Open incidents (1)" in lines and any("spamhaus" in line and "192.0.2.25" in line for line in lines)


def test_an_empty_period_says_so(tmp_path: Path, database: Any) -> None:
    config = polled(tmp_path, [mailgen.personal(1)], database)
    result = dsnworker("report", "-c", config)
    assert result.returncode == 0 and "No bounces in this period." in result.stdout
    assert "Open incidents: none" in result.stdout


def test_a_missing_state_is_an_error_that_names_it(tmp_path: Path) -> None:
    config = write_config(tmp_path, ["jp"])
    result = dsnworker("report", "-c", config)
    assert result.returncode == 2
    assert f"state file {tmp_path / 'state.sqlite'} does not exist" in result.stderr
    assert not (tmp_path / "state.sqlite").exists()  # a report creates no state


def test_a_state_of_an_older_dsnworker_says_to_restart_the_worker(tmp_path: Path) -> None:
    config = polled(tmp_path, [mailgen.dsn("gone@example.jp", serial=1)])
    with sqlite3.connect(tmp_path / "state.sqlite") as db:
        db.execute("DROP TABLE outcome_day")
        db.execute("PRAGMA user_version=3")
    result = dsnworker("report", "-c", config)
    assert result.returncode == 2
    assert "older dsnworker (schema version 3)" in result.stderr and "restart the worker" in result.stderr


def test_the_output_file_is_written_whole(tmp_path: Path) -> None:
    config = polled(tmp_path, bounces())
    target = tmp_path / "out" / "report.json"
    missing_folder = dsnworker("report", "-c", config, "--format", "json", "-o", target)
    assert missing_folder.returncode == 2 and f"cannot write the report to {target}" in missing_folder.stderr
    target.parent.mkdir()
    assert dsnworker("report", "-c", config, "--format", "json", "-o", target).returncode == 0
    assert json.loads(target.read_text())["total"]["bounces"] == 14
    assert [p.name for p in target.parent.iterdir()] == ["report.json"]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("30d", date(2026, 11, 4)),
        ("1d", date(2026, 12, 3)),
        ("36h", date(2026, 12, 3)),
        ("2026-11-01", date(2026, 11, 1)),
    ],
)
def test_since_is_a_duration_back_or_a_date(given: str, expected: date) -> None:
    assert since_day(given, datetime(2026, 12, 4, 18, 0, tzinfo=UTC)) == expected


@pytest.mark.parametrize(
    ("given", "said"),
    [
        ("thirty", "expected a duration"),
        ("401d", "keeps 400 days"),
        ("2026-02-30", "not a date"),
        ("2026-12-05", "after today"),
    ],
)
def test_a_wrong_since_says_what_is_expected(given: str, said: str) -> None:
    with pytest.raises(DsnworkerError, match=said):
        since_day(given, datetime(2026, 12, 4, 18, 0, tzinfo=UTC))


# -- a PostgreSQL state ------------------------------------------------------------------------------


def test_a_postgresql_state_the_worker_never_ran_on_says_so(tmp_path: Path, pg_database: Any) -> None:
    result = dsnworker("report", "-c", configured(tmp_path, pg_database))
    assert result.returncode == 2
    assert f"PostgreSQL state {pg_database.url} holds no dsnworker state yet: nothing to report yet" in result.stderr
    with pg_database.connect() as db:  # a report creates nothing
        assert db.execute("SELECT to_regclass('dsnworker_schema')").fetchone() == (None,)


def test_a_postgresql_state_of_an_older_dsnworker_says_to_restart_the_worker(tmp_path: Path, pg_database: Any) -> None:
    config = polled(tmp_path, [mailgen.dsn("gone@example.jp", serial=1)], pg_database)
    with pg_database.connect() as db:
        db.execute("DROP TABLE outcome_day")
        db.execute("UPDATE dsnworker_schema SET version = 3")
    result = dsnworker("report", "-c", config)
    assert result.returncode == 2
    assert f"PostgreSQL state {pg_database.url} was written by an older dsnworker (schema version 3)" in result.stderr


def test_the_report_reads_a_postgresql_state_beside_the_worker_that_holds_it(tmp_path: Path, pg_database: Any) -> None:
    config = polled(tmp_path, bounces(), pg_database)
    holder = Worker(load_settings(config))  # a worker registered on the database, its store open
    try:
        held = report_json(config)
        assert held["total"]["bounces"] == 14 and held["state"] == pg_database.url
    finally:
        holder.store.close()
