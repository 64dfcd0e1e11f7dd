#!/usr/bin/env python3
"""How fast `dsnworker parse` is, as whole processes, next to the floor and to Sisimai, in one run.

Copies the corpus emails N times into a temporary folder (6,000+ messages by default), then times,
each as whole processes (start-up included), in interleaved rounds (A B C A B C ...):
  floor      a Python process that reads every file and runs `email.message_from_bytes(data,
             policy=compat32)`: the stdlib MIME layer alone, nothing decided, nothing written;
  dsnworker  `dsnworker parse --format jsonl` over the folder (start-up, rule loading, reading,
             parsing, classifying, writing JSON lines);
  Sisimai    Debian's libsisimai-perl (4.25), `perl bench/sisimai_parse.pl` over the same folders:
             `Sisimai->make` and one line per result (skipped, with a message, when not installed).
One core: each side is one process (`dsnworker parse --jobs 1` where `--jobs` exists). All cores:
`dsnworker parse --jobs N`, and the floor and Sisimai as N processes over shares of the folders;
skipped, with a message, when this dsnworker has no `--jobs` option.

For each it prints the median and spread (min-max) of wall and CPU time (user+sys of the process
and its children, from getrusage), messages/s by wall time and by CPU time, the ratios to Sisimai
and to the floor, and whether dsnworker meets the 3,000 messages/s bar on one core. CPU time is the
steadier figure on a shared machine; wall time is what a user waits for. `--base DIR` adds another
checkout's dsnworker (e.g. `git worktree add /tmp/base main`) to the same rounds, for a before/after.
Children run without PYTHONDONTWRITEBYTECODE, so Python modules run from bytecode as installed.

Usage (from the repository root, with the venv's Python; Sisimai: `apt-get install libsisimai-perl`):
    .venv/bin/python bench/parse_throughput.py [--copies 16] [--corpus ../shared/corpus/sisimai/emails]
        [--runs 5] [--jobs N] [--base DIR]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

BAR = 3000.0  # messages/s, whole process, one core (issue 2)
HERE = Path(__file__).resolve().parent
DEFAULT_CORPUS = HERE.parents[1] / "shared" / "corpus" / "sisimai" / "emails"
SISIMAI_SCRIPT = HERE / "sisimai_parse.pl"
FLOOR, SISIMAI = "floor (compat32)", "Sisimai"

# the floor, as a process of its own like the others: every file of every folder through compat32
FLOOR_CODE = """
import email, sys
from email import policy
from pathlib import Path
for folder in sys.argv[1:]:
    for path in sorted(Path(folder).iterdir()):
        email.message_from_bytes(path.read_bytes(), policy=policy.compat32)
"""


@dataclass
class Variant:
    """One row: processes started together and waited for together, timed as a whole."""

    name: str
    side: str  # the same program in the one-core and the all-cores rows
    commands: list[list[str]]
    env: dict[str, str]
    walls: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)
    lines: int = 0

    def run(self, scratch: Path) -> None:
        outputs = [scratch / f"out-{number}" for number in range(len(self.commands))]
        errors = [scratch / f"err-{number}" for number in range(len(self.commands))]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        processes = []
        for command, output, error in zip(self.commands, outputs, errors, strict=True):
            with output.open("wb") as out, error.open("wb") as err:  # files: no pipe to fill and block on
                processes.append(subprocess.Popen(command, stdout=out, stderr=err, env=self.env, cwd=scratch))
        for process in processes:
            process.wait()
        elapsed = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        for process, error in zip(processes, errors, strict=True):
            if process.returncode != 0:
                command = " ".join(map(str, process.args))  # type: ignore[arg-type]
                tail = error.read_text(errors="replace")[-2000:]
                sys.exit(f"parse_throughput: {command} exited {process.returncode}:\n{tail}")
        self.walls.append(elapsed)
        self.cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        self.lines = sum(_count_lines(output) for output in outputs)

    def rates(self, count: int) -> tuple[float, float]:
        """Messages per second of wall time and per second of CPU time, from the medians."""
        return count / statistics.median(self.walls), count / statistics.median(self.cpus)


def _count_lines(path: Path) -> int:
    with path.open("rb") as file:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: file.read(1 << 20), b""))


def copy_corpus(corpus: Path, copies: int, into: Path) -> tuple[list[Path], int]:
    sources = sorted(p for p in corpus.iterdir() if p.is_file() and not p.name.startswith("."))
    if not sources:
        sys.exit(f"parse_throughput: no message files in {corpus}")
    folders = []
    for number in range(copies):
        folder = into / f"copy-{number:02d}"
        folder.mkdir()
        for source in sources:
            shutil.copyfile(source, folder / source.name)
        folders.append(folder)
    return folders, len(sources) * copies


def shares(folders: list[Path], parts: int) -> list[list[Path]]:
    """The folders dealt round-robin into `parts` non-empty shares (fewer when there are fewer folders)."""
    dealt: list[list[Path]] = [[] for _ in range(min(parts, len(folders)))]
    for number, folder in enumerate(folders):
        dealt[number % len(dealt)].append(folder)
    return dealt


def child_env(pythonpath: Path | None = None) -> dict[str, str]:
    """The environment of the timed processes; `pythonpath`: the checkout whose dsnworker runs."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return env


