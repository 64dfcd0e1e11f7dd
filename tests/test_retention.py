"""Retention: processed keys, closed incidents and old daily counts leave the state, and no message is processed twice.

Passes on a local maildir with a clock the test moves (tests/test_worker_pipeline.py's Harness);
the IMAP rule (a message left in the folder is kept) is shown on the store.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from dsnworker.worker.retention import INCIDENT_QUIET, OUTCOME_KEEP, PROCESSED_KEEP, prune_state
from dsnworker.worker.settings import Disposition
from dsnworker.worker.state import Store
from tests import mailgen
from tests.test_worker_pipeline import Harness

PROCESSED = "SELECT count(*) FROM processed"


def rows(harness: Harness, query: str = PROCESSED) -> int:
    return int(harness.store.db.execute(query).fetchone()[0])


def test_keys_of_messages_moved_out_of_the_folder_are_forgotten_after_the_bound(tmp_path: Path) -> None:
    harness = Harness(tmp_path, [mailgen.dsn(f"u{n}@example.jp", serial=n) for n in range(20)])
    harness.mailbox_pass.run()
    assert rows(harness) == 20
    harness.now += PROCESSED_KEEP - timedelta(days=1)
    assert prune_state(harness.store, harness.settings, harness.now).processed == 0  # not yet
    harness.now += timedelta(days=2)
    assert prune_state(harness.store, harness.settings, harness.now).processed == 20
    assert rows(harness) == 0
    again = harness.mailbox_pass.run()  # the messages are in .Processed, not in the folder read
    assert (again.new, again.duplicates) == (0, 0) and len(harness.events()) == 20


def test_a_message_left_in_the_folder_is_never_processed_twice_however_long_it_stays(tmp_path: Path) -> None:
    messages = [mailgen.dsn(f"u{n}@example.jp", serial=n) for n in range(20)] + [mailgen.personal(99)]
    harness = Harness(tmp_path, messages, after=Disposition("leave"))
    harness.mailbox_pass.run()
    events = harness.events()
    for _ in range(12):  # a year of passes a month apart, pruning after each
        harness.now += timedelta(days=30)
        summary = harness.mailbox_pass.run()
        assert (summary.new, summary.duplicates) == (0, 21)
        assert prune_state(harness.store, harness.settings, harness.now).processed == 0
    assert harness.events() == events
    (harness.maildir / "new" / sorted((harness.maildir / "new").iterdir())[0].name).unlink()  # one is deleted
    harness.now += PROCESSED_KEEP + timedelta(days=1)
    harness.mailbox_pass.run()
    assert prune_state(harness.store, harness.settings, harness.now).processed == 1  # only the one that left
    assert rows(harness) == 20


def test_an_imap_message_left_in_the_folder_keeps_its_key_past_the_bound(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.sqlite")
    with store.transaction():
        store.mark_processed("imap", "left", 1, "not_bounce", "2026-01-01T00:00:00Z", stays=True)
        store.mark_processed("imap", "moved", 2, "bounce", "2026-01-01T00:00:00Z", stays=False)
        store.mark_processed("imap", "moving", 3, "bounce", "2026-01-01T00:00:00Z", stays=False)
        store.add_pending("imap", 7, 3, "move:Processed")  # its move is still to be done
    # an IMAP pass reads above the cursor: only a UIDVALIDITY change meets "left" again, and must know it
    assert store.prune_processed("imap", "2027-01-01T00:00:00Z", every_pass_lists_all=False) == 1
    assert store.processed_categories("imap", ["left", "moved", "moving"]) == {"left": "not_bounce", "moving": "bounce"}


def test_a_closed_incident_is_forgotten_and_a_later_listing_opens_a_new_one(tmp_path: Path) -> None:
    harness = Harness(tmp_path, [mailgen.dsn(f"user{n}@example.jp", "spamhaus", n) for n in range(3)])
    harness.mailbox_pass.run()
    assert rows(harness, "SELECT count(*) FROM incident") == 1
    harness.now += INCIDENT_QUIET - timedelta(days=1)
    assert prune_state(harness.store, harness.settings, harness.now).incidents == 0
    harness.now += timedelta(days=2)
    assert prune_state(harness.store, harness.settings, harness.now).incidents == 1
    assert rows(harness, "SELECT count(*) FROM incident") == 0
    harness.add(*[mailgen.dsn(f"user{n}@example.jp", "spamhaus", n) for n in range(10, 13)])
    harness.mailbox_pass.run()
    opened = [e for e in harness.events() if e["type"] == "incident.opened"]
    assert len(opened) == 2 and opened[0]["id"] != opened[1]["id"]  # not swallowed as a repeat of the first
    assert opened[1]["data"]["count"] == 1


def test_poll_prunes_the_state(tmp_path: Path) -> None:
    from dsnworker.worker.runner import Worker

    harness = Harness(tmp_path, [mailgen.dsn("gone@example.jp", serial=1)])
    harness.mailbox_pass.run()
    harness.store.close()
    worker = Worker(harness.settings)
    worker.prune(harness.now + PROCESSED_KEEP + timedelta(days=1))
    assert worker.store.processed_count("bounces") == 0


def test_the_reports_daily_counts_are_kept_400_days_and_one_row_per_kind_of_outcome(tmp_path: Path) -> None:
    messages = [mailgen.dsn(f"u{n}@example.jp", serial=n) for n in range(30)]
    messages += [mailgen.dsn(f"f{n}@example.jp", "mailbox_full", serial=100 + n) for n in range(10)]
    harness = Harness(tmp_path, messages)
    harness.mailbox_pass.run()
    counts = harness.store.db.execute("SELECT reason, action, count FROM outcome_day ORDER BY reason").fetchall()
    assert counts == [("mailbox_full", "retry", 10), ("user_unknown", "suppress", 30)]  # 40 bounces, 2 rows
    harness.now += OUTCOME_KEEP - timedelta(days=1)
    assert prune_state(harness.store, harness.settings, harness.now).outcome_days == 0
    harness.now += timedelta(days=2)
    assert prune_state(harness.store, harness.settings, harness.now).outcome_days == 2
    assert rows(harness, "SELECT count(*) FROM outcome_day") == 0
