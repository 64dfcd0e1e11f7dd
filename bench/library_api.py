#!/usr/bin/env python3
"""What the library API costs: `import dsnworker`, the first `dsnworker.analyse` call (rule packs
loaded), and the calls after it (the analyser kept).

Prints the median time `python -X importtime` gives the `dsnworker` package's own import, over N
fresh processes taking turns, for this tree's `dsnworker/__init__.py` and the one of git revision
`--before` (each copied alone to a temporary folder and compiled to bytecode, as an installed
package is: nothing else of the package can be imported there, so an eager import would fail); then,
in one process, the first `analyse()` call and the median of the next ones on one bounce of examples/.

Usage (from the repository root, with the venv's Python):
    .venv/bin/python bench/library_api.py [--runs 31] [--before main]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import py_compile
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BOUNCE = ROOT / "examples" / "maildir" / "cur" / "postfix-user-unknown.eml"


def package_copy(into: Path, source: str) -> Path:
    (into / "dsnworker").mkdir(parents=True)
    init = into / "dsnworker" / "__init__.py"
    init.write_text(source)
    py_compile.compile(str(init), cfile=importlib.util.cache_from_source(str(init)), doraise=True)
    return into


def import_microseconds(folder: Path) -> int:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import dsnworker"],
        capture_output=True,
        text=True,
        check=True,
        cwd=folder,
        env={**os.environ, "PYTHONPATH": str(folder)},
    )
    line = next(line for line in result.stderr.splitlines() if line.rstrip().endswith("| dsnworker"))
    return int(line.split("|")[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=31)
    parser.add_argument("--before", default="main", help="the git revision to compare with (default: main)")
    args = parser.parse_args()
    before = subprocess.run(
        ["git", "show", f"{args.before}:dsnworker/__init__.py"], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    with tempfile.TemporaryDirectory() as temporary:
        trees = {
            args.before: package_copy(Path(temporary) / "before", before),
            "this tree": package_copy(Path(temporary) / "now", (ROOT / "dsnworker" / "__init__.py").read_text()),
        }
        times: dict[str, list[int]] = {name: [] for name in trees}
        for _ in range(args.runs):
            for name, folder in trees.items():
                times[name].append(import_microseconds(folder))
    for name, found in times.items():
        print(f"import dsnworker, {name}: median {statistics.median(found) / 1000:.3f} ms ({args.runs} processes)")

    import dsnworker

    data = BOUNCE.read_bytes()
    started = time.perf_counter()
    dsnworker.analyse(data)
    first = time.perf_counter() - started
    later = []
    for _ in range(200):
        started = time.perf_counter()
        dsnworker.analyse(data)
        later.append(time.perf_counter() - started)
    median = statistics.median(later)
    print(f"first analyse() call (loads the rule packs): {first * 1000:.1f} ms")
    print(f"later calls (the kept analyser), median of 200: {median * 1000:.3f} ms")
    print(f"the first call costs as much as {first / median:.0f} later ones")


if __name__ == "__main__":
    main()
