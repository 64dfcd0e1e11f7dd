"""The worker against a real Dovecot: where messages land, kill -9 and restart, a server restarted
mid-poll, a UIDVALIDITY reset, a wrong password beside a good mailbox, the cost of an empty poll.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from dsnworker.sinks.suppression import iter_suppressions
from dsnworker.worker.config import load_settings
from dsnworker.worker.runner import Worker
from tests import mailgen, processes
from tests.dovecot import free_port


def write_config(root: Path, accounts: dict[str, object], extra: str = "", jobs: int = 1) -> Path:
    text = f'jobs = {jobs}\nstate = "state.sqlite"\n'
    for name, account in accounts.items():
        text += (
            f'[[mailbox]]\nname = "{name}"\nbatch_size = 3\n{extra}'
            f'[mailbox.server]\nhost = "127.0.0.1"\nport = {account.imap_port}\ntls = "starttls"\n'
            f'ca_file = "{account.ca_file}"\n'
            f'[mailbox.auth]\nusername = "{account.username}"\npassword_env = "PW_{name.upper()}"\n'
        )
    text += '[[sink]]\nname = "events"\ntype = "events_file"\npath = "events.jsonl"\n'
    text += '[[sink]]\nname = "suppressions"\ntype = "suppression_file"\npath = "suppressions.csv"\n'
    config = root / "config.toml"
    config.write_text(text)
    return config


def passwords(accounts: dict[str, object]) -> dict[str, str]:
    return {f"PW_{name.upper()}": account.password for name, account in accounts.items()}


def mixed_mailbox(count: int = 30) -> list[bytes]:
    made = [
        mailgen.dsn(f"user{n}@example.jp", ("user_unknown", "mailbox_full", "spamhaus")[n % 3], n) for n in range(count)
    ]
    return made + [mailgen.auto_reply(900), mailgen.personal(901), mailgen.garbage(902)]


def event_ids(root: Path) -> list[str]:
    path = root / "events.jsonl"
    ids = [json.loads(line)["id"] for line in path.read_text().splitlines()] if path.exists() else []
    assert len(ids) == len(set(ids)), "an event was written twice"
    return ids


def comparable_event_ids(root: Path) -> list[str]:
    """The events' ids but the incident updates (they come per batch, and batches change on a restart)."""
    events = [json.loads(line) for line in (root / "events.jsonl").read_text().splitlines()]
    return sorted(e["id"] for e in events if e["type"] != "incident.updated")


def suppressed(root: Path) -> list[str]:
    emails = [row["email"] for row in iter_suppressions(root / "suppressions.csv", "csv")]
    assert len(emails) == len(set(emails)), "an address was suppressed twice"
    return sorted(emails)


def assert_interrupted_then_finished(root: Path, config: Path, accounts: dict[str, Any], account: Any) -> None:
    """A pass over 3,000 bounces stopped mid-way left some of them done; the next poll does the rest, once."""
    taken = len(event_ids(root))
    assert 0 < taken < 3000, "the pass was not interrupted mid-way"
    result = poll(config, passwords(accounts))
    assert result.returncode == 0, result.stderr
    assert len(event_ids(root)) == 3000 and len(suppressed(root)) == 3000
    assert account.messages("INBOX") == []


def poll(config: Path, env: dict[str, str], crash_at: str | None = None) -> subprocess.CompletedProcess[str]:
    return processes.run("poll", "-c", config, env=env, crash_at=crash_at)


def test_each_message_lands_where_the_config_says(tmp_path: Path, imap_account) -> None:
    imap_account.deliver(mixed_mailbox())
    accounts = {"jp": imap_account}
    result = poll(write_config(tmp_path, accounts), passwords(accounts))
    assert result.returncode == 0, result.stderr
    assert "mailbox=jp new=33 bounces=31 recipients=31 suppressed=10 not_bounce=1 unparsed=1" in result.stdout
    assert len(imap_account.messages("Processed")) == 31  # bounces and the auto-reply
    assert len(imap_account.messages("Unparsed")) == 1
    assert imap_account.messages("INBOX") == [mailgen.personal(901)]  # personal mail is left alone
    assert imap_account.flags("INBOX") == [""]  # and not even marked as read
    assert len(suppressed(tmp_path)) == 10


