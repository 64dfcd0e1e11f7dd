#!/usr/bin/env python3
"""Whether parsing cost grows linearly with hostile input: time at n and 4n bytes, and peak memory.

For each hostile shape of `tests/hostile.py` (a run of '-' after Sendmail's heading, a
delivery-status part of blank lines, many recipient lines, deep MIME nesting, many parts, one long
line without newlines), parses a message of n bytes and one of 4n bytes, each in a fresh process,
and prints the seconds, their ratio (about 4 when the cost is linear, 16 when quadratic) and the
peak RSS of the 4n process. Not a test: figures for a person.

Usage (from the repository root, with the venv's Python):
    .venv/bin/python bench/linearity.py [--size 250000] [--runs 3] [--timeout 300]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.hostile import SHAPES  # noqa: E402

# One parse in a fresh process: the best of `runs` timings, and the process's peak RSS.
_CHILD = """
import json, logging, resource, sys, time
sys.path.insert(0, sys.argv[1])
logging.disable(logging.WARNING)
from dsnworker.parse import parse_message
from tests.hostile import SHAPES
data = SHAPES[sys.argv[2]](int(sys.argv[3]))
best = None
for _ in range(int(sys.argv[4])):
    start = time.perf_counter()
    parsed = parse_message(data)
    took = time.perf_counter() - start
    best = took if best is None else min(best, took)
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
print(json.dumps({"seconds": best, "rss_mb": rss, "reports": len(parsed.reports),
                  "truncated": bool(getattr(parsed, "truncated", ()))}))
"""


def measure(shape: str, size: int, runs: int, timeout: float) -> dict[str, float] | None:
    try:
        done = subprocess.run(
            [sys.executable, "-c", _CHILD, str(ROOT), shape, str(size), str(runs)],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=True,
        )
    except subprocess.TimeoutExpired:
        return None
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=250_000, help="n, in bytes (the second message has 4n)")
    parser.add_argument("--runs", type=int, default=3, help="parses per message; the best counts")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds before a parse counts as a hang")
    args = parser.parse_args()
    n, big = args.size, 4 * args.size
    print(f"{'shape':28} {'n s':>9} {'4n s':>9} {'ratio':>7} {'4n RSS MB':>10}  reports, truncated (4n)")
    for name in SHAPES:
        small = measure(name, n, args.runs, args.timeout)
        large = measure(name, big, args.runs, args.timeout)
        if small is None or large is None:
            print(
                f"{name:28} {'hang' if small is None else format(small['seconds'], '9.4f'):>9} {'hang':>9}"
                f"  (over {args.timeout:g} s)"
            )
            continue
        ratio = large["seconds"] / max(small["seconds"], 1e-9)
        print(
            f"{name:28} {small['seconds']:9.4f} {large['seconds']:9.4f} {ratio:7.1f} {large['rss_mb']:10d}"
            f"  {large['reports']}, {large['truncated']}"
        )
    print(f"n = {n:,} bytes, 4n = {big:,} bytes; linear cost gives a ratio near 4, quadratic near 16")


if __name__ == "__main__":
    main()
