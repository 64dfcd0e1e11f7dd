"""The SQLite state: schema versions, transactions that are all or nothing, the outbox's order."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from dsnworker.worker.state import SCHEMA_VERSION, Cursor, StateError, Store


def test_a_new_state_file_is_created_at_the_current_schema_in_wal_mode(tmp_path: Path) -> None:
    store = Store(tmp_path / "sub" / "state.sqlite")
    assert store.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_state_file_from_a_newer_dsnworker_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    Store(path).close()
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    with pytest.raises(StateError, match="newer than this dsnworker"):
        Store(path)


def test_reopening_keeps_everything(tmp_path: Path, state_backend) -> None:
    store = state_backend.open(tmp_path)
    with store.transaction():
        store.set_cursor("jp", Cursor(7, 4_294_967_295))  # IMAP UIDs are 32-bit unsigned
        store.mark_processed("jp", "k1", 42, "bounce", "2026-11-28T00:00:00Z")
    store.close()
    again = state_backend.open(tmp_path)
    assert again.cursor("jp") == Cursor(7, 4_294_967_295)
    assert again.processed_categories("jp", ["k1", "k2"]) == {"k1": "bounce"}


def test_a_failed_transaction_leaves_nothing_behind(tmp_path: Path, state_backend) -> None:
    store = state_backend.open(tmp_path)
    with pytest.raises(RuntimeError), store.transaction():
        store.add_event("jp", {"id": "evt_1", "type": "recipient.bounced", "data": {}})
        store.set_cursor("jp", Cursor(1, 10))
        raise RuntimeError("crash in the middle")
    assert store.event_count() == 0
    assert store.cursor("jp") == Cursor(None, 0)


def test_the_outbox_keeps_order_and_refuses_an_id_twice(tmp_path: Path, state_backend) -> None:
    store = state_backend.open(tmp_path)
    with store.transaction():
        assert store.add_event("jp", {"id": "evt_b", "type": "recipient.bounced", "data": {"recipient": "b@x.jp"}})
        assert store.add_event("jp", {"id": "evt_a", "type": "recipient.bounced", "data": {"recipient": "a@x.jp"}})
        assert not store.add_event("jp", {"id": "evt_b", "type": "recipient.bounced", "data": {}})
    assert [e.id for e in store.events_after(0)] == ["evt_b", "evt_a"]
    first = store.events_after(0)[0].seq
    assert [e.id for e in store.events_after(first)] == ["evt_a"]


def test_sink_progress_never_moves_back(tmp_path: Path, state_backend) -> None:
    store = state_backend.open(tmp_path)
    store.set_sink_progress("events", 10)
    store.set_sink_progress("events", 4)
    assert store.sink_progress("events") == 10


def test_a_state_file_of_an_older_schema_is_migrated_on_start_and_keeps_its_data(tmp_path: Path) -> None:
    from dsnworker.worker import state

    path = tmp_path / "state.sqlite"
    with sqlite3.connect(path) as db:  # a state file as the first schema version left it
        db.executescript(state._MIGRATIONS[0])
        db.execute("INSERT INTO cursor (mailbox, uidvalidity, last_uid) VALUES ('jp', 7, 42)")
        db.execute("PRAGMA user_version=1")
    store = Store(path)
    assert store.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION > 1
    assert store.cursor("jp") == Cursor(7, 42)
    assert store.webhook_counts("app") == (0, 0)  # the later tables exist


def test_a_deleted_state_file_that_existed_is_an_error_not_a_new_install(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    Store(path).close()
    path.unlink()
    with pytest.raises(StateError, match=r"state\.sqlite is missing, but a state was created there before") as raised:
        Store(path)
    assert "--new-state" in str(raised.value) and "restore" in str(raised.value)
    assert not path.exists()  # nothing was created in its place


def test_an_emptied_state_file_that_existed_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    Store(path).close()
    for suffix in ("-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    path.write_bytes(b"")
    with pytest.raises(StateError, match=r"state\.sqlite is empty, but a state was created there before"):
        Store(path)


def damage(path: Path) -> None:
    """Garbage over the pages in the middle of the file, as a bad disk or a stray write leaves it."""
    store = Store(path)
    with store.transaction():
        for n in range(3000):
            store.mark_processed("jp", f"key{n:06d}", n, "bounce", "2026-11-28T00:00:00Z")
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    size = path.stat().st_size
    with open(path, "r+b") as file:
        file.seek(size // 4)
        file.write(b"garbage!" * (size // 16))


def test_a_damaged_state_is_one_error_naming_the_file_and_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    damage(path)
    store = Store(path)  # the header is fine: the damage shows when the pages are read
    with pytest.raises(StateError) as raised:
        store.processed_categories("jp", [f"key{n:06d}" for n in range(3000)])
    assert str(raised.value).startswith(f"state file {path}: is damaged (database disk image is malformed)")
    assert "restore the file from a backup" in str(raised.value) and "--new-state" in str(raised.value)


def test_new_state_starts_afresh_on_a_damaged_state_and_keeps_it_aside(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    damage(path)
    store = Store(path, new_state=True)
    assert store.processed_count("jp") == 0
    (aside,) = tmp_path.glob("state.sqlite.broken-*[0-9]Z")
    assert b"garbage!" in aside.read_bytes()  # the damaged file, kept for a post-mortem


def test_new_state_on_a_missing_state_starts_afresh(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    Store(path).close()
    path.unlink()
    assert Store(path, new_state=True).processed_count("jp") == 0
    assert Store(path).processed_count("jp") == 0  # and from then on, as usual


def test_new_state_on_a_usable_state_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    store = Store(path)
    with store.transaction():
        store.mark_processed("jp", "k1", 1, "bounce", "2026-11-28T00:00:00Z")
    with pytest.raises(StateError, match="is usable: --new-state only starts afresh where"):
        Store(path, new_state=True)
    assert Store(path).processed_count("jp") == 1


def test_a_state_from_before_the_marker_gets_one_and_is_then_guarded(tmp_path: Path) -> None:
    from dsnworker.worker.state_file import marker_path

    path = tmp_path / "state.sqlite"
    Store(path).close()
    marker_path(path).unlink()  # as a state made by an older dsnworker
    Store(path).close()
    assert marker_path(path).exists()


def test_the_last_pass_is_kept_per_mailbox_with_the_end_of_the_last_good_one(tmp_path: Path, state_backend) -> None:
    store = state_backend.open(tmp_path)
    store.record_pass("jp", 1000.0, 2.5, None)
    store.record_pass("jp", 2000.0, 1.0, "mailbox 'jp': connection refused")
    (jp,) = store.passes().values()
    assert (jp.started_at, jp.seconds, jp.outcome, jp.error) == (
        2000.0,
        1.0,
        "failed",
        "mailbox 'jp': connection refused",
    )
    assert jp.last_ok_at == 1002.5  # the failed pass does not erase when the mailbox last passed


def test_a_read_only_state_reads_beside_the_writer_and_refuses_to_write(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    writer = Store(path)
    writer.record_pass("jp", 1000.0, 1.0, None)
    reader = Store.read_only(path)
    assert reader.passes()["jp"].outcome == "ok"
    writer.record_pass("jp", 2000.0, 1.0, None)  # the reader's open connection does not hold up the writer
    assert reader.passes()["jp"].started_at == 2000.0
    with pytest.raises(StateError, match="cannot be written"):
        reader.record_pass("jp", 3000.0, 1.0, None)
    with pytest.raises(StateError, match="does not exist"):
        Store.read_only(tmp_path / "other.sqlite")
    assert not (tmp_path / "other.sqlite").exists()  # never created


def test_a_read_only_state_of_an_older_schema_is_read_as_it_is(tmp_path: Path) -> None:
    from dsnworker.worker import state

    path = tmp_path / "state.sqlite"
    with sqlite3.connect(path) as db:  # a worker not upgraded yet: no pass log
        for step in state._MIGRATIONS[:3]:
            db.executescript(step)
        db.execute("PRAGMA user_version=3")
    reader = Store.read_only(path)
    assert reader.passes() == {}
    assert reader.db.execute("PRAGMA user_version").fetchone()[0] == 3  # not migrated by a reader


# -- the same queries on both backends: upserts, searches, savepoints, text SQLite takes and PostgreSQL would not


def test_upserts_add_counts_keep_the_latest_time_and_replace_whole_rows(tmp_path: Path, state_backend) -> None:
    from dsnworker.worker.state import Incident

    store = state_backend.open(tmp_path)
    kind = ("2026-11-01", "jp", None, "mailbox_full", "retry", False)
    with store.transaction():
        store.count_outcomes({kind: 2})
        store.count_outcomes({kind: 3})
        store.note_suppressed("jp", "a@x.jp", "2026-11-02T00:00:00Z")
        store.note_suppressed("jp", "a@x.jp", "2026-11-01T00:00:00Z")  # older: kept out
        store.add_pending("jp", 7, 42, "move:Processed")
        store.add_pending("jp", 8, 42, "delete")
        for count in (1, 2):
            store.save_incident(
                Incident("k", "jp", None, "blocklisted", "spamhaus", "192.0.2.1", {"n": count}, "a", "b", count, 0)
            )
    assert store.db.execute("SELECT count FROM outcome_day").fetchall() == [(5,)]
    assert store.last_suppressed("jp", "a@x.jp") == "2026-11-02T00:00:00Z"
    assert [(p.uidvalidity, p.disposition) for p in store.pending("jp")] == [(8, "delete")]
    incident = store.incident("k")
    assert incident is not None and (incident.count, incident.details) == (2, {"n": 2})


def test_the_webhook_queue_keeps_each_recipients_order_and_its_mark_moves_one_way(
    tmp_path: Path, state_backend
) -> None:
    store = state_backend.open(tmp_path)
    with store.transaction():
        for name, recipient in (("e1", "a@x.jp"), ("e2", "a@x.jp"), ("e3", "b@x.jp")):
            store.add_event("jp", {"id": name, "type": "recipient.bounced", "data": {"recipient": recipient}})
    seqs = [event.seq for event in store.events_after(0)]
    store.queue_for_webhook("app", [(seqs[0], "a"), (seqs[1], "a"), (seqs[2], "b")], seqs[2], now=100.0)
    store.queue_for_webhook("app", [(seqs[0], "a")], seqs[0], now=100.0)  # again: nothing doubled, mark kept
    assert store.webhook_sink("app").queued_seq == seqs[2]
    assert [event.seq for event in store.due_webhook_events("app", 100.0, 10)] == [seqs[0], seqs[2]]
    store.webhook_failed("app", [(seqs[0], None, "HTTP 400")])  # a dead letter no longer holds up e2
    due_again = [event.seq for event in store.due_webhook_events("app", 100.0, 10)]
    # on PostgreSQL a due event is claimed by the worker that took it (e3, still being sent): not due again
    assert due_again == ([seqs[1]] if state_backend.name == "postgresql" else [seqs[1], seqs[2]])
    assert store.webhook_counts("app") == (2, 1)
    assert store.webhook_retry("app", "e1", now=200.0) == 1
    assert store.webhook_queue_rows(None, dead_only=True) == []


def test_hostile_text_is_stored_and_found_again(tmp_path: Path, state_backend) -> None:
    store = state_backend.open(tmp_path)
    odd = "x\x00y\udce9@Example.JP"  # a NUL (PostgreSQL's text refuses it) and a lone surrogate
    with store.transaction():
        assert store.add_event("jp", {"id": "e1", "type": "recipient.bounced", "data": {"recipient": odd}})
        store.add_soft_bounce("jp", "a@example.jp", 1.5)
    store.record_pass("jp", 1000.0, 1.0, "server said \x00")
    (event,) = store.events_mentioning("EXAMPLE.jp")
    assert event.recipient == "x\\x00y\\udce9@Example.JP" and event.body["data"]["recipient"] == odd
    assert store.passes()["jp"].error == "server said \\x00"
    assert store.forget_recipient("A@EXAMPLE.JP") == (1, 0)


def test_a_savepoint_undoes_one_message_and_keeps_the_batch(tmp_path: Path, state_backend) -> None:
    store = state_backend.open(tmp_path)
    with store.transaction():
        store.mark_processed("jp", "k1", 1, "bounce", "2026-11-01T00:00:00Z")
        with pytest.raises(RuntimeError), store.savepoint():
            store.mark_processed("jp", "k2", 2, "bounce", "2026-11-01T00:00:00Z")
            raise RuntimeError("this message trips the recording")
        store.mark_processed("jp", "k3", 3, "bounce", "2026-11-01T00:00:00Z")
    assert store.processed_categories("jp", ["k1", "k2", "k3"]) == {"k1": "bounce", "k3": "bounce"}


def test_pruning_processed_messages_reads_the_sources_kind(tmp_path: Path, state_backend) -> None:
    store = state_backend.open(tmp_path)
    with store.transaction():
        store.mark_processed("jp", "stays", 1, "bounce", "2026-01-01T00:00:00Z", stays=True)
        store.mark_processed("jp", "moved", 2, "bounce", "2026-01-01T00:00:00Z", stays=False)
    assert store.prune_processed("jp", "2026-06-01", every_pass_lists_all=False) == 1
    assert store.prune_processed("jp", "2026-06-01", every_pass_lists_all=True) == 1
    assert store.processed_count("jp") == 0