def has_jobs_option(env: dict[str, str], cwd: Path) -> bool:
    """Whether this dsnworker's `parse` takes `--jobs` (another change may not have landed)."""
    command = [sys.executable, "-m", "dsnworker", "parse", "--help"]
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=cwd)
    if result.returncode != 0:
        sys.exit(f"parse_throughput: {' '.join(command)} exited {result.returncode}:\n{result.stderr[-2000:]}")
    return "--jobs" in result.stdout


def sisimai_version() -> str | None:
    """Sisimai's version when perl can load it, else None."""
    if shutil.which("perl") is None:
        return None
    result = subprocess.run(["perl", "-MSisimai", "-e", "print $Sisimai::VERSION"], capture_output=True, text=True)
    return result.stdout.strip() if result.returncode == 0 else None


def dsnworker_variants(
    label: str, env: dict[str, str], folder: Path, cores: int
) -> tuple[Variant, Variant | None, str | None]:
    """The one-core and all-cores rows of one checkout's dsnworker (all cores only with `--jobs`)."""
    parse = [sys.executable, "-m", "dsnworker", "parse", "--format", "jsonl"]
    if not has_jobs_option(env, folder.parent):
        note = f"{label}: `dsnworker parse` has no --jobs option: all-cores row skipped"
        return Variant(label, label, [[*parse, str(folder)]], env), None, note
    one = Variant(f"{label} --jobs 1", label, [[*parse, "--jobs", "1", str(folder)]], env)
    every = Variant(f"{label} --jobs {cores}", label, [[*parse, "--jobs", str(cores), str(folder)]], env)
    return one, every, None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--copies", type=int, default=16, help="copies of the corpus (default 16: 392 x 16 = 6,272)")
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="folder of message files")
    ap.add_argument("--runs", type=int, default=5, help="timed rounds, each running every row once (default 5)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="processes for the all-cores rows")
    ap.add_argument("--base", type=Path, metavar="DIR", help="another checkout's dsnworker, run in the same rounds")
    args = ap.parse_args()
    if not args.corpus.is_dir():
        sys.exit(f"parse_throughput: corpus folder {args.corpus} not found (use --corpus DIR)")
    if args.base is not None and not (args.base / "dsnworker" / "__init__.py").is_file():
        sys.exit(f"parse_throughput: --base {args.base} is not a dsnworker checkout (no dsnworker/__init__.py)")
    if args.copies < 1 or args.runs < 1 or args.jobs < 1:
        sys.exit("parse_throughput: --copies, --runs and --jobs must be at least 1")

    with tempfile.TemporaryDirectory(prefix="dsnworker-bench-") as tmp:
        root = Path(tmp) / "messages"
        root.mkdir()
        scratch = Path(tmp)
        folders, count = copy_corpus(args.corpus, args.copies, root)
        one_core, all_cores, notes = build_rows(args, root, folders)
        rows = one_core + all_cores
        for variant in rows:  # untimed: the page cache, bytecode and the rule pack cache warm up
            variant.run(scratch)
        for variant in rows:
            variant.walls.clear()
            variant.cpus.clear()
        for _ in range(args.runs):  # A B C A B C ...: a busy moment of the machine hits every row
            for variant in rows:
                variant.run(scratch)

    print(f"messages: {count:,} ({args.copies} copies of {args.corpus}); {args.runs} interleaved rounds, medians")
    for note in notes:
        print(note)
    report("one core", one_core, count, None)
    if all_cores:
        report(f"all cores ({args.jobs} processes)", all_cores, count, one_core)
    whole = next(v for v in one_core if v.side == "dsnworker")
    wall_rate, cpu_rate = whole.rates(count)
    verdict = "meets" if wall_rate >= BAR else "MISSES"
    print(f"bar {BAR:,.0f} msg/s (one core, wall): {verdict} it ({wall_rate:,.0f} msg/s, {cpu_rate:,.0f} per CPU-s)")
    return 0


def build_rows(
    args: argparse.Namespace, root: Path, folders: list[Path]
) -> tuple[list[Variant], list[Variant], list[str]]:
    """The one-core rows and the all-cores rows (empty when no dsnworker has `--jobs`), and notes."""
    plain = child_env()
    floor = [sys.executable, "-c", FLOOR_CODE]
    sisimai = ["perl", str(SISIMAI_SCRIPT)]
    notes: list[str] = []
    one_core = [Variant(FLOOR, FLOOR, [[*floor, *map(str, folders)]], plain)]
    all_cores = [Variant(FLOOR, FLOOR, [[*floor, *map(str, s)] for s in shares(folders, args.jobs)], plain)]
    # each checkout is chosen by PYTHONPATH, and runs from the scratch folder: `python -m` puts the
    # current folder first on sys.path, so from a repository root it would run that root's dsnworker
    sides = [("dsnworker", child_env(HERE.parent))]
    if args.base is not None:
        sides.append((f"dsnworker ({args.base})", child_env(args.base.resolve())))
    for label, env in sides:
        one, every, note = dsnworker_variants(label, env, root, args.jobs)
        one_core.append(one)
        if every is not None:
            all_cores.append(every)
        if note is not None:
            notes.append(note)
    version = sisimai_version()
    if version is None:
        notes.append("Sisimai: perl cannot load it (apt-get install libsisimai-perl): its rows skipped")
    else:
        notes.append(f"Sisimai {version}: perl {SISIMAI_SCRIPT.relative_to(HERE.parent)}, one line per result")
        one_core.append(Variant(SISIMAI, SISIMAI, [[*sisimai, *map(str, folders)]], plain))
        all_cores.append(
            Variant(SISIMAI, SISIMAI, [[*sisimai, *map(str, s)] for s in shares(folders, args.jobs)], plain)
        )
    if not any(v.side.startswith("dsnworker") for v in all_cores):
        all_cores = []  # nothing of ours to compare on every core
    return one_core, all_cores, notes


def report(title: str, rows: list[Variant], count: int, one_core: list[Variant] | None) -> None:
    """A table: times, rates, and the ratios (wall/CPU) to Sisimai, to the floor and to one core."""
    peers = [next((v for v in rows if v.side == side), None) for side in (SISIMAI, FLOOR)]
    width = max(len(v.name) for v in rows)
    print(f"\n{title}")
    header = f"{'':{width}} {'wall s median [min-max]':>24} {'CPU s median [min-max]':>24} {'msg/s':>7}"
    header += f" {'msg/CPU-s':>9} {'x Sisimai':>11} {'x floor':>11}"
    print(header + (f" {'x 1 core':>11}" if one_core else "") + f" {'lines':>7}")
    for variant in rows:
        wall_rate, cpu_rate = variant.rates(count)
        line = f"{variant.name:{width}} {_spread(variant.walls):>24} {_spread(variant.cpus):>24}"
        line += f" {wall_rate:7,.0f} {cpu_rate:9,.0f}"
        line += "".join(f" {_ratio(variant, peer, count):>11}" for peer in peers)
        if one_core is not None:
            alone = next((v for v in one_core if v.side == variant.side), None)
            line += f" {_ratio(variant, alone, count):>11}"
        print(line + f" {variant.lines:7,}")


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} [{min(values):.2f}-{max(values):.2f}]"


def _ratio(variant: Variant, peer: Variant | None, count: int) -> str:
    """How many times the peer's rate, by wall time and by CPU time."""
    if peer is None or peer is variant:
        return "-"
    wall, cpu = variant.rates(count)
    peer_wall, peer_cpu = peer.rates(count)
    return f"{wall / peer_wall:.2f}/{cpu / peer_cpu:.2f}"


if __name__ == "__main__":
    sys.exit(main())