@pytest.mark.parametrize(
    ("crash_at", "jobs"),
    [
        ("before_commit:2", 1),
        ("after_commit:2", 1),
        ("after_deliver:3", 1),
        ("after_dispose:2", 1),
        ("before_commit:2", 2),  # analysed by two child processes while the next batch is fetched
        ("after_dispose:3", 2),
    ],
)
def test_killed_mid_batch_then_restarted_outputs_exactly_once(
    tmp_path: Path, dovecot, crash_at: str, jobs: int
) -> None:
    reference_account, account = dovecot.add_user(), dovecot.add_user()
    for target in (reference_account, account):
        target.deliver(mixed_mailbox())
    reference = {"jp": reference_account}
    (tmp_path / "ref").mkdir()
    assert poll(write_config(tmp_path / "ref", reference), passwords(reference)).returncode == 0

    accounts = {"jp": account}
    config = write_config(tmp_path, accounts, jobs=jobs)
    crashed = poll(config, passwords(accounts), crash_at)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    resumed = poll(config, passwords(accounts))
    assert resumed.returncode == 0, resumed.stderr

    event_ids(tmp_path)
    assert comparable_event_ids(tmp_path) == comparable_event_ids(tmp_path / "ref")
    assert suppressed(tmp_path) == suppressed(tmp_path / "ref")
    assert len(account.messages("Processed")) == 31 and account.messages("INBOX") == [mailgen.personal(901)]


def test_dovecot_restarted_mid_poll_then_the_next_poll_completes(tmp_path: Path, dovecot, imap_account) -> None:
    imap_account.deliver(mailgen.dsn(f"user{n}@example.jp", "user_unknown", n) for n in range(3000))
    accounts = {"jp": imap_account}
    config = write_config(tmp_path, accounts)
    os.environ.update(passwords(accounts))
    try:
        worker = Worker(load_settings(config))
        mailbox_pass = worker.passes["jp"]
        original_batch = mailbox_pass._batch
        batches = 0

        def batch_then_restart(*args, **kwargs):  # the server goes away after the 3rd batch is committed
            nonlocal batches
            batches += 1
            if batches == 3:
                threading.Thread(target=dovecot.restart).start()
            return original_batch(*args, **kwargs)

        mailbox_pass._batch = batch_then_restart
        first = worker.poll()[0]
        mailbox_pass._batch = original_batch
        second = worker.poll()[0]
    finally:
        for name in passwords(accounts):
            os.environ.pop(name, None)
    assert not second.errors
    assert first.new + second.new == 3000
    assert len(event_ids(tmp_path)) == 3000 and len(suppressed(tmp_path)) == 3000
    assert imap_account.messages("INBOX") == []


def test_a_uidvalidity_reset_reprocesses_nothing(tmp_path: Path, dovecot, imap_account) -> None:
    imap_account.deliver(mixed_mailbox(12))
    accounts = {"jp": imap_account}
    config = write_config(tmp_path, accounts, extra='after = "seen"\nunparsed = "seen"\n')
    assert poll(config, passwords(accounts)).returncode == 0
    before = event_ids(tmp_path)

    time.sleep(1.1)  # Dovecot takes the time in seconds as a new UIDVALIDITY: make it differ
    dovecot.stop()  # forget the folder's UIDs: Dovecot numbers it anew under a new UIDVALIDITY
    for path in imap_account.maildir.glob("dovecot*"):
        path.unlink()
    dovecot.start()
    imap_account.deliver([mailgen.dsn("late@example.jp", "user_unknown", 999)])

    result = poll(config, passwords(accounts))
    assert result.returncode == 0, result.stderr
    assert "new=1 " in result.stdout and "duplicates=15" in result.stdout
    assert "UIDVALIDITY changed" in result.stderr
    assert event_ids(tmp_path)[: len(before)] == before and len(event_ids(tmp_path)) == len(before) + 1


def test_a_wrong_password_is_a_clear_error_and_other_mailboxes_are_still_processed(tmp_path: Path, dovecot) -> None:
    good, bad = dovecot.add_user(), dovecot.add_user()
    good.deliver([mailgen.dsn("gone@example.jp", serial=1)])
    accounts = {"bad": bad, "good": good}
    env = passwords(accounts) | {"PW_BAD": "not-the-password"}
    result = poll(write_config(tmp_path, accounts), env)
    assert result.returncode == 1
    assert f"mailbox 'bad': login failed for user '{bad.username}'" in result.stderr
    assert "not-the-password" not in result.stderr + result.stdout
    assert "mailbox=good new=1" in result.stdout
    assert suppressed(tmp_path) == ["gone@example.jp"]


