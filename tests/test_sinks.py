"""The file sinks: the events file and the suppression file, exactly once across crashes and processes.

Real files in tmp_path; crashes are simulated by writing a partial record by hand, and for real by
SIGKILLing a child process that delivers in a loop.
"""

from __future__ import annotations

import csv
import io
import json
import multiprocessing
import os
import random
import signal
import time
from pathlib import Path

import pytest

from dsnworker.sinks.events_file import EventsFile
from dsnworker.sinks.files import SinkError
from dsnworker.sinks.suppression import COLUMNS, SuppressionFile, address_key, iter_suppressions

FORK = multiprocessing.get_context("fork")


def event(n: int, *, type: str = "incident.updated", **data) -> dict:
    return {"id": f"evt_{n:08x}", "type": type, "timestamp": "2026-11-28T02:30:00Z", "data": data}


def suppressed(recipient: str, n: int = 0, **data) -> dict:
    fields = {
        "recipient": recipient,
        "reason": "user_unknown",
        "status": "5.1.1",
        "provider": "google",
        "rule": "google.nosuchuser",
        "mailbox": "bounces",
    }
    return event(n, type="recipient.suppressed", **(fields | data))


def lines(path: Path) -> list[dict]:
    raw = path.read_bytes()
    assert raw == b"" or raw.endswith(b"\n")
    return [json.loads(line) for line in raw.decode("utf-8").splitlines()]


def ids(path: Path) -> list[str]:
    return [record["id"] for record in lines(path)]


def emails(path: Path, format: str = "csv") -> list[str | None]:
    return [row["email"] for row in iter_suppressions(path, format)]


# --- the events file ---------------------------------------------------------------------------


def test_events_are_appended_one_compact_utf8_line_each(tmp_path):
    path = tmp_path / "events.jsonl"
    EventsFile(path).deliver([event(1, note="Zustellung fehlgeschlagen: ü, 宛先不明"), event(2)])
    raw = path.read_bytes()
    assert raw.count(b"\n") == 2
    assert "宛先不明".encode() in raw  # ensure_ascii=False
    assert raw.startswith(b'{"id":"evt_00000001","type":"incident.updated",')  # compact, id first
    assert ids(path) == ["evt_00000001", "evt_00000002"]


def test_events_survive_a_new_instance(tmp_path):
    path = tmp_path / "events.jsonl"
    EventsFile(path).deliver([event(1), event(2)])
    EventsFile(path).deliver([event(3)])
    assert ids(path) == ["evt_00000001", "evt_00000002", "evt_00000003"]


def test_events_retried_batch_is_not_written_twice(tmp_path):
    path = tmp_path / "events.jsonl"
    sink = EventsFile(path)
    sink.deliver([event(1), event(2), event(3)])
    sink.deliver([event(2), event(3), event(4)])  # the caller had recorded only event 1
    assert ids(path) == [f"evt_{n:08x}" for n in (1, 2, 3, 4)]


def test_events_retried_batch_after_a_restart_is_not_written_twice(tmp_path):
    path = tmp_path / "events.jsonl"
    EventsFile(path).deliver([event(1), event(2), event(3)])
    EventsFile(path).deliver([event(3), event(4)])
    EventsFile(path).deliver([event(1), event(2), event(3), event(4)])
    assert ids(path) == [f"evt_{n:08x}" for n in (1, 2, 3, 4)]


def test_events_retried_batch_shorter_than_what_was_written_writes_nothing(tmp_path):
    path = tmp_path / "events.jsonl"
    EventsFile(path).deliver([event(n) for n in range(1, 41)])  # then a crash before recording any of them
    EventsFile(path).deliver([event(n) for n in range(1, 11)])  # restarted with smaller batches
    EventsFile(path).deliver([event(n) for n in range(11, 51)])
    assert ids(path) == [f"evt_{n:08x}" for n in range(1, 51)]


def test_events_a_replay_is_recognised_whatever_its_age(tmp_path):
    path = tmp_path / "events.jsonl"
    EventsFile(path).deliver([event(n) for n in range(1, 3001)])
    # the state started afresh: the first bounces come again, 3,000 lines later, from a new process
    EventsFile(path).deliver([event(n) for n in (1, 2, 3001, 1500)])
    assert ids(path) == [f"evt_{n:08x}" for n in range(1, 3002)]


