"""Compiled text patterns for rules: case-insensitive, bounded input, proven safe when loaded.

Searching with the `regex` module's per-call timeout would cost ~3x per search on the hot path, so
instead every pattern is tried once, at load time, against hostile text under a timeout; a pattern
that backtracks badly is refused with the rule's name. Input is also cut to `MAX_TEXT` characters.
"""

from __future__ import annotations

import fnmatch
import time

import regex

MAX_TEXT = 2000
PROBE_LIMIT_S = 0.005
_PROBES = (
    "a" * MAX_TEXT,
    # a run that ends in a character the pattern cannot take: `(a+)+$` matches the run above at
    # once, but backtracks exponentially here
    "a" * (MAX_TEXT - 1) + "!",
    " " * MAX_TEXT,
    "a " * (MAX_TEXT // 2),
    "550 " * (MAX_TEXT // 4),
    "5.1.1." * (MAX_TEXT // 6),
    "x@" * (MAX_TEXT // 2),
    "<a.b@c.d> " * (MAX_TEXT // 10),
    "mailbox unavailable " * (MAX_TEXT // 20),
    "=" * MAX_TEXT,
    "1." * (MAX_TEXT // 2),
)


class UnsafePattern(ValueError):
    """A pattern that does not compile, or that takes too long on hostile text."""


def compile_pattern(source: str) -> regex.Pattern[str]:
    try:
        pattern = regex.compile(source, regex.IGNORECASE | regex.V0)
    except regex.error as exc:
        raise UnsafePattern(f"pattern {source!r} does not compile: {exc}") from exc
    for probe in _PROBES:
        started = time.perf_counter()
        try:
            pattern.search(probe, timeout=0.2)
        except TimeoutError as exc:
            raise UnsafePattern(f"pattern {source!r} backtracks without end on hostile text") from exc
        elapsed = time.perf_counter() - started
        if elapsed > PROBE_LIMIT_S:
            # one retry: a busy machine can stall any single call
            started = time.perf_counter()
            pattern.search(probe, timeout=0.2)
            if time.perf_counter() - started > PROBE_LIMIT_S:
                raise UnsafePattern(
                    f"pattern {source!r} takes {elapsed * 1000:.1f} ms on {MAX_TEXT} characters of hostile text"
                )
    return pattern


def compile_globs(globs: list[str]) -> regex.Pattern[str] | None:
    """Host globs (`*.protection.outlook.com`) as one anchored pattern."""
    if not globs:
        return None
    parts = [fnmatch.translate(g.lower()).replace("\\Z", "").replace("(?s:", "(?:") for g in globs]
    return regex.compile(r"^(?:" + "|".join(parts) + r")\.?$", regex.IGNORECASE)


def bounded(text: str | None) -> str:
    return text[:MAX_TEXT] if text else ""
