"""The suppression lifecycle: `suppressions remove`, per-reason expiry, `erase`.

Real files, a real state, the real pipeline on a maildir (`Harness`), and the `dsnworker` command as
a process where the command itself is what is specified.
"""

from __future__ import annotations

import json
import sqlite3
import time
from datetime import timedelta
from pathlib import Path

import pytest

from dsnworker.sinks.suppression import SuppressionFile, iter_suppressions
from dsnworker.worker.config import ConfigError, load_settings
from dsnworker.worker.delivery import OutboxDelivery
from dsnworker.worker.erasure import erase
from dsnworker.worker.lifecycle import expire, unsuppress
from dsnworker.worker.settings import Policy
from dsnworker.worker.state import Incident
from tests import mailgen, processes
from tests.test_event_schemas import errors
from tests.test_worker_crash import setup

GONE = "user3@example.jp"  # user_unknown twice: suppressed
FULL = "user1@example.jp"  # mailbox_full twice: suppressed at the threshold of 2


def suppressed_config(root: Path, expiry: str = "") -> Path:
    """The SIGKILL tests' maildir and sinks, with soft bounces suppressed at the second."""
    config = setup(root)
    text = config.read_text().replace("soft_threshold = 3\n", f"soft_threshold = 2\n{expiry}")
    config.write_text(text)
    return config


def events(root: Path) -> list[dict]:
    return [json.loads(line) for line in (root / "events.jsonl").read_text().splitlines()]


def emails(root: Path) -> list[str]:
    return [row["email"] or "" for row in iter_suppressions(root / "suppressions.csv", "csv")]


def soft_bounces(root: Path, recipient: str) -> int:
    with sqlite3.connect(root / "state.sqlite") as db:
        return int(db.execute("SELECT count(*) FROM soft_bounce WHERE recipient = ?", (recipient,)).fetchone()[0])


@pytest.fixture(scope="module")
def polled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A poll's outputs, copied by each test that changes them."""
    root = tmp_path_factory.mktemp("polled")
    result = processes.run("poll", "-c", suppressed_config(root))
    assert result.returncode == 0, result.stderr
    assert GONE in emails(root) and FULL in emails(root)
    return root


def copy_of(polled: Path, tmp_path: Path) -> Path:
    import shutil

    shutil.copytree(polled, tmp_path / "root")
    return tmp_path / "root"


# -- suppressions remove --------------------------------------------------------------------------


def test_remove_takes_the_row_out_and_the_event_says_who_and_why(polled: Path, tmp_path: Path) -> None:
    root = copy_of(polled, tmp_path)
    before = emails(root)
    result = processes.run("suppressions", "remove", "-c", root / "config.toml", FULL, "--note", "ticket 4711")
    assert result.returncode == 0, result.stderr
    assert f"removed {FULL} from " in result.stdout
    assert emails(root) == [email for email in before if email != FULL]  # nothing else lost, order kept
    [event] = [e for e in events(root) if e["type"] == "recipient.unsuppressed"]
    assert event["data"]["recipient"] == FULL
    assert event["data"]["unsuppressed_because"] == "operator" and event["data"]["expired"] is False
    assert event["data"]["note"] == "ticket 4711" and event["data"]["by"]  # the OS user
    assert event["data"]["reason"] == "mailbox_full"
    assert errors("recipient.unsuppressed", event) == []
    assert soft_bounces(root, FULL) == 2  # the history in the state is kept


def test_remove_names_the_person_given_with_by(polled: Path, tmp_path: Path) -> None:
    root = copy_of(polled, tmp_path)
    config = root / "config.toml"
    result = processes.run("suppressions", "remove", "-c", config, GONE, "--note", "typo fixed", "--by", "alice")
    assert result.returncode == 0, result.stderr
    [event] = [e for e in events(root) if e["type"] == "recipient.unsuppressed"]
    assert event["data"]["by"] == "alice"


