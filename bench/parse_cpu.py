#!/usr/bin/env python3
"""CPU time per message of the offline core (parse, classify, JSON line), in process. Not a test.

Reads every file of the corpus into memory once, `--copies` times over (the 10x dev corpus: 3,920
messages), then runs what `dsnworker parse --format jsonl` runs per message: `Analyser.analyse`,
`outcome_record` and the JSON encoder. Start-up, reading files and writing are left out: this is the
per-message cost only. It prints the process CPU time (user+sys) per message of each round, and the
best. With `--profile N` it prints the top N functions by own time (cProfile) of one more pass.

With `--against DIR` (another checkout, e.g. `git worktree add /tmp/base main`) it runs itself in
whole processes, alternately on that tree and on this one (A B A B ...), and prints both series and
their best and median, CPU time read by `resource.getrusage(RUSAGE_CHILDREN)` of each child.

Usage (from the repository root, with the venv's Python):
    .venv/bin/python bench/parse_cpu.py [--copies 10] [--rounds 5] [--corpus DIR] [--profile 25]
    .venv/bin/python bench/parse_cpu.py --against /tmp/base [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = ROOT.parent / "shared" / "corpus" / "sisimai" / "emails"


def main() -> int:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--copies", type=int, default=10)
    options.add_argument("--rounds", type=int, default=5)
    options.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    options.add_argument("--profile", type=int, default=0, metavar="N", help="print the top N functions")
    options.add_argument("--against", type=Path, help="another checkout: A/B whole processes")
    options.add_argument("--tree", type=Path, default=ROOT, help=argparse.SUPPRESS)
    args = options.parse_args()
    if args.against is not None:
        return _compare(args)
    sys.path.insert(0, str(args.tree))
    messages = [path.read_bytes() for path in sorted(args.corpus.rglob("*")) if path.is_file()] * args.copies
    run = _runner()
    run(messages[:50])  # warm caches (lazy compiles) outside the timed rounds
    figures = []
    for _ in range(args.rounds):
        start = time.process_time()
        run(messages)
        figures.append((time.process_time() - start) / len(messages) * 1e6)
    print(f"messages {len(messages)}  us/message " + " ".join(f"{f:.1f}" for f in figures))
    print(f"best {min(figures):.1f} us/message")
    if args.profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        profiler.runcall(run, messages)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(args.profile)
    return 0


def _runner() -> Callable[[list[bytes]], int]:
    """What `dsnworker parse --format jsonl` does per message, of the tree on sys.path."""
    import gc

    from dsnworker.analyser import Analyser
    from dsnworker.output import outcome_record

    analyser = Analyser.with_rules()
    gc.freeze()  # as `dsnworker parse` does once its rules are loaded
    to_json = json.JSONEncoder(ensure_ascii=False).encode

    def run(messages: list[bytes]) -> int:
        written = 0
        for number, data in enumerate(messages):
            for outcome in analyser.analyse(data, f"m{number}"):
                written += len(to_json(outcome_record(outcome)))
        return written

    return run


def _compare(args: argparse.Namespace) -> int:
    trees = {"A (against)": args.against.resolve(), "B (this tree)": ROOT}
    series: dict[str, list[float]] = {name: [] for name in trees}
    for _ in range(args.rounds):
        for name, tree in trees.items():
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            command = [sys.executable, __file__, "--tree", str(tree), "--rounds", "1"]
            command += ["--copies", str(args.copies), "--corpus", str(args.corpus)]
            output = subprocess.run(command, capture_output=True, text=True, check=True, env=_env(tree)).stdout
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
            in_loop = float(output.split("best ")[1].split()[0])
            series[name].append(in_loop)
            print(f"{name:14} {in_loop:6.1f} us/message in the loop, whole process {cpu:.2f} s CPU", flush=True)
    for name, figures in series.items():
        print(f"{name:14} best {min(figures):.1f}  median {statistics.median(figures):.1f} us/message")
    return 0


def _env(tree: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(tree)}


if __name__ == "__main__":
    raise SystemExit(main())