def test_events_a_new_instance_reads_the_file_once_then_only_what_was_appended(tmp_path, monkeypatch):
    from dsnworker.sinks.files import LockedFile

    path = tmp_path / "events.jsonl"
    EventsFile(path).deliver([event(n) for n in range(1, 101)])
    size = path.stat().st_size
    read: list[int] = []
    original = LockedFile.read
    monkeypatch.setattr(
        LockedFile, "read", lambda self, offset, length: read.append(length) or original(self, offset, length)
    )
    sink = EventsFile(path)
    sink.deliver([event(101)])
    first = sum(read)
    sink.deliver([event(102)])  # the file is as this instance left it: nothing to read
    mark = len(read)
    EventsFile(path).deliver([event(103)])  # another writer appended 103 (its reads are not ours)
    del read[mark:]
    sink.deliver([event(103), event(104)])
    assert size <= first <= size + 1  # the file, once (and its last byte: is a line torn?)
    assert sum(read) - first < 3 * 200  # the line another writer appended, and last bytes: not the file again
    assert ids(path)[-4:] == [f"evt_{n:08x}" for n in (101, 102, 103, 104)]


def test_events_torn_last_line_is_cut_and_the_next_delivery_is_clean(tmp_path):
    path = tmp_path / "events.jsonl"
    EventsFile(path).deliver([event(1), event(2)])
    with path.open("ab") as f:  # a crash in the middle of writing events 3 and 4
        f.write(b'{"id":"evt_00000003","type":"incident.updated","timestamp":"2026-11-28T02:30:00Z","data":{}}\n')
        f.write(b'{"id":"evt_00000004","type":"incid')
    EventsFile(path).deliver([event(3), event(4), event(5)])
    assert ids(path) == [f"evt_{n:08x}" for n in (1, 2, 3, 4, 5)]


