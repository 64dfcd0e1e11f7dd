#!/usr/bin/env python3
"""Which regexes of dsnworker/parse cost more than linear time on some run of text. Not a test.

Collects every compiled pattern of the parse modules (module-level ones, and literal patterns
passed to `re.*` inside functions), then times `finditer` over runs of one or two characters (after
a few prefixes such as '<' or a heading) at n and 4n characters. A pattern whose time grows more
than 8-fold is printed with the run that shows it: quadratic backtracking grows ~16-fold.

`finditer` tries every start position; a pattern the code only uses with `match` or `fullmatch` at
one position (a line start, after an address) may be printed without being a problem there. Those
printed on this branch and why each is fine: recipients._HEADER_LINE, _QUOTED_LINE, _LEAD, _NAMED,
_LABEL, _ALONE_AFTER, _SENDER_AFTER (match/fullmatch at a line start or right after an address,
within a line), rfc3464._DSN_FIELD_LINE and _FIELD_LINE (match at a line start),
text._TYPE_RE (fullmatch of the text before a ';'), exchange2007/office365._FORWARDED (match at the
subject's start), exchange2007's host-name fullmatch of one line, address._PLAIN (fullmatch of one
address): at one position each of these costs time linear in the text.

On this branch: 166 patterns scanned, those 12 printed (n = 2000; about 6 minutes here).

Usage (from the repository root, with the venv's Python):
    .venv/bin/python bench/regex_scan.py [--size 2000]
"""

from __future__ import annotations

import argparse
import ast
import importlib
import pkgutil
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import dsnworker.parse  # noqa: E402
import dsnworker.parse.formats  # noqa: E402

CHARS = list("- \t\na1.@<>\":=*\\_/;()[]'#+,|") + ["é", "\u3042"]
PAIRS = [a + b for a in "- \na@<.\"':(" for b in "- \na@<.\"':(" if a != b]
WORDS = ["to ", "host ", "<a@b.c>: ", "550 ", "5.1.1 ", "a@b ", "\n\n", "a\n\n", "\n>", "-- ", "\n\t", "recipient "]
PREFIXES = ["", "<", "a@", "<script"]


def patterns() -> dict[str, re.Pattern[str]]:
    found: dict[str, re.Pattern[str]] = {}
    for package in (dsnworker.parse, dsnworker.parse.formats):
        for info in pkgutil.iter_modules(package.__path__):
            module = importlib.import_module(f"{package.__name__}.{info.name}")
            short = info.name
            for name, value in vars(module).items():
                if isinstance(value, re.Pattern) and isinstance(value.pattern, str):
                    found[f"{short}.{name}"] = value
            for node in ast.walk(ast.parse(Path(module.__file__ or "").read_text())):
                literal = (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and getattr(node.func.value, "id", None) == "re"
                    and node.func.attr != "compile"
                    and node.args
                    and isinstance(node.args[0], ast.Constant)
                    and isinstance(node.args[0].value, str)
                )
                if literal:
                    found[f"{short}:{node.lineno}"] = re.compile(node.args[0].value)  # type: ignore[union-attr]
    return found


def cost(pattern: re.Pattern[str], text: str) -> float:
    start = time.perf_counter()
    for _ in pattern.finditer(text):
        pass
    return time.perf_counter() - start


def first_superlinear(pattern: re.Pattern[str], size: int) -> tuple[float, str, float] | None:
    """(growth, run, seconds at 4n) for the first run on which the pattern's cost grows over 8-fold."""
    for prefix in PREFIXES:
        for unit in CHARS + PAIRS + WORDS:
            repeat = size // len(unit) + 1
            small, large = prefix + unit * repeat, prefix + unit * (4 * repeat)
            if cost(pattern, large) / max(cost(pattern, small), 1e-6) <= 8:
                continue
            took = min(cost(pattern, large), cost(pattern, large))  # again: small timings are noisy
            ratio = took / max(min(cost(pattern, small), cost(pattern, small)), 1e-6)
            if ratio > 8 and took > 0.002:
                return ratio, prefix + unit, took
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=2000, help="n, in characters (and 4n)")
    args = parser.parse_args()
    found = patterns()
    printed = 0
    for name, pattern in sorted(found.items()):
        shown = first_superlinear(pattern, args.size)
        if shown is not None:
            printed += 1
            ratio, run, took = shown
            print(f"{name:36} x{ratio:5.1f} on {run!r:14} ({took * 1000:.0f} ms at 4n)  {pattern.pattern[:70]!r}")
    print(f"{len(found)} patterns scanned, {printed} grow faster than linear under finditer (n = {args.size})")


if __name__ == "__main__":
    main()