def test_remove_of_an_address_not_in_the_file_says_so_and_exits_1(polled: Path, tmp_path: Path) -> None:
    root = copy_of(polled, tmp_path)
    before = (root / "suppressions.csv").read_bytes()
    result = processes.run("suppressions", "remove", "-c", root / "config.toml", "nobody@example.jp", "--note", "x")
    assert result.returncode == 1
    assert "nobody@example.jp is not in a suppression file" in result.stderr
    assert (root / "suppressions.csv").read_bytes() == before
    assert not [e for e in events(root) if e["type"] == "recipient.unsuppressed"]


def test_remove_matches_the_domain_in_any_case_as_the_file_dedupes(polled: Path, tmp_path: Path) -> None:
    root = copy_of(polled, tmp_path)
    result = processes.run("suppressions", "remove", "-c", root / "config.toml", "user3@EXAMPLE.jp", "--note", "x")
    assert result.returncode == 0, result.stderr
    assert GONE not in emails(root)


def test_remove_needs_a_note(polled: Path, tmp_path: Path) -> None:
    result = processes.run("suppressions", "remove", "-c", polled / "config.toml", GONE)
    assert result.returncode == 2 and "--note" in result.stderr


def test_a_later_bounce_suppresses_a_removed_address_again(polled: Path, tmp_path: Path) -> None:
    root = copy_of(polled, tmp_path)
    config = root / "config.toml"
    assert processes.run("suppressions", "remove", "-c", config, GONE, "--note", "x").returncode == 0
    (root / "mail" / "new" / "1800000000.M1P9.test").write_bytes(mailgen.dsn(GONE, "user_unknown", 900))
    assert processes.run("poll", "-c", config).returncode == 0
    assert emails(root).count(GONE) == 1
    types = [e["type"] for e in events(root) if e["data"].get("recipient") == GONE]
    assert types[-2:] == ["recipient.unsuppressed", "recipient.suppressed"]


def test_the_suppression_file_applies_suppressions_and_removals_in_event_order(tmp_path: Path) -> None:
    def suppressed(email: str, at: str) -> dict:
        data = {"recipient": email, "reason": "user_unknown"}
        return {"id": f"s{email}{at}", "type": "recipient.suppressed", "timestamp": at, "data": data}

    def unsuppressed(email: str) -> dict:
        return {"id": f"u{email}", "type": "recipient.unsuppressed", "data": {"recipient": email}}

    path = tmp_path / "s.csv"
    sink = SuppressionFile(path)
    sequence = [
        suppressed("a@x.jp", "2026-01-01T00:00:00Z"),
        suppressed("b@x.jp", "2026-01-01T00:00:00Z"),
        unsuppressed("a@x.jp"),
        suppressed("a@x.jp", "2026-02-01T00:00:00Z"),  # suppressed again: a new row
        unsuppressed("b@x.jp"),
        suppressed("c@x.jp", "2026-02-01T00:00:00Z"),
    ]
    sink.deliver(sequence[:2])
    sink.deliver(sequence[2:])
    expected = [("a@x.jp", "2026-02-01T00:00:00Z"), ("c@x.jp", "2026-02-01T00:00:00Z")]
    rows = lambda: sorted((r["email"], r["first_seen"]) for r in iter_suppressions(path))  # noqa: E731
    assert rows() == expected
    for start in range(len(sequence)):  # a replay of any suffix (a crash before progress was saved)
        SuppressionFile(path).deliver(sequence[start:])
        assert rows() == expected, start


# -- expiry ---------------------------------------------------------------------------------------


