#!/usr/bin/env python3
"""How fast `dsnworker parse` is, whole process, next to the floor of the MIME layer it stands on.

Copies the corpus emails N times into a temporary folder (6,000+ messages by default), then times
  (a) the floor: read every file and `email.message_from_bytes(data, policy=compat32)`, in one process;
  (b) `dsnworker parse --format jsonl DIR > /dev/null` as a whole process (start-up, rule loading,
      reading, parsing, classifying, writing JSON lines),
and prints messages/s for each, the ratio (b)/(a), and whether (b) meets the 3,000 messages/s bar.

Usage (from the repository root, with the venv's Python):
    .venv/bin/python bench/parse_throughput.py [--copies 16] [--corpus ../shared/corpus/sisimai/emails] [--runs 3]
"""

from __future__ import annotations

import argparse
import email
import shutil
import subprocess
import sys
import tempfile
import time
from email import policy
from pathlib import Path

BAR = 3000.0  # messages/s, whole process, one core (issue 2)
DEFAULT_CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "sisimai" / "emails"


def copy_corpus(corpus: Path, copies: int, into: Path) -> list[Path]:
    sources = sorted(p for p in corpus.iterdir() if p.is_file() and not p.name.startswith("."))
    if not sources:
        sys.exit(f"parse_throughput: no message files in {corpus}")
    files = []
    for number in range(copies):
        folder = into / f"copy-{number:02d}"
        folder.mkdir()
        for source in sources:
            target = folder / source.name
            shutil.copyfile(source, target)
            files.append(target)
    return files


def time_floor(files: list[Path]) -> float:
    started = time.perf_counter()
    for path in files:
        email.message_from_bytes(path.read_bytes(), policy=policy.compat32)
    return time.perf_counter() - started


def time_dsnworker(folder: Path) -> float:
    command = [sys.executable, "-m", "dsnworker", "parse", "--format", "jsonl", str(folder)]
    started = time.perf_counter()
    with open("/dev/null", "w") as devnull:
        result = subprocess.run(command, stdout=devnull, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"parse_throughput: {' '.join(command)} exited {result.returncode}:\n{result.stderr[-2000:]}")
    return elapsed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--copies", type=int, default=16, help="copies of the corpus (default 16: 392 x 16 = 6,272)")
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="folder of message files")
    ap.add_argument("--runs", type=int, default=3, help="runs of each measurement; the best one counts")
    args = ap.parse_args()
    if not args.corpus.is_dir():
        sys.exit(f"parse_throughput: corpus folder {args.corpus} not found (use --corpus DIR)")

    with tempfile.TemporaryDirectory(prefix="dsnworker-bench-") as tmp:
        files = copy_corpus(args.corpus, args.copies, Path(tmp))
        count = len(files)
        time_floor(files)  # warm the page cache so both measurements read from memory
        floor = min(time_floor(files) for _ in range(args.runs))
        whole = min(time_dsnworker(Path(tmp)) for _ in range(args.runs))

    floor_rate, whole_rate = count / floor, count / whole
    print(f"messages: {count} ({args.copies} copies of {args.corpus}), best of {args.runs} runs")
    print(f"floor     compat32 message_from_bytes, in process: {floor_rate:8,.0f} msg/s  ({floor:.2f} s)")
    print(f"dsnworker parse --format jsonl, whole process:     {whole_rate:8,.0f} msg/s  ({whole:.2f} s)")
    print(f"ratio dsnworker/floor: {whole_rate / floor_rate:.2f}")
    verdict = "meets" if whole_rate >= BAR else "MISSES"
    print(f"bar {BAR:,.0f} msg/s: {verdict} it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
