"""What the report's daily counts cost: the write in each batch, the state's size, and a report.

Fills a fresh state with `--days` of counts (`--providers` x 8 reasons x 2 actions a day: far more
kinds than a real mailbox sees, so an upper bound), counting `--outcomes` outcomes one by one in
batch-sized transactions as the worker does, then times `dsnworker report` (a whole process, the
way an operator runs it) for 30 days and for all of them, in each format.

    .venv/bin/python bench/report.py [--days 400] [--providers 30] [--outcomes 200000]
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dsnworker.worker.state import OutcomeKind, Store  # noqa: E402

REASONS = ("user_unknown", "mailbox_full", "blocked", "host_unknown", "filtered", "suspend", "expired", "feedback")
ACTIONS = {"user_unknown": "suppress", "host_unknown": "suppress", "feedback": "suppress", "blocked": "sender_fix"}
BATCH = 100  # the worker's default batch_size


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--days", type=int, default=400)
    options.add_argument("--providers", type=int, default=30)
    options.add_argument("--outcomes", type=int, default=200_000)
    args = options.parse_args()
    with tempfile.TemporaryDirectory(prefix="dsnworker-bench-report-") as folder:
        root = Path(folder)
        state = root / "state.sqlite"
        store = Store(state)
        today = datetime.now(UTC).date()
        kinds = [(p, r) for p in range(args.providers) for r in REASONS]
        rng = random.Random(1)
        started = time.perf_counter()
        for start in range(0, args.outcomes, BATCH):
            with store.transaction():
                counts: Counter[OutcomeKind] = Counter()
                for n in range(start, min(start + BATCH, args.outcomes)):
                    provider, reason = kinds[n % len(kinds)]
                    day = (today - timedelta(days=rng.randrange(args.days))).isoformat()
                    action = ACTIONS.get(reason, "retry" if n % 3 else "suppress")
                    counts[(day, "bounces", f"provider{provider}", reason, action, reason == "user_unknown")] += 1
                store.count_outcomes(counts)
        spent = time.perf_counter() - started
        rows = store.db.execute("SELECT count(*) FROM outcome_day").fetchone()[0]
        store.close()
        print(f"{args.outcomes} outcomes counted in {spent:.2f} s: {spent / args.outcomes * 1e6:.1f} us each")
        print(f"{rows} daily rows; state file {state.stat().st_size / 1e6:.1f} MB")
        config = root / "config.toml"
        config.write_text(f'state = "{state}"\n[[mailbox]]\nname = "bounces"\nsource = "maildir:{root}"\n')
        for since in ("30d", f"{args.days - 1}d"):
            for output in ("table", "json", "html"):
                command = [sys.executable, "-m", "dsnworker", "report", "-c", str(config), "--since", since]
                started = time.perf_counter()
                result = subprocess.run([*command, "--format", output], capture_output=True, check=True)
                spent = time.perf_counter() - started
                size = len(result.stdout) / 1e3
                print(f"report --since {since:>4} --format {output:<5}: {spent:.2f} s, {size:.0f} kB")


if __name__ == "__main__":
    main()
