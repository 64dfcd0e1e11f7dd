#!/usr/bin/env python3
"""What `dsnworker parse --jobs N` gains over `--jobs 1`, whole processes, interleaved runs.

Copies the corpus N times into a temporary folder (6,000+ messages by default), then runs
`dsnworker parse --jobs J DIR > /dev/null` for each J in turn, round after round (1 2 1 2 ...), each
run in a wrapper process of its own so that its CPU time (user + sys of the parse process and its
children, `getrusage(RUSAGE_CHILDREN)`) and peak RSS (of its largest process) are its own.

Prints first what starting a pool of two costs with each start method (fork, whose children
inherit the loaded rules; forkserver, whose children load them), then per J the median and spread
of wall time, messages/s, CPU seconds and peak RSS, and the speed-up of each J over --jobs 1
(median wall against median wall). The machine's load average is printed before and after: on a
shared machine, read the figures next to it.

    .venv/bin/python bench/parse_jobs.py [--copies 16] [--jobs 1 2] [--rounds 5] [--corpus DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

DEFAULT_CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "sisimai" / "emails"

# run the command, then say its wall time, its CPU time and its largest process's peak RSS
_WRAPPER = (
    "import resource, subprocess, sys, time\n"
    "started = time.perf_counter()\n"
    "with open('/dev/null', 'w') as sink:\n"
    "    subprocess.run(sys.argv[1:], stdout=sink, check=True)\n"
    "wall = time.perf_counter() - started\n"
    "usage = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    "print(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss)\n"
)


def copy_corpus(corpus: Path, copies: int, into: Path) -> int:
    sources = sorted(p for p in corpus.iterdir() if p.is_file() and not p.name.startswith("."))
    for number in range(copies):
        folder = into / f"copy-{number:02d}"
        folder.mkdir()
        for source in sources:
            shutil.copyfile(source, folder / source.name)
    return len(sources) * copies


def run(folder: Path, jobs: int) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds, peak RSS in MB) of one whole `dsnworker parse --jobs`."""
    command = [sys.executable, "-m", "dsnworker", "parse", "--jobs", str(jobs), str(folder)]
    output = subprocess.run(
        [sys.executable, "-c", _WRAPPER, *command], capture_output=True, text=True, check=True
    ).stdout.split()
    return float(output[0]), float(output[1]), int(output[2]) / 1024


# start a pool of two (rules already loaded, as `parse` and the worker have them), give each child a
# message, stop it: the wall time and the CPU time (this process and the children) that costs
_START = """
import resource, sys, time
from dsnworker.pool import AnalysisPool, RuleSet
rules = RuleSet()
analysers = {rules: rules.analyser()}
before = resource.getrusage(resource.RUSAGE_SELF)
started = time.perf_counter()
pool = AnalysisPool(2, analysers, fork_safe=sys.argv[1] == "fork")
pool.outcomes_later(rules, None, [("m", b"Subject: hi\\n\\nhello\\n")] * 2)()
wall = time.perf_counter() - started
pool.close()
me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
print(wall, me.ru_utime + me.ru_stime - before.ru_utime - before.ru_stime + kids.ru_utime + kids.ru_stime)
"""


def start_cost(method: str, rounds: int) -> tuple[float, float]:
    """Medians of (wall seconds to the first results, CPU seconds in all) of starting a pool of two.
    Under forkserver the children's CPU is the server's to reap: it is counted only in part."""
    runs = []
    for _ in range(rounds):
        output = subprocess.run([sys.executable, "-c", _START, method], capture_output=True, text=True, check=True)
        wall, cpu = output.stdout.split()
        runs.append((float(wall), float(cpu)))
    return statistics.median(w for w, _ in runs), statistics.median(c for _, c in runs)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--copies", type=int, default=16, help="copies of the corpus (16 x 392 = 6,272 messages)")
    ap.add_argument("--jobs", type=int, nargs="+", default=[1, 2], help="the --jobs values to compare")
    ap.add_argument("--rounds", type=int, default=5, help="rounds; each round runs every --jobs value once")
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    args = ap.parse_args()
    print(f"cores this process may use: {len(os.sched_getaffinity(0))}; load average {os.getloadavg()}")
    for method in ("fork", "forkserver"):
        wall, cpu = start_cost(method, args.rounds)
        print(f"starting a pool of 2 with {method}: {wall * 1000:.0f} ms to the first results, {cpu * 1000:.0f} ms CPU")
    with tempfile.TemporaryDirectory(prefix="dsnworker-bench-") as temp:
        count = copy_corpus(args.corpus, args.copies, Path(temp))
        run(Path(temp), 1)  # warm the page cache
        results: dict[int, list[tuple[float, float, float]]] = {jobs: [] for jobs in args.jobs}
        for _ in range(args.rounds):
            for jobs in args.jobs:
                results[jobs].append(run(Path(temp), jobs))
    print(f"{count} messages, {args.rounds} interleaved rounds; load average after {os.getloadavg()}")
    base = statistics.median(wall for wall, _, _ in results[args.jobs[0]])
    for jobs, runs in results.items():
        walls = sorted(wall for wall, _, _ in runs)
        cpus = sorted(cpu for _, cpu, _ in runs)
        wall = statistics.median(walls)
        print(
            f"--jobs {jobs}: wall {wall:.2f} s (spread {walls[0]:.2f}-{walls[-1]:.2f}), {count / wall:,.0f} msg/s, "
            f"CPU {statistics.median(cpus):.2f} s ({count / statistics.median(cpus):,.0f} msg per CPU-s), "
            f"peak RSS {max(rss for _, _, rss in runs):.0f} MB, x{base / wall:.2f} of --jobs {args.jobs[0]}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
