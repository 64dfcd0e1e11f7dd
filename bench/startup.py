#!/usr/bin/env python3
"""What `dsnworker parse` costs to start: one message file, whole processes, and where the imports go.

Runs `python -m dsnworker parse FILE > /dev/null` in interleaved rounds (A B A B ...) for this
checkout and, with `--base DIR`, another one (e.g. `git worktree add /tmp/base main`), after one
untimed run of each that compiles their bytecode and fills the rule pack cache, as an installed
user's second run finds them (PYTHONDONTWRITEBYTECODE is removed from the children's environment).
Prints the median and spread (min-max) of wall and CPU time (user+sys, from getrusage), then the
import profile: `python -X importtime`, the time spent importing each group of modules (dsnworker's
by subpackage, others by package), median of `--profiles` runs, largest first. The bar (issue 11): 120 ms.

Usage (from the repository root, with the venv's Python):
    .venv/bin/python bench/startup.py [--runs 20] [--profiles 5] [--file MESSAGE] [--base DIR]
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
from collections import defaultdict
from pathlib import Path

BAR_MS = 120.0
HERE = Path(__file__).resolve().parent
DEFAULT_FILE = HERE.parents[1] / "shared" / "corpus" / "sisimai" / "emails" / "lhost-postfix-01.eml"


def environment(checkout: Path) -> dict[str, str]:
    """The checkout's dsnworker first on sys.path, bytecode written and read as usual."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = str(checkout)
    return env


def run_once(command: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """Wall and CPU seconds of one whole process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(command, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        sys.exit(f"startup: {' '.join(command)} exited {result.returncode}:\n{result.stderr.decode()[-2000:]}")
    return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def import_profile(command: list[str], env: dict[str, str], cwd: Path) -> dict[str, float]:
    """Milliseconds spent importing each group of modules in one run (`-X importtime`, self times):
    dsnworker's by subpackage (`dsnworker.parse`), others by top-level package (`email`, `yaml`)."""
    result = subprocess.run(
        [command[0], "-X", "importtime", *command[1:]],
        env=env,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    profile: dict[str, float] = defaultdict(float)
    for line in result.stderr.decode().splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        own, _, name = line[len("import time:") :].split("|")
        parts = name.strip().split(".")
        group = ".".join(parts[:2]) if parts[0] == "dsnworker" else parts[0]
        profile[group] += int(own) / 1000
    return profile


def _ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:5.0f} [{min(values) * 1000:.0f}-{max(values) * 1000:.0f}]"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=20, help="timed rounds (default 20)")
    ap.add_argument("--profiles", type=int, default=5, help="-X importtime runs of each side (default 5)")
    ap.add_argument("--file", type=Path, default=DEFAULT_FILE, help="the message file parsed")
    ap.add_argument("--base", type=Path, metavar="DIR", help="another checkout, timed in the same rounds")
    args = ap.parse_args()
    if not args.file.is_file():
        sys.exit(f"startup: message file {args.file} not found (use --file FILE)")
    sides = {"this checkout": HERE.parent}
    if args.base is not None:
        if not (args.base / "dsnworker" / "__init__.py").is_file():
            sys.exit(f"startup: --base {args.base} is not a dsnworker checkout (no dsnworker/__init__.py)")
        sides[f"base {args.base}"] = args.base.resolve()
    command = [sys.executable, "-m", "dsnworker", "parse", str(args.file.resolve())]
    times: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in sides}
    profiles: dict[str, dict[str, list[float]]] = {name: defaultdict(list) for name in sides}
    # `python -m` puts the current folder first on sys.path: run from an empty one, so that
    # PYTHONPATH alone says which checkout runs
    with tempfile.TemporaryDirectory(prefix="dsnworker-startup-") as tmp:
        cwd = Path(tmp)
        for checkout in sides.values():
            run_once(command, environment(checkout), cwd)  # bytecode and the rule pack cache
        for _ in range(args.runs):
            for name, checkout in sides.items():
                wall, cpu = run_once(command, environment(checkout), cwd)
                times[name][0].append(wall)
                times[name][1].append(cpu)
        for _ in range(args.profiles):
            for name, checkout in sides.items():
                for module, ms in import_profile(command, environment(checkout), cwd).items():
                    profiles[name][module].append(ms)

    print(f"dsnworker parse {args.file.name}: whole process, {args.runs} interleaved rounds, ms median [min-max]")
    width = max(len(name) for name in sides)
    for name, (walls, cpus) in times.items():
        verdict = "meets" if statistics.median(walls) * 1000 <= BAR_MS else "MISSES"
        print(f"  {name:{width}}  wall {_ms(walls):>16}  CPU {_ms(cpus):>16}  ({verdict} the {BAR_MS:.0f} ms bar)")
    print(f"\nimports (-X importtime): ms spent importing each group of modules, median of {args.profiles} runs")
    medians = {name: {m: statistics.median(v) for m, v in profile.items()} for name, profile in profiles.items()}
    modules = sorted(
        {m for p in medians.values() for m in p}, key=lambda m: -max(p.get(m, 0.0) for p in medians.values())
    )
    columns = list(sides)
    print(f"  {'module':32}" + "".join(f" {name[:20]:>20}" for name in columns))
    for module in modules:
        if max(p.get(module, 0.0) for p in medians.values()) < 1.0:
            continue  # under a millisecond on every side: noise here, still in the total
        print(f"  {module:32}" + "".join(f" {_cell(medians[name].get(module)):>20}" for name in columns))
    print(f"  {'all imports':32}" + "".join(f" {sum(medians[name].values()):20.1f}" for name in columns))
    return 0


def _cell(ms: float | None) -> str:
    return "-" if ms is None else f"{ms:.1f}"


if __name__ == "__main__":
    sys.exit(main())