def test_events_torn_line_alone_in_the_file_is_cut(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_bytes('{"id":"evt_00000001","data":{"x":"ü'.encode()[:-1])  # even mid-character
    EventsFile(path).deliver([event(1), event(2)])
    assert ids(path) == ["evt_00000001", "evt_00000002"]


def test_events_retry_finds_its_lines_behind_another_writers(tmp_path):
    path = tmp_path / "events.jsonl"
    EventsFile(path).deliver([event(1), event(2)])  # then this worker crashed before recording them
    EventsFile(path).deliver([event(100), event(101)])  # another process, another outbox
    EventsFile(path).deliver([event(1), event(2), event(3)])
    assert ids(path) == [f"evt_{n:08x}" for n in (1, 2, 100, 101, 3)]


def test_events_last_line_id_is_found_when_not_the_first_key(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text('{"type":"incident.updated","id":"evt_00000001","data":{}}\n')
    EventsFile(path).deliver([event(1), event(2)])
    assert ids(path) == ["evt_00000001", "evt_00000002"]


def test_events_a_very_long_last_line_is_still_recognised(tmp_path):
    path = tmp_path / "events.jsonl"
    EventsFile(path).deliver([event(1, blob="x" * 300_000)])
    EventsFile(path).deliver([event(1, blob="x" * 300_000), event(2)])
    assert ids(path) == ["evt_00000001", "evt_00000002"]


def test_events_without_an_id_are_refused_before_writing(tmp_path):
    path = tmp_path / "events.jsonl"
    with pytest.raises(SinkError, match="without an id"):
        EventsFile(path).deliver([event(1), {"type": "incident.opened", "data": {}}])
    assert not path.exists()


def test_events_file_renamed_away_is_not_written_to(tmp_path):
    path = tmp_path / "events.jsonl"
    sink = EventsFile(path)
    sink.deliver([event(1)])
    path.rename(tmp_path / "events.jsonl.1")  # rotated by logrotate
    sink.deliver([event(2)])
    assert ids(tmp_path / "events.jsonl.1") == ["evt_00000001"]
    assert ids(path) == ["evt_00000002"]


def _append_events(path: Path, worker: int, batches: int, start: multiprocessing.synchronize.Event) -> None:
    sink = EventsFile(path)
    start.wait()
    for b in range(batches):
        sink.deliver([event(worker * 1_000_000 + b * 10 + i, blob=str(worker) * 3000) for i in range(10)])


def test_events_two_processes_appending_at_once_neither_duplicate_nor_interleave(tmp_path):
    path = tmp_path / "events.jsonl"
    start = FORK.Event()
    workers = [FORK.Process(target=_append_events, args=(path, w, 40, start)) for w in (1, 2)]
    for worker in workers:
        worker.start()
    start.set()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    records = lines(path)  # every line parses: none interleaved
    assert len(records) == len({r["id"] for r in records}) == 800
    for w in (1, 2):
        mine = [r["id"] for r in records if r["data"]["blob"] == str(w) * 3000]
        assert mine == [f"evt_{w * 1_000_000 + b * 10 + i:08x}" for b in range(40) for i in range(10)]


# --- the suppression file ----------------------------------------------------------------------


def test_suppression_takes_only_suppressed_events(tmp_path):
    path = tmp_path / "suppressed.csv"
    SuppressionFile(path, "csv").deliver(
        [event(1), suppressed("taro@example.jp", 2), event(3, type="recipient.bounced")]
    )
    assert emails(path) == ["taro@example.jp"]


def test_suppression_csv_has_a_header_and_the_columns(tmp_path):
    path = tmp_path / "suppressed.csv"
    SuppressionFile(path, "csv").deliver([suppressed("taro@example.jp")])
    rows = list(csv.reader(io.StringIO(path.read_text("utf-8"), newline="")))
    assert rows == [
        list(COLUMNS),
        [
            "taro@example.jp",
            "user_unknown",
            "5.1.1",
            "google",
            "google.nosuchuser",
            "2026-11-28T02:30:00Z",
            "2026-11-28T02:30:00Z",
            "bounces",
        ],
    ]


def test_suppression_seen_dates_come_from_the_event_data_when_present(tmp_path):
    path = tmp_path / "suppressed.csv"
    SuppressionFile(path, "csv").deliver(
        [suppressed("taro@example.jp", first_seen="2026-11-21T08:00:00Z", last_seen="2026-11-28T02:29:00Z")]
    )
    (row,) = iter_suppressions(path, "csv")
    assert (row["first_seen"], row["last_seen"]) == ("2026-11-21T08:00:00Z", "2026-11-28T02:29:00Z")


def test_suppression_missing_values_read_back_as_none(tmp_path):
    path = tmp_path / "suppressed.csv"
    SuppressionFile(path, "csv").deliver([suppressed("taro@example.jp", provider=None, rule=None)])
    (row,) = iter_suppressions(path, "csv")
    assert row["provider"] is None and row["rule"] is None


def test_suppression_an_address_is_written_once_across_instances(tmp_path):
    path = tmp_path / "suppressed.csv"
    SuppressionFile(path, "csv").deliver([suppressed("taro@example.jp"), suppressed("taro@example.jp")])
    SuppressionFile(path, "csv").deliver([suppressed("taro@example.jp"), suppressed("hanako@example.jp")])
    assert emails(path) == ["taro@example.jp", "hanako@example.jp"]


def test_suppression_domain_case_does_not_make_a_new_address(tmp_path):
    path = tmp_path / "suppressed.csv"
    SuppressionFile(path, "csv").deliver([suppressed("Taro@Example.JP")])
    SuppressionFile(path, "csv").deliver([suppressed("Taro@example.jp")])
    assert emails(path) == ["Taro@Example.JP"]


def test_suppression_local_part_case_is_kept_apart(tmp_path):
    path = tmp_path / "suppressed.csv"
    SuppressionFile(path, "csv").deliver([suppressed("Taro@example.jp"), suppressed("taro@example.jp")])
    assert emails(path) == ["Taro@example.jp", "taro@example.jp"]


def test_address_key_splits_at_the_last_at_sign():
    assert address_key('"a@b"@Example.COM') == '"a@b"@example.com'


def test_suppression_sees_what_another_instance_appended_since(tmp_path):
    path = tmp_path / "suppressed.csv"
    first, second = SuppressionFile(path, "csv"), SuppressionFile(path, "csv")
    first.deliver([suppressed("a@example.jp")])
    second.deliver([suppressed("b@example.jp")])
    first.deliver([suppressed("b@example.jp"), suppressed("c@example.jp")])
    second.deliver([suppressed("a@example.jp"), suppressed("c@example.jp")])
    assert emails(path) == ["a@example.jp", "b@example.jp", "c@example.jp"]


NASTY = {
    "recipient": '"o\'brien, jr"@bücher.example',
    "reason": 'said "no", twice',
    "status": "5.1.1",
    "provider": "line one\nline two\r\nline three\rend",
    "rule": "宛先不明,ü",
    "mailbox": "Bounces / 受信箱",
}


def test_suppression_csv_round_trips_commas_quotes_newlines_and_non_ascii(tmp_path):
    path = tmp_path / "suppressed.csv"
    SuppressionFile(path, "csv").deliver([suppressed(**NASTY), suppressed("next@example.jp")])
    first, second = iter_suppressions(path, "csv")
    assert first["email"] == NASTY["recipient"]
    assert {key: first[key] for key in ("reason", "status", "provider", "rule", "mailbox")} == {
        key: NASTY[key] for key in ("reason", "status", "provider", "rule", "mailbox")
    }
    assert second["email"] == "next@example.jp"
    SuppressionFile(path, "csv").deliver([suppressed(**NASTY)])  # read back for dedupe too
    assert len(list(iter_suppressions(path, "csv"))) == 2


@pytest.mark.parametrize("value", ['=HYPERLINK("http://x")@e.jp', "+1@e.jp", "-x@e.jp", "@x@e.jp", "'q@e.jp"])
def test_suppression_csv_cells_a_spreadsheet_would_run_get_a_quote_and_read_back_exactly(tmp_path, value):
    path = tmp_path / "suppressed.csv"
    SuppressionFile(path, "csv").deliver([suppressed(value)])
    cells = list(csv.reader(io.StringIO(path.read_text("utf-8"), newline="")))[1]
    assert cells[0] == "'" + value
    assert emails(path) == [value]
    SuppressionFile(path, "csv").deliver([suppressed(value)])
    assert emails(path) == [value]


def test_suppression_csv_cell_starting_with_a_tab_gets_a_quote_and_reads_back_exactly(tmp_path):
    # (an address cannot start with a tab: the provider's cell shows it)
    path = tmp_path / "suppressed.csv"
    SuppressionFile(path, "csv").deliver([suppressed("taro@example.jp", provider="\tgoogle")])
    cells = list(csv.reader(io.StringIO(path.read_text("utf-8"), newline="")))[1]
    assert cells[COLUMNS.index("provider")] == "'\tgoogle"
    (row,) = iter_suppressions(path, "csv")
    assert row["provider"] == "\tgoogle"


@pytest.mark.parametrize(
    "value", ["Undisclosed Recipients", "undisclosed-recipients:;", "taro yamada@example.jp", "taro@localhost"]
)
def test_suppression_refuses_a_row_for_what_is_not_an_address_and_says_so(tmp_path, caplog, value):
    path = tmp_path / "suppressed.csv"
    with caplog.at_level("WARNING", logger="dsnworker.sinks.suppression"):
        SuppressionFile(path, "csv").deliver([suppressed(value)])
    assert not path.exists()
    assert f"{value} is not an address" in caplog.text


def test_suppression_writes_the_valid_addresses_of_a_delivery_that_holds_an_invalid_one(tmp_path):
    path = tmp_path / "suppressed.csv"
    SuppressionFile(path, "csv").deliver([suppressed("Undisclosed Recipients", 1), suppressed("taro@example.jp", 2)])
    assert emails(path) == ["taro@example.jp"]


def test_suppression_jsonl_format(tmp_path):
    path = tmp_path / "suppressed.jsonl"
    SuppressionFile(path, "jsonl").deliver([suppressed(**NASTY), suppressed("=x@e.jp"), event(9)])
    SuppressionFile(path, "jsonl").deliver([suppressed("=x@E.JP"), suppressed("y@e.jp")])
    records = lines(path)
    assert [list(r) for r in records] == [list(COLUMNS)] * 3
    assert [r["email"] for r in records] == [NASTY["recipient"], "=x@e.jp", "y@e.jp"]  # no quote: not a spreadsheet
    assert records[0]["provider"] == NASTY["provider"]
    assert emails(path, "jsonl") == [NASTY["recipient"], "=x@e.jp", "y@e.jp"]


def test_suppression_unknown_format_is_refused(tmp_path):
    with pytest.raises(ValueError, match="format"):
        SuppressionFile(tmp_path / "s.txt", "xml")  # type: ignore[arg-type]


def test_iter_suppressions_ignores_a_torn_csv_record(tmp_path):
    path = tmp_path / "suppressed.csv"
    SuppressionFile(path, "csv").deliver([suppressed("a@example.jp")])
    with path.open("ab") as f:
        f.write(b'b@example.jp,"user_unknown\nstill in the quoted value')
    assert emails(path) == ["a@example.jp"]
    with path.open("ab") as f:
        f.write(b"\n")  # torn just after a newline inside the quotes: still not a record
    assert emails(path) == ["a@example.jp"]


def test_iter_suppressions_ignores_a_torn_jsonl_line(tmp_path):
    path = tmp_path / "suppressed.jsonl"
    SuppressionFile(path, "jsonl").deliver([suppressed("a@example.jp")])
    with path.open("ab") as f:
        f.write(b'{"email":"b@example.jp","reas')
    assert emails(path, "jsonl") == ["a@example.jp"]


def test_iter_suppressions_of_a_missing_file_raises(tmp_path):
    with pytest.raises(FileNotFoundError):
        list(iter_suppressions(tmp_path / "none.csv", "csv"))


@pytest.mark.parametrize("format", ["csv", "jsonl"])
def test_suppression_torn_tail_is_cut_and_the_next_delivery_is_clean(tmp_path, format):
    path = tmp_path / f"suppressed.{format}"
    SuppressionFile(path, format).deliver([suppressed("a@example.jp")])
    with path.open("ab") as f:
        f.write(b'b@example.jp,"user_unkn' if format == "csv" else b'{"email":"b@exam')
    SuppressionFile(path, format).deliver([suppressed("b@example.jp"), suppressed("c@example.jp")])
    assert emails(path, format) == ["a@example.jp", "b@example.jp", "c@example.jp"]
    assert path.read_bytes().endswith(b"\n")


def test_suppression_torn_header_is_cut_and_written_again(tmp_path):
    path = tmp_path / "suppressed.csv"
    path.write_bytes(b"email,reas")
    SuppressionFile(path, "csv").deliver([suppressed("a@example.jp")])
    assert path.read_bytes().startswith(",".join(COLUMNS).encode() + b"\r\n")
    assert emails(path) == ["a@example.jp"]


def test_suppression_unbalanced_quote_is_reported_not_cut(tmp_path):
    path = tmp_path / "suppressed.csv"
    SuppressionFile(path, "csv").deliver([suppressed("a@example.jp")])
    with path.open("ab") as f:
        f.write(b'b@example.jp,"edited by hand\r\nc@example.jp,x\r\n')
    before = path.read_bytes()
    with pytest.raises(SinkError, match="unbalanced quote"):
        SuppressionFile(path, "csv").deliver([suppressed("d@example.jp")])
    assert path.read_bytes() == before


def test_suppression_csv_header_saved_with_a_byte_order_mark_is_understood(tmp_path):
    path = tmp_path / "suppressed.csv"
    path.write_bytes(b"\xef\xbb\xbf" + ",".join(COLUMNS).encode() + b"\r\na@example.jp,,,,,,,\r\n")
    SuppressionFile(path, "csv").deliver([suppressed("a@example.jp"), suppressed("b@example.jp")])
    assert emails(path) == ["a@example.jp", "b@example.jp"]


def test_suppression_csv_without_an_email_header_is_refused(tmp_path):
    path = tmp_path / "suppressed.csv"
    path.write_text("address,why\r\nx@example.jp,bad\r\n")
    with pytest.raises(SinkError, match="header"):
        SuppressionFile(path, "csv").deliver([suppressed("a@example.jp")])


def _suppress_all(path: Path, format: str, addresses: list[str], start: multiprocessing.synchronize.Event) -> None:
    sink = SuppressionFile(path, format)
    start.wait()
    for i in range(0, len(addresses), 5):
        sink.deliver([suppressed(address, n) for n, address in enumerate(addresses[i : i + 5], start=i)])


@pytest.mark.parametrize("format", ["csv", "jsonl"])
def test_suppression_two_processes_at_once_write_each_address_once(tmp_path, format):
    path = tmp_path / f"suppressed.{format}"
    addresses = [f"user{n}@Example{n % 7}.jp" for n in range(300)]
    start = FORK.Event()
    workers = [
        FORK.Process(target=_suppress_all, args=(path, format, order, start))
        for order in (addresses, [a.lower() for a in reversed(addresses)])
    ]
    for worker in workers:
        worker.start()
    start.set()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    written = emails(path, format)
    assert sorted(address_key(e or "") for e in written) == sorted(address_key(a) for a in addresses)
    records = path.read_bytes().split(b"\r\n" if format == "csv" else b"\n")
    assert records[-1] == b"" and len(records) - 1 == 300 + (format == "csv")  # nothing interleaved


# --- crashes: SIGKILL at random moments ----------------------------------------------------------


def _deliver_until_done(path: Path, progress: Path, kind: str, events: list[dict], seed: int) -> None:
    """The caller's side of the contract: deliver from the first unrecorded event, then record progress."""
    rng = random.Random(seed)
    sink = EventsFile(path) if kind == "events" else SuppressionFile(path, "csv")
    while (done := int(progress.read_text()) if progress.exists() else 0) < len(events):
        batch = events[done : done + rng.randint(1, 40)]
        sink.deliver(batch)
        progress.with_suffix(".tmp").write_text(str(done + len(batch)))
        os.replace(progress.with_suffix(".tmp"), progress)


def _kill_repeatedly(path: Path, progress: Path, kind: str, events: list[dict], rounds: int) -> None:
    rng = random.Random(1234)
    for round_ in range(rounds):
        child = FORK.Process(target=_deliver_until_done, args=(path, progress, kind, events, round_))
        child.start()
        time.sleep(rng.uniform(0.002, 0.05))
        os.kill(child.pid, signal.SIGKILL)
        child.join(10)
        assert child.exitcode in (-signal.SIGKILL, 0)


def test_events_file_sigkilled_at_random_moments_has_every_event_exactly_once(tmp_path):
    path, progress = tmp_path / "events.jsonl", tmp_path / "progress"
    rng = random.Random(7)
    events = [event(n, blob="é" * rng.choice((10, 1000, 50_000))) for n in range(1500)]
    _kill_repeatedly(path, progress, "events", events, rounds=15)
    done = int(progress.read_text()) if progress.exists() else 0
    EventsFile(path).deliver(events[done:])
    EventsFile(path).deliver(events)  # everything again: nothing new
    assert ids(path) == [e["id"] for e in events]  # every line parses, each id once, in order


def test_suppression_file_sigkilled_at_random_moments_has_every_address_exactly_once(tmp_path):
    path, progress = tmp_path / "suppressed.csv", tmp_path / "progress"
    addresses = [f"user{n % 1200}@EXAMPLE{n % 5}.jp" for n in range(1500)]  # some suppressed twice
    events = [suppressed(address, n, reason="x" * (n % 3000)) for n, address in enumerate(addresses)]
    _kill_repeatedly(path, progress, "suppression", events, rounds=10)
    SuppressionFile(path, "csv").deliver(events)  # everything, from the start
    written = emails(path)
    assert len(written) == len(set(written)) == 1200
    raw = path.read_bytes().decode("utf-8")
    assert raw.endswith("\r\n")
    assert len(list(csv.reader(io.StringIO(raw, newline="")))) == 1201
