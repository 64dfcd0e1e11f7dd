"""The pipeline on a local maildir: where each kind of message lands, the policy, incidents, dry runs.

The IMAP side of the same pipeline is tested against a real Dovecot in test_worker_imap.py.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, ClassVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsnworker.analyser import Analyser
from dsnworker.sinks.suppression import iter_suppressions
from dsnworker.worker.delivery import OutboxDelivery
from dsnworker.worker.pipeline import MailboxPass
from dsnworker.worker.runner import open_source
from dsnworker.worker.settings import Disposition, MailboxSettings, Policy, Settings, SinkSettings
from dsnworker.worker.state import Store
from tests import mailgen

if TYPE_CHECKING:
    from tests.conftest import StateBackend

ANALYSER = Analyser.with_rules()


@pytest.fixture(autouse=True)
def _on_each_backend(state_backend, monkeypatch) -> None:
    """Every test here runs on SQLite and on PostgreSQL."""
    monkeypatch.setattr(Harness, "backend", state_backend)


def make_maildir(root: Path, messages: list[bytes]) -> Path:
    for sub in ("cur", "new", "tmp"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for number, data in enumerate(messages):
        (root / "new" / f"{1700000000 + number}.M{number}P1.test").write_bytes(data)
    return root


def files_in(root: Path, folder: str | None = None) -> int:
    base = root / f".{folder}" if folder else root
    return sum(len(list((base / sub).iterdir())) for sub in ("cur", "new") if (base / sub).is_dir())


class Harness:
    """One maildir mailbox with both file sinks, and a clock the test moves. Its state is a SQLite file,
    or where `backend` (tests/conftest.py's StateBackend) puts it: this module runs on both backends."""

    backend: ClassVar[StateBackend | None] = None

    def __init__(self, tmp: Path, messages: list[bytes], **mailbox: object) -> None:
        self.tmp = tmp
        self.maildir = make_maildir(tmp / "mail", messages)
        options = {
            "after": Disposition("move", "Processed"),
            "not_bounce": Disposition("leave"),
            "unparsed": Disposition("move", "Unparsed"),
        } | mailbox
        self.mailbox = MailboxSettings(name="bounces", source="maildir", path=self.maildir, **options)  # type: ignore[arg-type]
        self.settings = Settings(
            path=tmp / "config.toml",
            state=self.backend.location(tmp) if self.backend else tmp / "state.sqlite",
            mailboxes=(self.mailbox,),
            sinks=(
                SinkSettings(name="suppressions", kind="suppression_file", path=tmp / "suppressions.csv"),
                SinkSettings(name="events", kind="events_file", path=tmp / "events.jsonl"),
            ),
        )
        self.now = datetime(2026, 11, 1, tzinfo=UTC)
        self.store = self.backend.open(tmp) if self.backend else Store(self.settings.state)
        delivery = OutboxDelivery.for_settings(self.store, self.settings)
        clock = lambda: self.now  # noqa: E731
        self.mailbox_pass = MailboxPass(self.mailbox, self.store, ANALYSER, delivery, open_source, clock=clock)

    def add(self, *messages: bytes) -> None:
        start = files_in(self.maildir) + files_in(self.maildir, "Processed") + 1000
        for number, data in enumerate(messages, start):
            (self.maildir / "new" / f"{1800000000 + number}.M{number}P2.test").write_bytes(data)

    def events(self) -> list[dict]:
        path = self.tmp / "events.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def suppressed(self) -> list[str]:
        path = self.tmp / "suppressions.csv"
        return [row["email"] for row in iter_suppressions(path, "csv")] if path.exists() else []


def test_each_kind_of_message_lands_where_the_config_says(tmp_path: Path) -> None:
    messages = [
        mailgen.dsn("gone@example.jp", "user_unknown", 1),
        mailgen.dsn("full@example.jp", "mailbox_full", 2),
        mailgen.auto_reply(3),
        mailgen.personal(4),
        mailgen.garbage(5),
    ]
    harness = Harness(tmp_path, messages)
    summary = harness.mailbox_pass.run()
    assert (summary.new, summary.not_bounce, summary.unparsed, summary.suppressed) == (5, 1, 1, 1)
    assert summary.errors == []
    assert files_in(harness.maildir, "Processed") == 3  # two bounces and the auto-reply
    assert files_in(harness.maildir, "Unparsed") == 1
    assert files_in(harness.maildir) == 1  # the personal mail stays where it was
    types = sorted(event["type"] for event in harness.events())
    assert types == ["message.unparsed", "recipient.bounced", "recipient.suppressed"]
    assert harness.suppressed() == ["gone@example.jp"]


def test_a_second_pass_finds_nothing_new_and_writes_nothing(tmp_path: Path) -> None:
    harness = Harness(tmp_path, [mailgen.dsn("gone@example.jp", serial=1)], after=Disposition("none"))
    harness.mailbox_pass.run()
    again = harness.mailbox_pass.run()
    assert (again.new, again.duplicates) == (0, 1)
    assert len(harness.events()) == 1


def test_soft_bounces_past_the_threshold_within_the_window_suppress(tmp_path: Path) -> None:
    harness = Harness(tmp_path, [], policy=Policy(soft_threshold=3, soft_window_days=7))
    for serial in range(3):
        harness.add(mailgen.dsn("full@example.jp", "mailbox_full", serial))
        harness.mailbox_pass.run()
        harness.now += timedelta(days=1)
    events = harness.events()
    assert [e["type"] for e in events] == ["recipient.bounced", "recipient.bounced", "recipient.suppressed"]
    last = events[-1]["data"]
    assert last["soft_bounces"] == {"count": 3, "since": "2026-11-01T00:00:00Z", "threshold": 3}
    assert last["suppressed_because"] == "soft_bounce_threshold"
    assert harness.suppressed() == ["full@example.jp"]


def test_delay_notices_are_retried_but_never_counted_toward_suppression(tmp_path: Path) -> None:
    harness = Harness(tmp_path, [], policy=Policy(soft_threshold=2, soft_window_days=7))
    for serial in range(4):  # the sending MTA warns at 4 hours, 1 day, 2 days, 3 days
        harness.add(mailgen.dsn("late@example.jp", "mailbox_full", serial, action="delayed"))
        harness.mailbox_pass.run()
        harness.now += timedelta(hours=12)
    events = harness.events()
    assert [e["type"] for e in events] == ["recipient.bounced"] * 4
    assert all(e["data"]["delayed"] is True and e["data"]["action"] == "retry" for e in events)
    assert all("soft_bounces" not in e["data"] and e["data"]["status"].startswith("4.") for e in events)
    assert harness.suppressed() == []
    harness.add(mailgen.dsn("late@example.jp", "mailbox_full", 9))  # the final failure counts, once
    harness.mailbox_pass.run()
    assert harness.events()[-1]["data"]["soft_bounces"]["count"] == 1


def test_soft_bounces_older_than_the_window_do_not_count(tmp_path: Path) -> None:
    harness = Harness(tmp_path, [], policy=Policy(soft_threshold=2, soft_window_days=7))
    harness.add(mailgen.dsn("full@example.jp", "mailbox_full", 1))
    harness.mailbox_pass.run()
    harness.now += timedelta(days=8)
    harness.add(mailgen.dsn("full@example.jp", "mailbox_full", 2))
    harness.mailbox_pass.run()
    assert [e["type"] for e in harness.events()] == ["recipient.bounced", "recipient.bounced"]
    assert harness.events()[-1]["data"]["soft_bounces"]["count"] == 1


def test_a_delivered_dsn_resets_the_soft_bounce_count(tmp_path: Path) -> None:
    harness = Harness(tmp_path, [], policy=Policy(soft_threshold=2))
    harness.add(mailgen.dsn("full@example.jp", "mailbox_full", 1))
    harness.mailbox_pass.run()
    harness.add(mailgen.dsn("full@example.jp", "delivered", 2))
    harness.mailbox_pass.run()
    harness.add(mailgen.dsn("full@example.jp", "mailbox_full", 3))
    harness.mailbox_pass.run()
    assert [e["type"] for e in harness.events()] == ["recipient.bounced", "recipient.bounced"]
    assert harness.suppressed() == []


def test_a_listed_sending_ip_makes_one_incident_and_penalises_nobody(tmp_path: Path) -> None:
    messages = [mailgen.dsn(f"user{n}@example.jp", "spamhaus", n) for n in range(50)]
    harness = Harness(tmp_path, messages, batch_size=10)
    summary = harness.mailbox_pass.run()
    assert summary.suppressed == 0
    events = harness.events()
    assert not [e for e in events if e["type"].startswith("recipient.")]
    opened = [e for e in events if e["type"] == "incident.opened"]
    updated = [e for e in events if e["type"] == "incident.updated"]
    assert len(opened) == 1
    assert opened[0]["data"]["blocklist"] == "spamhaus"
    assert opened[0]["data"]["listed_ip"] == "192.0.2.25"
    assert 1 <= len(updated) <= 5  # at most one update per batch, not one per recipient
    assert updated[-1]["data"]["count"] == 50
    assert harness.suppressed() == []


def test_event_ids_depend_on_the_bounce_not_on_the_run(tmp_path: Path) -> None:
    messages = [mailgen.dsn("gone@example.jp", serial=1), mailgen.dsn("full@example.jp", "mailbox_full", 2)]
    first = Harness(tmp_path / "a", messages)
    first.mailbox_pass.run()
    second = Harness(tmp_path / "b", messages)
    second.now += timedelta(hours=5)
    second.mailbox_pass.run()
    assert [e["id"] for e in first.events()] == [e["id"] for e in second.events()]


def test_a_dry_run_reports_events_and_changes_nothing(tmp_path: Path) -> None:
    harness = Harness(tmp_path, [mailgen.dsn("gone@example.jp", serial=1), mailgen.personal(2)])
    summary = harness.mailbox_pass.run(dry_run=True)
    assert [e["type"] for e in summary.dry_run_events] == ["recipient.suppressed"]
    assert harness.events() == [] and harness.suppressed() == []
    assert files_in(harness.maildir) == 2
    assert harness.store.processed_count("bounces") == 0
    real = harness.mailbox_pass.run()
    assert real.new == 2 and len(harness.events()) == 1


def test_a_vanished_maildir_is_an_error_of_that_mailbox(tmp_path: Path) -> None:
    harness = Harness(tmp_path, [])
    for sub in ("cur", "new", "tmp"):
        (harness.maildir / sub).rmdir()
    summary = harness.mailbox_pass.run()
    assert summary.errors and "bounces" in summary.errors[0] and "not a maildir" in summary.errors[0]


@pytest.mark.parametrize("after", ["seen", "delete"])
def test_other_dispositions_of_a_processed_bounce(tmp_path: Path, after: str) -> None:
    harness = Harness(tmp_path, [mailgen.dsn("gone@example.jp", serial=1)], after=Disposition(after))  # type: ignore[arg-type]
    harness.mailbox_pass.run()
    names = [p.name for sub in ("cur", "new") for p in (harness.maildir / sub).iterdir()]
    assert names == ([] if after == "delete" else [names[0]])
    if after == "seen":
        assert names[0].endswith(":2,S")


def test_a_failing_sink_is_an_error_of_the_pass_and_its_events_wait_in_the_outbox(tmp_path: Path) -> None:
    harness = Harness(tmp_path, [mailgen.dsn("gone@example.jp", serial=1)])
    (tmp_path / "events.jsonl").mkdir()  # the events file cannot be written
    summary = harness.mailbox_pass.run()
    assert summary.new == 1 and any("delivering to a sink" in error for error in summary.errors)
    assert files_in(harness.maildir, "Processed") == 1  # committed, so filed away all the same
    (tmp_path / "events.jsonl").rmdir()
    again = harness.mailbox_pass.run()
    assert again.errors == [] and [e["type"] for e in harness.events()] == ["recipient.suppressed"]


def test_the_outbox_is_pruned_once_every_sink_has_its_events(tmp_path: Path) -> None:
    harness = Harness(tmp_path, [mailgen.dsn(f"u{n}@example.jp", serial=n) for n in range(5)])
    harness.mailbox_pass.run()
    assert harness.store.event_count() == 5
    assert harness.store.prune_outbox(["suppressions"], ["app"]) == 0  # a webhook sink has not queued them
    assert harness.store.prune_outbox(["suppressions", "events"], []) == 5
    assert harness.store.event_count() == 0
    harness.add(mailgen.dsn("later@example.jp", serial=99))
    harness.mailbox_pass.run()
    assert [e["data"]["recipient"] for e in harness.events()][-1] == "later@example.jp"


def test_soft_bounces_older_than_the_window_are_forgotten(tmp_path: Path) -> None:
    harness = Harness(tmp_path, [mailgen.dsn("full@example.jp", "mailbox_full", 1)], policy=Policy(soft_window_days=7))
    harness.mailbox_pass.run()
    count = "SELECT count(*) FROM soft_bounce"
    assert harness.store.db.execute(count).fetchone()[0] == 1
    harness.now += timedelta(days=8)
    harness.mailbox_pass.run()
    assert harness.store.db.execute(count).fetchone()[0] == 0


def test_a_message_that_trips_the_recording_is_quarantined_and_the_batch_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dsnworker.worker.policy import PolicyEngine

    messages = [mailgen.dsn(f"u{n}@example.jp", serial=n) for n in range(3)]
    harness = Harness(tmp_path, messages)
    original = PolicyEngine.events_for

    def events_for(self, context, outcomes, tally):
        if outcomes[0].report.recipient == "u1@example.jp":
            raise RuntimeError("a bug in recording")
        return original(self, context, outcomes, tally)

    monkeypatch.setattr(PolicyEngine, "events_for", events_for)
    summary = harness.mailbox_pass.run()
    assert summary.errors == [] and summary.new == 3
    assert [e["type"] for e in harness.events()] == ["recipient.suppressed", "message.unparsed", "recipient.suppressed"]
    assert "a bug in recording" in harness.events()[1]["data"]["why"]
    assert files_in(harness.maildir, "Unparsed") == 1 and files_in(harness.maildir, "Processed") == 2
    again = harness.mailbox_pass.run()
    assert again.new == 0  # recorded once, as unparsed: no loop


def test_a_batch_is_recorded_in_one_savepoint_and_its_messages_marked_in_one_statement(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a savepoint per message cost two statements and two copies of the tally a message: the batch
    # takes one, and only the one that trips the recording (above) takes the slow road
    from dsnworker.worker.state import Store

    calls: list[str] = []
    savepoint, mark_all_processed = Store.savepoint, Store.mark_all_processed

    def counted_savepoint(self):
        calls.append("savepoint")
        return savepoint(self)

    def counted_marks(self, mailbox, messages):
        calls.append(f"mark {len(messages)}")
        return mark_all_processed(self, mailbox, messages)

    monkeypatch.setattr(Store, "savepoint", counted_savepoint)
    monkeypatch.setattr(Store, "mark_all_processed", counted_marks)
    harness = Harness(tmp_path, [mailgen.dsn(f"u{n}@example.jp", serial=n) for n in range(40)])
    summary = harness.mailbox_pass.run()
    assert (summary.new, summary.bounces, summary.errors) == (40, 40, [])
    assert calls == ["savepoint", "mark 40"]
    assert harness.store.processed_count("bounces") == 40 and len(harness.events()) == 40


def test_a_disposition_the_server_refuses_is_said_once_and_not_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from dsnworker.worker.local import MaildirSource
    from dsnworker.worker.source import SourceError

    def refuse(self, uids, disposition):
        raise SourceError(self.name, "moving messages: the server answered: NO [NOPERM]", retryable=False)

    monkeypatch.setattr(MaildirSource, "dispose", refuse)
    harness = Harness(tmp_path, [mailgen.dsn("gone@example.jp", serial=1)])
    summary = harness.mailbox_pass.run()
    assert summary.errors == [] and summary.suppressed == 1
    assert "refused, left in place" in caplog.text and "NOPERM" in caplog.text
    assert harness.store.pending("bounces") == []


def test_a_refusal_is_said_once_whatever_timings_the_server_adds_to_its_words(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Dovecot adds a third term when it waited on the client: the same refusal was said again
    from dsnworker.worker.source import SourceError

    harness = Harness(tmp_path, [])
    said = "creating folder 'Processed': the server answered: [SERVERBUG] Internal error. [2026-12-04 21:47:04]"
    with caplog.at_level(logging.DEBUG):
        for timings in ("(0.001 + 0.000 secs).", "(0.005 + 0.000 + 0.004 secs).", "(0.002 + 0.001 secs)."):
            refusal = SourceError("bounces", f"{said} {timings}", retryable=False)
            harness.mailbox_pass._refused(refusal, "move:Processed", [1])
    assert [record.levelno for record in caplog.records] == [logging.ERROR, logging.DEBUG, logging.DEBUG]


def test_a_maildir_folder_that_cannot_be_written_is_said_once_and_each_message_processed_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A file where the Maildir++ folder should be: mkdir fails for root too (chmod would not stop
    # root, who runs the tests); an unwritable maildir takes the same path (an OSError on the move).
    messages = [mailgen.dsn(f"u{n}@example.jp", serial=n) for n in range(7)]
    harness = Harness(tmp_path, messages, batch_size=2)
    (harness.maildir / ".Processed").write_text("in the way")
    with caplog.at_level(logging.DEBUG, logger="dsnworker"):
        first = harness.mailbox_pass.run()
        again = harness.mailbox_pass.run()
    assert (first.new, first.suppressed, first.errors) == (7, 7, [])
    assert (again.new, again.duplicates, again.errors) == (0, 7, [])
    assert len(harness.events()) == 7 and files_in(harness.maildir) == 7
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(errors) == 1, errors  # neither retried as a lost connection nor repeated per batch
    assert "refused, left in place" in errors[0]
    assert f"cannot create folder {harness.maildir / '.Processed'}" in errors[0]


def test_a_maildir_message_over_the_size_limit_is_read_from_its_beginning(tmp_path: Path) -> None:
    big = mailgen.dsn("gone@example.jp", serial=1).replace(
        b"X-Campaign-Id", b"X-Pad: " + b"x" * 20_000 + b"\r\nX-Campaign-Id"
    )
    harness = Harness(tmp_path, [big], max_message_bytes=3000)
    source = open_source(harness.mailbox)
    source.open()
    (fetched,) = list(source.fetch([1]))
    assert fetched.truncated and len(fetched.data) == 3000 and fetched.size == len(big)
    assert harness.mailbox_pass.run().suppressed == 1  # the report is within its first 3,000 bytes


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (b"Date: Mon, 13 May 2024 11:02:17 +0900\r\n", "2024-05-13T02:02:17Z"),
        (b"DATE:   Mon, 13 May 2024 02:02:17 -0000\n", "2024-05-13T02:02:17Z"),
        (b"Date: not a date at all\r\n", None),
        (b"", None),
    ],
)
def test_bounced_at_is_the_bounce_s_own_date_in_utc(header: bytes, expected: str | None) -> None:
    from dsnworker.worker.pipeline import bounced_at

    data = (
        b"From: MAILER-DAEMON@example.jp\r\n" + header + b"Subject: x\r\n\r\nDate: Tue, 1 Jan 2030 00:00:00 +0000\r\n"
    )
    assert bounced_at(data) == expected


def test_recipient_events_carry_when_the_bounce_happened(tmp_path: Path) -> None:
    harness = Harness(tmp_path, [mailgen.dsn("gone@example.jp", serial=1)])
    harness.mailbox_pass.run()
    (event,) = harness.events()
    assert event["data"]["bounced_at"] == "2024-05-13T02:02:17Z" and event["timestamp"].startswith("2026-11-01")


def test_a_bounce_dated_before_the_year_1000_is_a_bounce_counted_on_the_day_it_was_read(tmp_path: Path) -> None:
    # its stamp is written short ("999-01-01T..."): it was parsed again, failed, and quarantined the bounce
    harness = Harness(tmp_path, [mailgen.dsn("gone@example.jp", serial=1, date="Fri, 1 Jan 0999 00:00:00 +0000")])
    summary = harness.mailbox_pass.run()
    assert (summary.bounces, summary.unparsed, summary.errors) == (1, 0, [])
    (event,) = harness.events()
    assert event["type"] == "recipient.suppressed" and event["data"]["bounced_at"] == "999-01-01T00:00:00Z"
    days = harness.store.db.execute("SELECT day, count FROM outcome_day").fetchall()
    assert days == [("2026-11-01", 1)]


@settings(max_examples=300, deadline=None)
@given(
    bounced=st.datetimes(min_value=datetime(1000, 1, 1), max_value=datetime(9999, 1, 1), timezones=st.just(UTC)),
    received=st.datetimes(min_value=datetime(1001, 1, 1), max_value=datetime(9998, 1, 1), timezones=st.just(UTC)),
    near=st.timedeltas(min_value=timedelta(days=-400), max_value=timedelta(days=400)),
)
def test_the_outcome_day_compared_as_text_is_the_day_compared_as_dates(
    bounced: datetime, received: datetime, near: timedelta
) -> None:
    from dsnworker.worker import events as ev
    from dsnworker.worker.policy import outcome_day
    from dsnworker.worker.retention import OUTCOME_KEEP

    for moment in (bounced, received + near, received - OUTCOME_KEEP, received):  # and both edges of the window
        stamp = ev.timestamp(moment)
        parsed = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        expected = parsed if received - OUTCOME_KEEP < parsed <= received else received
        assert outcome_day(stamp, received) == expected.strftime("%Y-%m-%d")


def test_bounced_at_reads_cr_only_messages_too() -> None:
    from dsnworker.worker.pipeline import bounced_at

    data = b"From: x@example.jp\rDate: Mon, 13 May 2024 11:02:17 +0900\r\rDate: Tue, 1 Jan 2030 00:00:00 +0000\r"
    assert bounced_at(data) == "2024-05-13T02:02:17Z"
    assert bounced_at(b"From: x@example.jp\r\rDate: Tue, 1 Jan 2030 00:00:00 +0000\r") is None


def test_batches_are_bounded_by_bytes_as_well_as_by_count(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import dsnworker.worker.pipeline as pipeline
    from dsnworker.worker.local import MaildirSource

    pad = b"X-Campaign-Id: spring-sale-2024\r\nX-Pad: " + b"x" * 100_000
    messages = [
        mailgen.dsn(f"u{n}@example.jp", serial=n).replace(b"X-Campaign-Id: spring-sale-2024", pad) for n in range(10)
    ]
    monkeypatch.setattr(pipeline, "BATCH_BYTES", 250_000)  # about two of these messages
    batches: list[int] = []
    fetch_later = MaildirSource.fetch_later

    def counted(self, uids, sizes=None):
        batches.append(len(uids))
        return fetch_later(self, uids, sizes)

    monkeypatch.setattr(MaildirSource, "fetch_later", counted)
    harness = Harness(tmp_path, messages, batch_size=500)
    assert harness.mailbox_pass.run().suppressed == 10
    assert batches == [2, 2, 2, 2, 2]


def test_a_backlog_s_batches_run_as_one_pipeline_across_the_windows_of_sizes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # each window of sizes was a pipeline of its own: at its end the children (jobs > 1) and the server
    # waited while the last batch was committed, the moves done and the next sizes asked
    import dsnworker.worker.pipeline as pipeline
    from dsnworker.worker.local import MaildirSource

    monkeypatch.setattr(pipeline, "SIZES_PER_COMMAND", 10)
    calls: list[str] = []
    sizes, fetch_later = MaildirSource.sizes, MaildirSource.fetch_later

    def sized(self, uids):
        calls.append(f"sizes {len(uids)}")
        return sizes(self, uids)

    def fetched(self, uids, known=None):
        calls.append(f"fetch {len(uids)}")
        return fetch_later(self, uids, known)

    monkeypatch.setattr(MaildirSource, "sizes", sized)
    monkeypatch.setattr(MaildirSource, "fetch_later", fetched)
    harness = Harness(tmp_path, [mailgen.dsn(f"u{n}@example.jp", serial=n) for n in range(25)], batch_size=5)
    assert harness.mailbox_pass.run().suppressed == 25
    assert calls == ["sizes 10", "sizes 10", "sizes 5"] + ["fetch 5"] * 5
    assert files_in(harness.maildir, "Processed") == 25


def test_a_message_no_parser_read_after_one_raised_is_quarantined_as_unparsed(
    tmp_path: Path, failing_parser: Callable[[ModuleType], None]
) -> None:
    from dsnworker.parse import arf

    failing_parser(arf)  # a bug in the parser that may have been the one to read it
    harness = Harness(tmp_path, [mailgen.personal(1)])
    summary = harness.mailbox_pass.run()
    assert (summary.unparsed, summary.not_bounce) == (1, 0)
    assert files_in(harness.maildir, "Unparsed") == 1
    (event,) = harness.events()
    assert event["type"] == "message.unparsed"
    assert "arf (ValueError: an injected bug)" in event["data"]["why"]


UNDISCLOSED_COMPLAINT = (
    b"From: feedback@fbl.example.net\r\n"
    b"To: abuse@example.com\r\n"
    b"Subject: Abuse report\r\n"
    b"Date: Mon, 13 May 2024 11:02:17 +0900\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/report; report-type=feedback-report; boundary="arf"\r\n\r\n'
    b"--arf\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse\r\nVersion: 1\r\n\r\n"
    b"--arf\r\nContent-Type: text/rfc822-headers\r\n\r\n"
    b"From: Example Shop <newsletter@example.com>\r\nTo: <Undisclosed Recipients>\r\nSubject: Spring sale\r\n\r\n"
    b"--arf--\r\n"
)


def test_a_complaint_about_undisclosed_recipients_suppresses_nobody(tmp_path: Path) -> None:
    harness = Harness(tmp_path, [UNDISCLOSED_COMPLAINT])
    summary = harness.mailbox_pass.run()
    assert (summary.suppressed, summary.errors) == (0, [])
    assert harness.suppressed() == []
    (event,) = harness.events()
    assert event["type"] == "recipient.bounced"
    assert (event["data"]["recipient"], event["data"]["action"]) == (None, "review")
    assert event["data"]["invalid_recipient"] is True


def test_a_hard_bounce_for_a_non_address_suppresses_nobody(tmp_path: Path) -> None:
    harness = Harness(tmp_path, [mailgen.dsn("kim@mailhost", "user_unknown", 1)])
    summary = harness.mailbox_pass.run()
    assert summary.suppressed == 0
    assert harness.suppressed() == []
    (event,) = harness.events()
    assert (event["type"], event["data"]["reason"], event["data"]["action"]) == (
        "recipient.bounced",
        "user_unknown",
        "review",
    )
