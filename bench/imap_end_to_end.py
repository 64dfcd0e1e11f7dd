"""End-to-end throughput of the worker against a local Dovecot, next to the offline parse rate.

Starts a private Dovecot (tests/dovecot.py: needs root and `apt-get install dovecot-imapd openssl`),
delivers N bounces into a fresh mailbox, and prints, all measured in this run over the same messages:

- fetch only: `UID FETCH BODY.PEEK[]` through the worker's ImapSource, nothing else;
- parse only: `dsnworker parse --jobs 1` over the same messages written as files (a whole process,
  one core: the offline one-core rate);
- end to end: `dsnworker poll` with `jobs = J` for each J of --jobs (a whole process: fetch, parse,
  classify, commit, deliver to the events and suppression files, `UID MOVE` to Processed), its CPU
  time (user + sys, its analysing children included), the peak RSS of its largest process and the
  peak of the sum over its processes (sampled every 20 ms);
- the ratio end-to-end / parse-only (the bars: >= 0.85 with jobs = 1, > 1 with jobs = 2) and peak
  memory (the bar: < 200 MB); with one job also the same ratio by CPU time (messages per CPU-second),
  which the other work on a shared machine disturbs far less than the wall-clock one.

Every end-to-end run reads a mailbox of its own, delivered and then looked at once (untimed: SELECT
and the sizes), as a mailbox Dovecot delivered into itself would be: indexed, its sizes known.
`--base DIR` runs another checkout's `dsnworker poll` (`git worktree add /tmp/base main`) in the
same rounds, alternately first and second, for an A/B in one session.

    .venv/bin/python bench/imap_end_to_end.py [--messages 10000] [--runs 3] [--pad-kb 0] [--jobs 1 2] [--base DIR]

`--pad-kb 1000 --messages 1000` gives each bounce a 1 MB attachment: a 1 GB mailbox, to show the
peak memory does not follow the size of the messages.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
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


def _source(account: object) -> ImapSource:
    os.environ["BENCH_PW"] = account.password  # type: ignore[attr-defined]
    settings = MailboxSettings(
        name="bench",
        source="imap",
        server=ServerSettings(host="127.0.0.1", port=account.imap_port, tls="starttls", ca_file=account.ca_file),  # type: ignore[attr-defined]
        auth=PasswordAuth(username=account.username, password_env="BENCH_PW"),  # type: ignore[attr-defined]
    )
    return ImapSource(settings)


def looked_at(account: object) -> object:
    """The account, its folder SELECTed and its sizes asked once: indexed, as after Dovecot's own delivery."""
    source = _source(account)
    source.open()
    source.sizes(source.new_uids(0))
    source.close()
    return account


def fetch_only(account: object, count: int) -> float:
    source = _source(account)
    source.open()
    started = time.perf_counter()
    fetched = sum(1 for _ in source.fetch(source.new_uids(0)))
    elapsed = time.perf_counter() - started
    source.close()
    assert fetched == count, (fetched, count)
    return count / elapsed


def parse_only(folder: Path, count: int) -> tuple[float, float]:
    """(messages/s, CPU seconds) of `dsnworker parse --jobs 1` over the folder."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "dsnworker", "parse", "--jobs", "1", str(folder)],
        stdout=subprocess.DEVNULL,
        check=True,
        cwd=ROOT,
    )
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return count / elapsed, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def end_to_end(
    account: object, work: Path, count: int, jobs: int, checkout: Path = ROOT
) -> tuple[float, float, float, float]:
    """(messages/s, CPU seconds, peak RSS of the largest process in MB, peak of the sum in MB)."""
    config = work / "config.toml"
    config.write_text(
        f'state = "state.sqlite"\njobs = {jobs}\n[[mailbox]]\nname = "bench"\n'
        f'[mailbox.server]\nhost = "127.0.0.1"\nport = {account.imap_port}\ntls = "starttls"\n'  # type: ignore[attr-defined]
        f'ca_file = "{account.ca_file}"\n'  # type: ignore[attr-defined]
        f'[mailbox.auth]\nusername = "{account.username}"\npassword_env = "BENCH_PW"\n'  # type: ignore[attr-defined]
        '[[sink]]\nname = "events"\ntype = "events_file"\npath = "events.jsonl"\n'
        '[[sink]]\nname = "suppressions"\ntype = "suppression_file"\npath = "suppressions.csv"\n'
    )
    # a child of its own, so that its peak memory is measured alone
    code = (
        "import os, resource, subprocess, sys, time\n" + _TREE_RSS + "t = time.perf_counter()\n"
        "poll = [sys.executable, '-m', 'dsnworker', 'poll', '-c', sys.argv[1]]\n"
        "p = subprocess.Popen(poll, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)\n"
        "peak, cpu_seen = 0, {}\n"
        "while p.poll() is None:\n"
        "    peak = max(peak, tree_rss_kb(p.pid, cpu_seen))\n"
        "    time.sleep(0.02)\n"
        "out, err = p.communicate()\n"
        "t = time.perf_counter() - t\n"
        "assert p.returncode == 0, err\n"
        "u = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
        "others = sum(ticks for pid, ticks in cpu_seen.items() if pid != p.pid) / os.sysconf('SC_CLK_TCK')\n"
        "print(t, u.ru_utime + u.ru_stime + others, u.ru_maxrss, peak, out.strip())\n"
    )
    env = os.environ | {"BENCH_PW": account.password}  # type: ignore[attr-defined]
    output = subprocess.run(
        [sys.executable, "-c", code, str(config)], capture_output=True, text=True, check=True, env=env, cwd=checkout
    ).stdout.split(maxsplit=4)
    seconds, cpu, peak_kb, sum_kb, summary = (
        float(output[0]),
        float(output[1]),
        int(output[2]),
        int(output[3]),
        output[4],
    )
    assert f"new={count} " in summary, summary
    return count / seconds, cpu, peak_kb / 1024, sum_kb / 1024


# the RSS of a process and all its descendants (the fork server and its children are grandchildren,
# reaped by the server, which outlives poll: their CPU time is not in poll's rusage, so the last
# seen user + sys of each is kept in `cpu_seen`)
_TREE_RSS = """
def tree_rss_kb(root, cpu_seen):
    parents, ticks = {}, {}
    for entry in os.listdir('/proc'):
        if entry.isdigit():
            try:
                with open(f'/proc/{entry}/stat') as f:
                    fields = f.read().rsplit(')', 1)[1].split()
                parents[int(entry)] = int(fields[1])
                ticks[int(entry)] = int(fields[11]) + int(fields[12])
            except OSError:
                pass
    tree, grew = {root}, True
    while grew:
        more = {pid for pid, parent in parents.items() if parent in tree} - tree
        tree |= more
        grew = bool(more)
    total = 0
    for pid in tree:
        cpu_seen[pid] = ticks.get(pid, cpu_seen.get(pid, 0))
        try:
            with open(f'/proc/{pid}/status') as f:
                total += next(int(l.split()[1]) for l in f if l.startswith('VmRSS:'))
        except (OSError, StopIteration):
            pass
    return total
