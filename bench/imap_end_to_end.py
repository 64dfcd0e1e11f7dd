"""End-to-end throughput of the worker against a local Dovecot, next to the offline parse rate.

Starts a private Dovecot (tests/dovecot.py: needs root and `apt-get install dovecot-imapd openssl`),
delivers N bounces into a fresh mailbox, and prints, all measured in this run over the same messages:

- fetch only: `UID FETCH BODY.PEEK[]` through the worker's ImapSource, nothing else;
- parse only: `dsnworker parse` over the same messages written as files (a whole process);
- end to end: `dsnworker poll` (a whole process: fetch, parse, classify, commit, deliver to the
  events and suppression files, `UID MOVE` to Processed), and its peak memory;
- the ratio end-to-end / parse-only (the bar: >= 0.70) and peak memory (the bar: < 200 MB).

    .venv/bin/python bench/imap_end_to_end.py [--messages 10000] [--runs 3] [--pad-kb 0]

`--pad-kb 1000 --messages 1000` gives each bounce a 1 MB attachment: a 1 GB mailbox, to show the
peak memory does not follow the size of the messages.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dsnworker.worker.imap import ImapSource  # noqa: E402
from dsnworker.worker.settings import MailboxSettings, PasswordAuth, ServerSettings  # noqa: E402
from tests import mailgen  # noqa: E402
from tests.dovecot import Dovecot  # noqa: E402

KINDS = ("user_unknown", "mailbox_full", "spamhaus", "delivered")


def messages(count: int, pad_kb: int = 0) -> list[bytes]:
    made = [mailgen.dsn(f"user{n}@example.jp", KINDS[n % len(KINDS)], n) for n in range(count)]
    if pad_kb:  # a returned attachment, as when a newsletter bounces whole with its images
        line = b"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVowMTIzNDU2Nzg5YWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4\r\n"
        made = [_with_attachment(data, line * (pad_kb * 1024 // len(line))) for data in made]
    return made


def _with_attachment(data: bytes, attachment: bytes) -> bytes:
    boundary = data.split(b'boundary="')[1].split(b'"')[0]
    closing = data.rindex(b"--" + boundary + b"--")
    part = b"--" + boundary + b"\r\nContent-Type: application/octet-stream\r\n"
    part += b"Content-Transfer-Encoding: base64\r\n\r\n" + attachment + b"\r\n"
    return data[:closing] + part + data[closing:]


def fetch_only(account: object, count: int) -> float:
    os.environ["BENCH_PW"] = account.password  # type: ignore[attr-defined]
    settings = MailboxSettings(
        name="bench",
        source="imap",
        server=ServerSettings(host="127.0.0.1", port=account.imap_port, tls="starttls", ca_file=account.ca_file),  # type: ignore[attr-defined]
        auth=PasswordAuth(username=account.username, password_env="BENCH_PW"),  # type: ignore[attr-defined]
    )
    source = ImapSource(settings)
    source.open()
    started = time.perf_counter()
    fetched = sum(1 for _ in source.fetch(source.new_uids(0)))
    elapsed = time.perf_counter() - started
    source.close()
    assert fetched == count, (fetched, count)
    return count / elapsed


def parse_only(folder: Path, count: int) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "dsnworker", "parse", str(folder)], stdout=subprocess.DEVNULL, check=True, cwd=ROOT
    )
    return count / (time.perf_counter() - started)


def end_to_end(account: object, work: Path, count: int) -> tuple[float, float]:
    config = work / "config.toml"
    config.write_text(
        'state = "state.sqlite"\n[[mailbox]]\nname = "bench"\n'
        f'[mailbox.server]\nhost = "127.0.0.1"\nport = {account.imap_port}\ntls = "starttls"\n'  # type: ignore[attr-defined]
        f'ca_file = "{account.ca_file}"\n'  # type: ignore[attr-defined]
        f'[mailbox.auth]\nusername = "{account.username}"\npassword_env = "BENCH_PW"\n'  # type: ignore[attr-defined]
        '[[sink]]\nname = "events"\ntype = "events_file"\npath = "events.jsonl"\n'
        '[[sink]]\nname = "suppressions"\ntype = "suppression_file"\npath = "suppressions.csv"\n'
    )
    # a child of its own, so that its peak memory is measured alone
    code = (
        "import resource, subprocess, sys, time\n"
        "t = time.perf_counter()\n"
        "poll = [sys.executable, '-m', 'dsnworker', 'poll', '-c', sys.argv[1]]\n"
        "r = subprocess.run(poll, capture_output=True, text=True)\n"
        "t = time.perf_counter() - t\n"
        "assert r.returncode == 0, r.stderr\n"
        "print(t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, r.stdout.strip())\n"
    )
    env = os.environ | {"BENCH_PW": account.password}  # type: ignore[attr-defined]
    output = subprocess.run(
        [sys.executable, "-c", code, str(config)], capture_output=True, text=True, check=True, env=env, cwd=ROOT
    ).stdout.split(maxsplit=2)
    seconds, peak_kb, summary = float(output[0]), int(output[1]), output[2]
    assert f"new={count} " in summary, summary
    return count / seconds, peak_kb / 1024


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--messages", type=int, default=10_000)
    options.add_argument("--runs", type=int, default=3)
    options.add_argument("--pad-kb", type=int, default=0, help="add an attachment of this size to each bounce")
    args = options.parse_args()

    mail = messages(args.messages, args.pad_kb)
    print(f"{args.messages} bounces of ~{sum(map(len, mail)) // len(mail)} bytes; best of {args.runs} runs")
    with tempfile.TemporaryDirectory(prefix="dsnworker-bench-") as temp:
        root = Path(temp)
        files = root / "files"
        files.mkdir()
        for number, data in enumerate(mail):
            (files / f"{number:06d}.eml").write_bytes(data)
        server = Dovecot(Path(tempfile.mkdtemp(prefix="dsnworker-dovecot-")))
        server.start()
        try:
            fetch_rates, parse_rates, e2e_rates, peaks = [], [], [], []
            for run in range(args.runs):
                account = server.add_user()
                account.deliver(mail)
                fetch_rates.append(fetch_only(account, args.messages))
                parse_rates.append(parse_only(files, args.messages))
                work = root / f"run{run}"
                work.mkdir()
                rate, peak = end_to_end(account, work, args.messages)
                e2e_rates.append(rate)
                peaks.append(peak)
                print(
                    f"  run {run + 1}: fetch {fetch_rates[-1]:,.0f}/s  parse {parse_rates[-1]:,.0f}/s  "
                    f"end-to-end {rate:,.0f}/s  ratio {rate / parse_rates[-1]:.2f}  peak {peak:.0f} MB"
                )
        finally:
            server.close()
    fetch, parse, e2e = max(fetch_rates), max(parse_rates), max(e2e_rates)
    print(f"fetch only (ImapSource, UID FETCH BODY.PEEK[]): {fetch:,.0f} messages/s")
    print(f"parse only (dsnworker parse, whole process):     {parse:,.0f} messages/s")
    print(f"end to end (dsnworker poll, whole process):      {e2e:,.0f} messages/s")
    print(f"ratio end-to-end / parse-only: {e2e / parse:.2f} (bar: 0.70)")
    print(f"peak memory of dsnworker poll: {max(peaks):.0f} MB (bar: < 200 MB)")
    print(f"(this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB)")


if __name__ == "__main__":
    main()
