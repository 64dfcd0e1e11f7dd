"""What a pass over a big mbox source costs: the first one, and then an empty one (nothing new).

Writes an mbox of about N MB of bounces into a temporary folder, runs `dsnworker poll` on it once
(every message new), then `--runs` more times (every message already processed), each a whole
process, and prints the seconds and the peak memory (max RSS) of each.

    .venv/bin/python bench/mbox_pass.py [--megabytes 300] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests import mailgen  # noqa: E402

FROM_LINE = b"From MAILER-DAEMON Thu Nov 26 02:30:00 2026\n"


def write_mbox(path: Path, megabytes: int) -> int:
    count = size = 0
    with open(path, "wb") as out:
        while size < megabytes * 1_000_000:
            kind = ("user_unknown", "mailbox_full")[count % 2]
            data = mailgen.dsn(f"u{count}@example.jp", kind, count).replace(b"\r\n", b"\n").rstrip(b"\n")
            chunk = FROM_LINE + data + b"\n\n"
            out.write(chunk)
            size += len(chunk)
            count += 1
    return count


def poll(config: Path) -> tuple[float, float, str]:
    """Seconds, peak RSS in MB, and the summary line of one `dsnworker poll` (a process of its own)."""
    started = time.perf_counter()
    command = [sys.executable, "-m", "dsnworker", "poll", "-c", str(config)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=ROOT)
    assert process.stdout is not None
    out = process.stdout.read()
    _, _, usage = os.wait4(process.pid, 0)  # this child's own peak, not the largest child's so far
    process.returncode = 0  # reaped here; Popen must not wait for it again
    seconds = time.perf_counter() - started
    return seconds, usage.ru_maxrss / 1024, out.decode().strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--megabytes", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dsnworker-bench-mbox-") as folder:
        root = Path(folder)
        count = write_mbox(root / "bounces.mbox", args.megabytes)
        config = root / "config.toml"
        config.write_text('state = "state.sqlite"\n[[mailbox]]\nname = "box"\nsource = "mbox:bounces.mbox"\n')
        print(f"mbox: {(root / 'bounces.mbox').stat().st_size / 1e6:.0f} MB, {count} messages")
        for label in ["first pass"] + [f"empty pass {n + 1}" for n in range(args.runs)]:
            seconds, peak, line = poll(config)
            print(f"{label}: {seconds:.2f} s, peak {peak:.0f} MB  ({line})")


if __name__ == "__main__":
    main()