"""


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--messages", type=int, default=10_000)
    options.add_argument("--runs", type=int, default=3)
    options.add_argument("--pad-kb", type=int, default=0, help="add an attachment of this size to each bounce")
    options.add_argument("--jobs", type=int, nargs="+", default=[1, 2], help="the worker's `jobs` values to compare")
    options.add_argument("--base", type=Path, help="another checkout whose worker runs in the same rounds")
    args = options.parse_args()

    checkouts = {"this": ROOT} | ({f"base ({args.base})": args.base.resolve()} if args.base else {})
    mail = messages(args.messages, args.pad_kb)
    print(f"{args.messages} bounces of ~{sum(map(len, mail)) // len(mail)} bytes; {args.runs} interleaved runs")
    print(f"load average before: {os.getloadavg()}")
    with tempfile.TemporaryDirectory(prefix="dsnworker-bench-") as temp:
        root = Path(temp)
        files = root / "files"
        files.mkdir()
        for number, data in enumerate(mail):
            (files / f"{number:06d}.eml").write_bytes(data)
        server = Dovecot(Path(tempfile.mkdtemp(prefix="dsnworker-dovecot-")))
        server.start()
        try:
            fetch_rates, parse_runs = [], []
            e2e: dict[tuple[str, int], list[tuple[float, float, float, float]]] = {
                (name, jobs): [] for name in checkouts for jobs in args.jobs
            }
            for run in range(args.runs):
                account = server.add_user()
                account.deliver(mail)
                fetch_rates.append(fetch_only(account, args.messages))
                parse_runs.append(parse_only(files, args.messages))
                print(f"  run {run + 1}: fetch {fetch_rates[-1]:,.0f}/s  parse --jobs 1 {parse_runs[-1][0]:,.0f}/s")
                order = list(enumerate(checkouts.items()))
                for side, (name, checkout) in order if run % 2 == 0 else order[::-1]:  # A B, then B A
                    line = f"    {name}:"
                    for jobs in args.jobs:
                        account = server.add_user()
                        account.deliver(mail)
                        work = root / f"run{run}-side{side}-jobs{jobs}"
                        work.mkdir()
                        result = end_to_end(looked_at(account), work, args.messages, jobs, checkout)
                        e2e[(name, jobs)].append(result)
                        rate, cpu, peak, total = result
                        line += f"  | jobs={jobs} {rate:,.0f}/s cpu {cpu:.2f} s peak {peak:.0f}/{total:.0f} MB"
                    print(line)
        finally:
            server.close()
    fetch = statistics.median(fetch_rates)
    parse = statistics.median(rate for rate, _ in parse_runs)
    parse_cpu = statistics.median(cpu for _, cpu in parse_runs)
    print(f"load average after: {os.getloadavg()}; medians of {args.runs} runs:")
    print(f"fetch only (ImapSource, UID FETCH BODY.PEEK[]): {fetch:,.0f} messages/s")
    print(f"parse only (dsnworker parse --jobs 1, whole process): {parse:,.0f} messages/s, CPU {parse_cpu:.2f} s")
    for (name, jobs), runs in e2e.items():
        rate = statistics.median(r[0] for r in runs)
        cpu = statistics.median(r[1] for r in runs)
        by_cpu = f", by CPU {parse_cpu / cpu:.2f}" if jobs == 1 else ""
        print(
            f"end to end, {name}, jobs = {jobs} (dsnworker poll, whole process): {rate:,.0f} messages/s, "
            f"ratio to parse-only {rate / parse:.2f}{by_cpu}, CPU {cpu:.2f} s ({args.messages / cpu:,.0f} per CPU-s), "
            f"peak RSS {max(r[2] for r in runs):.0f} MB largest process, {max(r[3] for r in runs):.0f} MB all"
        )
    print("bars: ratio >= 0.85 with jobs = 1, > 1.00 with jobs = 2; peak memory < 200 MB")
    print(f"(this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB)")


if __name__ == "__main__":
    main()
