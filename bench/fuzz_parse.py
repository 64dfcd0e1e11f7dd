#!/usr/bin/env python3
"""A long fuzz run of the parser over mutated corpus messages; prints what it found. Not a test.

With `atheris` installed (`.venv/bin/pip install atheris`: a wheel exists for CPython 3.11 on
x86-64 Linux; elsewhere it builds, which needs clang with libFuzzer), it drives coverage-guided
mutation of the corpus messages, and arguments it does not know go to libFuzzer (`-runs=100000`,
`-max_total_time=3600`). Without it, this script says so and runs a random-mutation loop instead: the mutations of
`tests/mutations.py` (byte flips, truncation, charset swaps, duplicated headers, damaged
boundaries), stacked one to three deep, on random corpus messages.

Each input must analyse without raising, to a bounce record, `not_bounce` or `unparsed` (format
`error`); a message that was a bounce must stay one under a charset-only mutation. A failing input
is written to --crashers (default: a temporary folder) for a person to turn into a small
synthetic regression file under tests/.

Usage (from the repository root, with the venv's Python):
    .venv/bin/python bench/fuzz_parse.py [--iterations 20000] [--seed 1] [--corpus ../shared/corpus/sisimai/emails]
    .venv/bin/python bench/fuzz_parse.py -max_total_time=600      # with atheris: libFuzzer's own flags
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dsnworker.analyser import Analyser  # noqa: E402
from dsnworker.model import Kind, Outcome  # noqa: E402
from tests.mutations import MUTATIONS, swap_charsets  # noqa: E402

DEFAULT_CORPUS = ROOT.parent / "shared" / "corpus" / "sisimai" / "emails"


def classify(outcomes: list[Outcome]) -> str:
    """bounce, not_bounce or unparsed; anything else is a failure of the property."""
    message = outcomes[0].message
    if message.format == "error":
        return "unparsed"
    if message.kind is Kind.NOT_BOUNCE and message.format == "none" and not message.parser_errors:
        return "not_bounce"
    if message.kind is not Kind.NOT_BOUNCE:
        return "bounce"
    return f"neither ({message.kind}, {message.format})"


class Fuzz:
    def __init__(self, analyser: Analyser, crashers: Path) -> None:
        self.analyser = analyser
        self.crashers = crashers
        self.failures = 0

    def check(self, data: bytes, before: str | None = None, what: str = "") -> str:
        """The outcome class of `data`; a failure is saved. `before`: its class before a charset-only mutation."""
        try:
            outcomes = self.analyser.analyse(data, "fuzz")
            kind = classify(outcomes)
            if kind.startswith("neither"):
                raise AssertionError(kind)
            if before == "bounce" and kind == "not_bounce":
                raise AssertionError("a bounce became not_bounce under a charset-only mutation")
            if any(o.message.format == "error" and "internal error" in str(o.verdict.details) for o in outcomes):
                raise AssertionError(outcomes[0].verdict.details.get("error"))
        except Exception as exc:  # a finding: keep the input
            self.failures += 1
            name = hashlib.sha256(data).hexdigest()[:16]
            (self.crashers / f"{name}.eml").write_bytes(data)
            print(f"FAIL {what}: {type(exc).__name__}: {str(exc)[:200]} -> {self.crashers / name}.eml", flush=True)
            return "failure"
        return kind


def random_loop(fuzz: Fuzz, seeds: list[bytes], iterations: int, rng: random.Random) -> None:
    baseline = {index: fuzz.check(data) for index, data in enumerate(seeds)}
    names = list(MUTATIONS)
    counts: dict[str, int] = {}
    started = time.perf_counter()
    for number in range(1, iterations + 1):
        index = rng.randrange(len(seeds))
        if rng.random() < 0.25:  # the charset-only property
            data = swap_charsets(seeds[index], rng)
            kind = fuzz.check(data, baseline[index], f"swap_charsets of seed {index}")
        else:
            data, applied = seeds[index], []
            for _ in range(rng.randint(1, 3)):
                name = rng.choice(names)
                data = MUTATIONS[name](data, rng)
                applied.append(name)
            kind = fuzz.check(data, None, f"{'+'.join(applied)} of seed {index}")
        counts[kind] = counts.get(kind, 0) + 1
        if number % 2000 == 0:
            rate = number / (time.perf_counter() - started)
            print(f"{number} inputs, {rate:.0f}/s, outcomes {counts}, failures {fuzz.failures}", flush=True)
    print(f"done: {iterations} inputs, outcomes {counts}, failures {fuzz.failures}")


def atheris_run(fuzz: Fuzz, seeds: list[bytes], atheris: Any, libfuzzer_args: list[str]) -> None:
    """libFuzzer, through atheris, mutating the corpus messages (copied to a working folder, which
    it adds to); it stops at the first failure, or when its own flags say."""

    def one(data: bytes) -> None:
        if fuzz.check(data, None, "atheris input") == "failure":
            raise AssertionError("see the FAIL line above")

    corpus = tempfile.mkdtemp(prefix="dsnworker-atheris-")
    for index, data in enumerate(seeds):
        (Path(corpus) / f"seed-{index}").write_bytes(data)
    atheris.instrument_all()  # coverage of everything loaded (dsnworker, email, re's Python side)
    atheris.Setup([sys.argv[0], *libfuzzer_args, corpus], one)
    atheris.Fuzz()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--crashers", type=Path, default=None)
    parser.add_argument("--random", action="store_true", help="the random-mutation loop even with atheris")
    args, libfuzzer_args = parser.parse_known_args()
    logging.disable(logging.WARNING)  # parser warnings are expected here: failures are counted instead
    seeds = [p.read_bytes() for p in sorted(args.corpus.iterdir()) if p.is_file() and p.suffix == ".eml"]
    if not seeds:
        sys.exit(f"fuzz_parse: no .eml files in {args.corpus}")
    crashers = args.crashers or Path(tempfile.mkdtemp(prefix="dsnworker-crashers-"))
    crashers.mkdir(parents=True, exist_ok=True)
    fuzz = Fuzz(Analyser.with_rules(), crashers)
    try:
        import atheris  # type: ignore[import-not-found]
    except ImportError:
        atheris = None
    if atheris is None or args.random:
        if atheris is None:
            print("atheris is not installed (.venv/bin/pip install atheris; it needs a wheel for this Python or")
            print("clang with libFuzzer to build): running the random-mutation loop instead.")
        random_loop(fuzz, seeds, args.iterations, random.Random(args.seed))
    else:
        atheris_run(fuzz, seeds, atheris, libfuzzer_args)
    sys.exit(1 if fuzz.failures else 0)


if __name__ == "__main__":
    main()