def test_a_poll_that_finds_nothing_new_fetches_nothing(tmp_path: Path, imap_account) -> None:
    imap_account.deliver(mixed_mailbox(20))
    accounts = {"jp": imap_account}
    config = write_config(tmp_path, accounts, extra='after = "none"\nunparsed = "none"\n')
    os.environ.update(passwords(accounts))
    try:
        worker = Worker(load_settings(config))
        sources = []
        mailbox_pass = worker.passes["jp"]
        factory = mailbox_pass.source_factory
        mailbox_pass.source_factory = lambda settings: sources.append(factory(settings)) or sources[-1]
        assert worker.poll()[0].new == 23
        again = worker.poll()[0]
    finally:
        for name in passwords(accounts):
            os.environ.pop(name, None)
    assert again.new == 0 and again.duplicates == 0
    assert "FETCH" not in sources[-1].commands and sources[-1].commands["SEARCH"] == 1


def test_a_message_over_the_size_limit_is_read_from_its_first_part(tmp_path: Path, imap_account) -> None:
    big = mailgen.dsn("gone@example.jp", serial=1).replace(
        b"Subject: Spring sale", b"Subject: Spring sale\r\nX-Pad: " + b"x" * 5000
    )
    imap_account.deliver([big])
    accounts = {"jp": imap_account}
    result = poll(write_config(tmp_path, accounts, extra='max_message_size = "2KB"\n'), passwords(accounts))
    assert result.returncode == 0, result.stderr
    assert "suppressed=1" in result.stdout


@pytest.mark.parametrize(("after", "jobs"), [("seen", 1), ("move:Processed", 1), ("delete", 1), ("move:Processed", 2)])
def test_pipelined_batches_with_big_messages_and_each_disposition(
    tmp_path: Path, imap_account, after: str, jobs: int
) -> None:
    pad = b"Subject: Spring sale\r\nX-Pad: " + b"x" * 5000
    mail = [mailgen.dsn(f"user{n}@example.jp", serial=n) for n in range(10)]
    mail = [m.replace(b"Subject: Spring sale", pad) if n % 3 == 0 else m for n, m in enumerate(mail)]
    imap_account.deliver(mail)
    accounts = {"jp": imap_account}
    extra = f'after = "{after}"\nmax_message_size = "3KB"\n'
    result = poll(write_config(tmp_path, accounts, extra=extra, jobs=jobs), passwords(accounts))
    assert result.returncode == 0, result.stderr
    assert "new=10 " in result.stdout and "suppressed=10" in result.stdout
    assert suppressed(tmp_path) == sorted(f"user{n}@example.jp" for n in range(10))
    if after == "seen":
        assert imap_account.flags("INBOX") == ["S"] * 10
    else:
        assert imap_account.messages("INBOX") == []
        assert len(imap_account.messages("Processed")) == (10 if after.startswith("move") else 0)