def test_expiry_removes_only_the_reasons_configured_once_their_time_has_passed(tmp_path: Path) -> None:
    from tests.test_worker_pipeline import Harness

    messages = [mailgen.dsn(GONE, "user_unknown", 1), mailgen.dsn(FULL, "mailbox_full", 2)]
    harness = Harness(tmp_path, messages, policy=Policy(soft_threshold=1, expire_after={"mailbox_full": 30 * 86400}))
    assert harness.mailbox_pass.run().errors == []
    delivery = OutboxDelivery.for_settings(harness.store, harness.settings)
    assert expire(harness.settings, harness.store, delivery, harness.now + timedelta(days=29)) == []
    assert sorted(harness.suppressed()) == [FULL, GONE]
    made = expire(harness.settings, harness.store, delivery, harness.now + timedelta(days=30))
    assert [event["data"]["recipient"] for event in made] == [FULL]
    assert harness.suppressed() == [GONE]  # user_unknown never expires unless configured
    [event] = [e for e in harness.events() if e["type"] == "recipient.unsuppressed"]
    assert event["data"]["expired"] is True and event["data"]["expire_after"] == "30d"
    assert errors("recipient.unsuppressed", event) == []
    assert expire(harness.settings, harness.store, delivery, harness.now + timedelta(days=60)) == []


def test_expiry_counts_from_the_latest_suppression_not_the_row(tmp_path: Path) -> None:
    from tests.test_worker_pipeline import Harness

    policy = Policy(soft_threshold=1, expire_after={"mailbox_full": 30 * 86400})
    harness = Harness(tmp_path, [mailgen.dsn(FULL, "mailbox_full", 1)], policy=policy)
    assert harness.mailbox_pass.run().errors == []
    harness.now += timedelta(days=20)  # bounced again while suppressed: the row stays as it was
    harness.add(mailgen.dsn(FULL, "mailbox_full", 2))
    assert harness.mailbox_pass.run().errors == []
    delivery = OutboxDelivery.for_settings(harness.store, harness.settings)
    assert expire(harness.settings, harness.store, delivery, harness.now + timedelta(days=29)) == []
    assert harness.suppressed() == [FULL]
    assert len(expire(harness.settings, harness.store, delivery, harness.now + timedelta(days=30))) == 1


def test_poll_applies_expiry(polled: Path, tmp_path: Path) -> None:
    root = copy_of(polled, tmp_path)
    config = root / "config.toml"
    config.write_text(
        config.read_text().replace("soft_threshold = 2\n", 'soft_threshold = 2\nexpire_after = {mailbox_full = "1s"}\n')
    )
    time.sleep(1.5)  # the rows (timestamps to the second) are then over a second old: no assertion on time
    result = processes.run("poll", "-c", config)
    assert result.returncode == 0, result.stderr
    expired = [e["data"]["recipient"] for e in events(root) if e["type"] == "recipient.unsuppressed"]
    assert sorted(expired) == sorted(f"user{n}@example.jp" for n in (1, 4, 7, 10, 13))
    assert not set(expired) & set(emails(root)) and GONE in emails(root)


@pytest.mark.parametrize(
    ("line", "key", "expected"),
    [
        ('expire_after = { mailbox_full = "soon" }', "policy.expire_after.mailbox_full", "expected a duration"),
        ('expire_after = { mailbox_full = "0s" }', "policy.expire_after.mailbox_full", "longer than 0"),
        ('expire_after = { mailbox_ful = "30d" }', "policy.expire_after.mailbox_ful", 'did you mean "mailbox_full"'),
        ('expire_after = "30d"', "policy.expire_after", "expected a table"),
    ],
)
def test_a_bad_expiry_names_the_file_and_the_key(tmp_path: Path, line: str, key: str, expected: str) -> None:
    config = setup(tmp_path)
    config.write_text(config.read_text().replace("soft_threshold = 3\n", f"soft_threshold = 3\n{line}\n"))
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    assert caught.value.file == str(config)
    assert caught.value.key == f'mailbox "bounces" {key}'
    assert expected in caught.value.problem


# -- erase ----------------------------------------------------------------------------------------


