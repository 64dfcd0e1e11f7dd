"""The operator's view against a real Dovecot: `dsnworker status` before and after a pass and with the
server stopped; `run`'s /metrics scraped with a real HTTP client and read with prometheus_client's own
parser, its counters against the events file; /readyz when the mailbox cannot be reached.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from dsnworker.worker.state import Store
from tests import mailgen, processes
from tests.dovecot import free_port
from tests.test_worker_imap import mixed_mailbox, passwords, poll, suppressed, write_config


def status(config: Path, env: dict[str, str]) -> tuple[int, dict]:
    result = processes.run("status", "-c", config, "--format", "json", env=env)
    assert result.returncode in (0, 1), result.stderr
    return result.returncode, json.loads(result.stdout)


def test_status_counts_what_waits_before_and_after_a_pass_and_exits_1_when_the_server_is_stopped(
    tmp_path: Path, dovecot, imap_account
) -> None:
    accounts = {"jp": imap_account}
    env = passwords(accounts)
    config = write_config(tmp_path, accounts)
    imap_account.deliver(mailgen.dsn(f"first{n}@example.jp", "user_unknown", n) for n in range(5))
    assert poll(config, env).returncode == 0
    imap_account.deliver(mixed_mailbox(30))  # 30 bounces, an auto-reply, a personal message, garbage

    code, before = status(config, env)
    (jp,) = before["mailboxes"]
    assert code == 0 and jp["waiting"] == 33 and jp["problem"] is None
    assert jp["last_pass"]["outcome"] == "ok" and jp["cursor"]["last_uid"] == 5
    sinks = {sink["name"]: sink for sink in before["sinks"]}
    assert sinks["suppressions"]["suppressed"] == 5 and sinks["events"]["pending"] == 0

    assert poll(config, env).returncode == 0
    code, after = status(config, env)
    (jp,) = after["mailboxes"]
    assert code == 0 and jp["waiting"] == 0 and jp["cursor"]["last_uid"] == 38
    assert {sink["name"]: sink for sink in after["sinks"]}["suppressions"]["suppressed"] == len(suppressed(tmp_path))
    assert after["open_incidents"] == 1  # the ten Spamhaus refusals are one incident

    table = processes.run("status", "-c", config, env=env)
    assert table.returncode == 0 and "status: healthy" in table.stdout
    assert table.stdout.splitlines()[0].split() == [
        "MAILBOX",
        "LAST",
        "PASS",
        "TOOK",
        "OUTCOME",
        "CURSOR",
        "WAITING",
        "PROBLEM",
    ]

    dovecot.stop()
    try:
        code, down = status(config, env)
        table = processes.run("status", "-c", config, env=env)
    finally:
        dovecot.start()
    (jp,) = down["mailboxes"]
    assert code == 1 and jp["waiting"] is None and "connection refused" in jp["waiting_error"]
    assert jp["problem"].startswith("cannot be looked at") and not down["healthy"]
    assert table.returncode == 1 and "status: UNHEALTHY" in table.stdout


def test_status_exits_1_when_the_last_pass_failed(tmp_path: Path, dovecot, imap_account) -> None:
    accounts = {"jp": imap_account}
    config = write_config(tmp_path, accounts)
    assert poll(config, {"PW_JP": "wrong"}).returncode == 1
    code, seen = status(config, passwords(accounts))
    (jp,) = seen["mailboxes"]
    assert code == 1 and jp["last_pass"]["outcome"] == "failed" and "login failed" in jp["last_pass"]["error"]
    assert jp["problem"].startswith("the last pass failed: ") and jp["waiting"] == 0  # the server itself answers


def test_status_takes_no_lock_and_writes_nothing_beside_a_live_worker(tmp_path: Path, imap_account) -> None:
    accounts = {"jp": imap_account}
    config = write_config(tmp_path, accounts, extra='interval = "1h"\n')
    process = processes.start(
        "run", "-c", config, env=passwords(accounts), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        state = tmp_path / "state.sqlite"
        assert processes.wait_until(lambda: state.exists() and bool(Store.read_only(state).passes()))
        code, seen = status(config, passwords(accounts))
    finally:
        process.terminate()
        process.communicate(timeout=60)
    assert code == 0 and seen["mailboxes"][0]["last_pass"]["outcome"] == "ok"


def scrape(port: int, path: str = "/metrics") -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read().decode()


def samples(text: str, name: str) -> list:
    return [s for family in text_string_to_metric_families(text) for s in family.samples if s.name == name]


def outcomes_in_events_file(root: Path) -> Counter:
    """(mailbox, provider, reason, action) -> outcomes, as the events file tells them: an event per recipient,
    and the refusals an incident counted (its latest count)."""
    counted: Counter = Counter()
    incidents: dict[str, dict] = {}
    for line in (root / "events.jsonl").read_text().splitlines():
        event = json.loads(line)
        data = event["data"]
        if event["type"].startswith("incident."):
            incidents[data["incident"]] = data
        elif event["type"] != "message.unparsed":
            counted[(data["mailbox"], data["provider"] or "", data["reason"], data["action"])] += 1
    for data in incidents.values():
        counted[(data["mailbox"], data["provider"] or "", data["reason"], "sender_fix")] += data["count"]
    return counted


def test_metrics_of_a_running_worker_match_its_events_file_and_readyz_follows_the_server(
    tmp_path: Path, dovecot, imap_account
) -> None:
    imap_account.deliver(mixed_mailbox(30))
    accounts = {"jp": imap_account}
    port = free_port()
    config = write_config(tmp_path, accounts, extra='interval = "1s"\n')
    config.write_text(config.read_text() + f'[metrics]\nlisten = "127.0.0.1:{port}"\n')
    process = processes.start(
        "run", "-c", config, env=passwords(accounts), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:

        def passed() -> bool:
            try:
                return any(
                    s.value >= 2
                    for s in samples(scrape(port)[1], "dsnworker_passes_total")
                    if s.labels["result"] == "ok"
                )
            except OSError:
                return False  # not listening yet

        if not processes.wait_until(passed, timeout=60):  # the pass that read the mail, then an empty one
            process.terminate()
            raise AssertionError(process.communicate(timeout=60)[1])
        code, text = scrape(port)
        assert code == 200
        counted = {
            (s.labels["mailbox"], s.labels["provider"], s.labels["reason"], s.labels["action"]): s.value
            for s in samples(text, "dsnworker_outcomes_total")
        }
        # the auto-reply's outcome is counted; `ignore` writes no event
        assert counted.pop(("jp", "", "vacation", "ignore")) == 1.0
        expected = outcomes_in_events_file(tmp_path)
        assert counted == {key: float(value) for key, value in expected.items()}
        assert sum(counted.values()) == 30
        messages = {s.labels["category"]: s.value for s in samples(text, "dsnworker_messages_total")}
        assert messages == {"bounce": 31.0, "not_bounce": 1.0, "unparsed": 1.0}
        (last_ok,) = samples(text, "dsnworker_last_successful_pass_timestamp_seconds")
        assert time.time() - 60 < last_ok.value <= time.time()
        assert [s.value for s in samples(text, "dsnworker_incidents_open")] == [1.0]
        pending = {s.labels["sink"]: s.value for s in samples(text, "dsnworker_sink_pending_events")}
        assert pending == {"events": 0.0, "suppressions": 0.0}
        assert samples(text, "dsnworker_pass_duration_seconds_count")[0].value >= 2
        assert scrape(port, "/healthz") == (200, "alive\n")
        assert scrape(port, "/readyz") == (200, "ready\n")

        dovecot.stop()
        try:  # the next pass cannot connect (it tries again for a few seconds, then fails)
            assert processes.wait_until(lambda: scrape(port, "/readyz")[0] == 503, timeout=60)
            # with passes 1 s apart, three are missed before the one trying to connect gives up and says why
            assert processes.wait_until(lambda: "connection refused" in scrape(port, "/readyz")[1], timeout=60)
            code, body = scrape(port, "/readyz")
            assert code == 503 and body.startswith("mailbox jp: the last pass failed: ")
            assert scrape(port, "/healthz")[0] == 200  # the worker itself is alive
            failed = samples(scrape(port)[1], "dsnworker_last_pass_failed")
            assert [s.value for s in failed] == [1.0]
        finally:
            dovecot.start()
        assert processes.wait_until(lambda: scrape(port, "/readyz")[0] == 200, timeout=60)
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