def test_run_with_idle_takes_new_mail_long_before_the_next_scheduled_poll(tmp_path: Path, imap_account) -> None:
    accounts = {"jp": imap_account}
    config = write_config(tmp_path, accounts, extra='interval = "1h"\nidle = true\n')
    process = processes.start(
        "run", "-c", config, env=passwords(accounts), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not (tmp_path / "state.sqlite").exists():
            time.sleep(0.1)
        time.sleep(1.5)  # the first pass ran and the IDLE connection is up
        imap_account.deliver([mailgen.dsn("idle@example.jp", serial=1)])
        delivered = time.monotonic()
        while time.monotonic() < delivered + 15 and not (tmp_path / "suppressions.csv").exists():
            time.sleep(0.1)
        waited = time.monotonic() - delivered
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert suppressed(tmp_path) == ["idle@example.jp"], stderr
    assert waited < 15  # the scheduled poll is an hour away: IDLE brought it
    assert "worker stopped" in stderr


def test_run_with_idle_makes_one_pass_at_start_not_two(tmp_path: Path, imap_account) -> None:
    imap_account.deliver([mailgen.dsn("gone@example.jp", serial=1)])
    accounts = {"jp": imap_account}
    config = write_config(tmp_path, accounts, extra='interval = "1h"\nidle = true\n')
    log = tmp_path / "worker.log"
    with open(log, "w") as stderr:
        process = processes.start(
            "run", "-c", config, env=passwords(accounts), stdout=subprocess.DEVNULL, stderr=stderr
        )
    try:
        assert processes.wait_until(lambda: "pass mailbox=jp" in log.read_text()), log.read_text()
        # a second pass came at once, when the IDLE session was up (it took a few ms): give it ample time
        time.sleep(2)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    assert process.returncode == 0, log.read_text()
    assert log.read_text().count("pass mailbox=jp") == 1, log.read_text()
    assert suppressed(tmp_path) == ["gone@example.jp"]


def test_run_with_idle_still_passes_at_start_when_the_server_cannot_be_reached(tmp_path: Path, imap_account) -> None:
    accounts = {"jp": imap_account}
    config = write_config(tmp_path, accounts, extra='interval = "1h"\nidle = true\n')
    config.write_text(config.read_text().replace(f"port = {imap_account.imap_port}", f"port = {free_port()}"))
    log = tmp_path / "worker.log"
    with open(log, "w") as stderr:
        process = processes.start(
            "run", "-c", config, env=passwords(accounts), stdout=subprocess.DEVNULL, stderr=stderr
        )
    try:  # no IDLE session: the start's pass is not an hour away, it runs and says why it failed
        assert processes.wait_until(lambda: "pass mailbox=jp" in log.read_text()), log.read_text()
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    assert "errors=1" in log.read_text() and "connection refused" in log.read_text()


def test_a_message_the_server_cannot_return_is_set_apart_not_a_stuck_mailbox(
    tmp_path: Path, imap_account, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dsnworker.worker.imap import ImapSource
    from dsnworker.worker.source import SourceError

    imap_account.deliver([mailgen.dsn(f"user{n}@example.jp", serial=n) for n in range(4)])
    sent: dict[bytes, list[int]] = {}
    send, collect = ImapSource._send_fetch, ImapSource._collect_fetch

    def send_fetch(self, uids):
        tag = send(self, uids)
        sent[tag] = list(uids)
        return tag

    def collect_fetch(self, tag):
        bodies = collect(self, tag)
        if 2 in sent[tag]:  # as Dovecot answers for a damaged file
            raise SourceError(self.name, "fetching messages: the server answered: Internal error", retryable=False)
        return bodies

    monkeypatch.setattr(ImapSource, "_send_fetch", send_fetch)
    monkeypatch.setattr(ImapSource, "_collect_fetch", collect_fetch)
    accounts = {"jp": imap_account}
    os.environ.update(passwords(accounts))
    try:
        summary = Worker(load_settings(write_config(tmp_path, accounts))).poll()[0]
    finally:
        for name in passwords(accounts):
            os.environ.pop(name, None)
    assert summary.errors == [] and summary.new == 4 and summary.unparsed == 1 and summary.suppressed == 3
    (unparsed,) = [
        json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines() if "unparsed" in line
    ]
    assert unparsed["data"]["uid"] == 2 and "could not return it: " in unparsed["data"]["why"]
    assert len(imap_account.messages("Unparsed")) == 1 and len(imap_account.messages("Processed")) == 3


def test_sigterm_mid_pass_commits_the_batch_in_hand_and_a_restart_finishes_exactly_once(
    tmp_path: Path, imap_account
) -> None:
    imap_account.deliver(mailgen.dsn(f"user{n}@example.jp", "user_unknown", n) for n in range(3000))
    accounts = {"jp": imap_account}
    config = write_config(tmp_path, accounts)
    process = processes.start(
        "run", "-c", config, env=passwords(accounts), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    events = tmp_path / "events.jsonl"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (events.exists() and events.stat().st_size > 0):
        time.sleep(0.01)
    process.send_signal(signal.SIGTERM)
    started = time.monotonic()
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert time.monotonic() - started < 5, "SIGTERM should finish the batch in hand, not the mailbox"
    assert_interrupted_then_finished(tmp_path, config, accounts, imap_account)


def test_no_secret_reaches_the_log_even_at_debug_level(tmp_path: Path, dovecot) -> None:
    account = dovecot.add_user()
    token = dovecot.add_token(account.username)
    account.deliver([mailgen.dsn("gone@example.jp", serial=1)])
    config = tmp_path / "config.toml"
    text = write_config(tmp_path, {"jp": account}).read_text()
    config.write_text(text.replace('state = "state.sqlite"\n', 'state = "state.sqlite"\n[log]\nlevel = "DEBUG"\n'))
    result = poll(config, passwords({"jp": account}))
    assert result.returncode == 0, result.stderr
    assert "imapclient" in result.stderr  # the protocol trace is on
    assert account.password not in result.stderr + result.stdout

    token_config = tmp_path / "oauth.toml"
    token_config.write_text(
        config.read_text().replace(
            'password_env = "PW_JP"', f'mechanism = "XOAUTH2"\ntoken_command = ["echo", "{token}"]'
        )
    )
    result = poll(token_config, {})
    assert result.returncode == 0, result.stderr
    assert token not in result.stderr + result.stdout


def test_run_keeps_one_session_from_pass_to_pass_and_reconnects_when_it_drops(
    tmp_path: Path, dovecot, imap_account
) -> None:
    imap_account.deliver([mailgen.dsn("first@example.jp", serial=1)])
    accounts = {"jp": imap_account}
    os.environ.update(passwords(accounts))
    try:
        worker = Worker(load_settings(write_config(tmp_path, accounts)))
        mailbox_pass = worker.passes["jp"]
        mailbox_pass.keep_open = True  # as `run` sets it
        opened = []
        factory = mailbox_pass.source_factory
        mailbox_pass.source_factory = lambda settings: opened.append(factory(settings)) or opened[-1]
        assert worker.poll()[0].new == 1
        started = time.perf_counter()
        empty = worker.poll()[0]
        elapsed = time.perf_counter() - started
        assert empty.new == 0 and len(opened) == 1  # the same session: no LOGIN, no SELECT
        assert opened[0].commands["SELECT"] == 1 and "FETCH" in opened[0].commands
        print(f"an empty pass on a kept session: {elapsed * 1000:.1f} ms")
        dovecot.restart()  # the kept session is gone
        imap_account.deliver([mailgen.dsn("second@example.jp", serial=2)])
        after = worker.poll()[0]
        assert after.new == 1 and after.errors == [] and len(opened) == 2
        mailbox_pass.close()
    finally:
        for name in passwords(accounts):
            os.environ.pop(name, None)
    assert suppressed(tmp_path) == ["first@example.jp", "second@example.jp"]


def test_a_folder_the_server_will_not_create_is_said_once_and_each_message_processed_once(
    tmp_path: Path, imap_account
) -> None:
    imap_account.deliver(mailgen.dsn(f"user{n}@example.jp", "user_unknown", n) for n in range(7))
    (imap_account.maildir / ".Processed").write_text("in the way")  # Dovecot cannot create the folder
    accounts = {"jp": imap_account}
    config = write_config(tmp_path, accounts)  # batch_size = 3: three batches' moves refused
    first = poll(config, passwords(accounts))
    imap_account.deliver([mailgen.dsn("late@example.jp", "user_unknown", 99)])
    again = poll(config, passwords(accounts))
    assert first.returncode == 0 and again.returncode == 0, first.stderr + again.stderr
    assert "new=7 " in first.stdout
    assert (
        "new=1 bounces=1 recipients=1 suppressed=1 not_bounce=0 unparsed=0 duplicates=0" in again.stdout
    )  # the cursor moved on
    for result in (first, again):
        problems = [line for line in result.stderr.splitlines() if " ERROR " in line or " WARNING " in line]
        assert len(problems) == 1 and "refused, left in place" in problems[0], problems
    assert len(event_ids(tmp_path)) == 8 and len(imap_account.messages("INBOX")) == 8


def test_sigterm_to_the_process_group_with_two_jobs_commits_the_batch_in_hand_exactly_once(
    tmp_path: Path, imap_account
) -> None:
    """A service manager signals every process of the service: the children must not die mid-batch."""
    imap_account.deliver(mailgen.dsn(f"user{n}@example.jp", "user_unknown", n) for n in range(3000))
    accounts = {"jp": imap_account}
    config = write_config(tmp_path, accounts, jobs=2)
    process = processes.start(
        "run",
        "-c",
        config,
        env=passwords(accounts),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    events = tmp_path / "events.jsonl"
    assert processes.wait_until(lambda: events.exists() and events.stat().st_size > 0, timeout=60)
    os.killpg(process.pid, signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert "an analysing process died" not in stderr
    assert_interrupted_then_finished(tmp_path, config, accounts, imap_account)