def test_erase_removes_the_address_from_the_state_and_files_and_nothing_else(polled: Path, tmp_path: Path) -> None:
    root = copy_of(polled, tmp_path)
    others = [e for e in events(root) if e["data"].get("recipient") != FULL]
    other_rows = [email for email in emails(root) if email != FULL]
    result = processes.run("erase", "-c", root / "config.toml", FULL)
    assert result.returncode == 0, result.stderr
    assert "2 soft bounce(s), 1 suppression record(s)" in result.stdout
    assert "events.jsonl: 2 line(s) removed" in result.stdout  # a counted soft bounce, then the suppression
    assert "suppressions.csv: 1 row(s) removed" in result.stdout
    assert events(root) == others and emails(root) == other_rows
    for path in root.iterdir():  # the bytes are gone from every file (SQLite's free pages and WAL too)
        if path.is_file():
            assert FULL.encode() not in path.read_bytes(), path
    again = processes.run("erase", "-c", root / "config.toml", FULL)
    assert again.returncode == 0 and "0 soft bounce(s)" in again.stdout


def test_erase_deletes_waiting_events_and_scrubs_mentions_elsewhere(
    tmp_path: Path, state_backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.test_worker_pipeline import Harness

    monkeypatch.setattr(Harness, "backend", state_backend)  # on SQLite and on PostgreSQL
    harness = Harness(tmp_path, [mailgen.dsn(FULL, "mailbox_full", 1), mailgen.dsn(GONE, "user_unknown", 2)])
    assert harness.mailbox_pass.run().errors == []
    store = harness.store
    details = {"diagnostic": f"550 5.7.1 <{FULL}> refused: 192.0.2.25 listed", "opened_by": "k"}
    incident = Incident("p|l|192.0.2.25", "bounces", "p", "blocked", "l", "192.0.2.25", details, "t", "t", 1, 1)
    with store.transaction():
        store.save_incident(incident)
        store.add_event("bounces", {"id": "evt_" + "1" * 32, "type": "recipient.bounced", "data": {"recipient": FULL}})
    store.queue_for_webhook("hook", [(store.event_count(), FULL)], store.event_count(), 0.0)
    report = erase(harness.settings, store, FULL.upper())
    assert (report.outbox_events, report.webhook_queue, report.soft_bounces) == (2, 1, 1)
    assert report.incidents_scrubbed == 1
    assert store.incident(incident.key).details["diagnostic"] == "550 5.7.1 <[erased]> refused: 192.0.2.25 listed"
    assert all(e.body["data"].get("recipient") == GONE for e in store.events_after(0))
    assert store.webhook_counts("hook") == (0, 0)
    assert [e["data"]["recipient"] for e in harness.events()] == [GONE]


def test_the_worker_writes_on_after_an_erase_rewrote_its_files(tmp_path: Path) -> None:
    """A sink instance that read the file before the rewrite reads the new one: nothing erased comes back."""
    from tests.test_worker_pipeline import Harness

    harness = Harness(tmp_path, [mailgen.dsn(FULL, "user_unknown", 1), mailgen.dsn(GONE, "user_unknown", 2)])
    assert harness.mailbox_pass.run().errors == []
    erase(harness.settings, harness.store, FULL)
    harness.add(mailgen.dsn("new@example.jp", "user_unknown", 3))
    assert harness.mailbox_pass.run().errors == []
    assert harness.suppressed() == [GONE, "new@example.jp"]
    assert [e["data"]["recipient"] for e in harness.events()] == [GONE, "new@example.jp"]


def test_unsuppress_replays_what_a_killed_run_left_in_the_outbox(tmp_path: Path) -> None:
    """The rerun finds no row (the first run's delivery got that far) and still delivers the rest."""
    from tests.test_worker_pipeline import Harness

    harness = Harness(tmp_path, [mailgen.dsn(GONE, "user_unknown", 1)])
    assert harness.mailbox_pass.run().errors == []
    found, made = unsuppress(harness.settings, harness.store, GONE, by="a", note="n", now=harness.now)
    assert len(found) == len(made) == 1
    found, made = unsuppress(harness.settings, harness.store, GONE, by="a", note="n", now=harness.now)
    assert (found, made) == ([], [])
    assert [e["type"] for e in harness.events()].count("recipient.unsuppressed") == 1
