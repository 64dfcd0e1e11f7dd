"""Compiled text patterns for rules: case-insensitive, bounded input, every search bounded.

Three fences, because operators write packs and a probe cannot prove a pattern safe:
- input is cut to `MAX_TEXT` characters (host names to `MAX_HOST`);
- when loaded, a pattern whose shortest match is longer than any text it will see (`(?:a{1000}){1000}`,
  which the compiler would unroll into gigabytes) is refused, and every pattern that can grow is tried
  against hostile text under a timeout: one that backtracks badly is refused with the rule's name;
- at run time, every search of a pattern that can grow runs under `SEARCH_LIMIT_S` (the `regex`
  module's timeout; ~2 us a search, paid only by those). A pattern that runs out of time once is
  switched off for the life of the process, with a WARNING naming its rule: the match it was
  after is read as no match, and the worker goes on.
"""

from __future__ import annotations

import fnmatch
import re
import time
from collections.abc import Mapping
from collections.abc import Set as AbstractSet

import regex

from dsnworker.lazylog import LazyLogger

try:  # re's parser alone: ~4x faster than re.compile and all we need of it (private; Python 3.11+)
    from re import _parser as _RE_PARSER  # noqa: N812
except ImportError:  # a Python without it: compiling proves the same, only slower
    _RE_PARSER = None  # type: ignore[assignment]

log = LazyLogger(__name__)

MAX_TEXT = 2000
MAX_HOST = 255  # a DNS name's longest form
PROBE_LIMIT_S = 0.005
# 20x the probe's limit: a search that takes this long on MAX_TEXT characters backtracks, it is not
# a slow machine
SEARCH_LIMIT_S = 0.1
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
    "a1 " * (MAX_TEXT // 3) + "!",
)


_REPEAT = regex.compile(r"(?<!\\)(?:[+*]|\{\d*(?:,\d*)?\})")  # any repeat, `{20}` too
_METACHARACTERS = frozenset("()[]{}?*+|^$\\.")
_OWN_PROBES = 8  # the most characters of a pattern's own tried as runs (each probe costs load time)
_RUNS_PROBED = frozenset("a=")  # characters _PROBES already tries as runs


def _probes_for(source: str) -> tuple[str, ...]:
    """The fixed hostile texts, and a run of each character the pattern repeats: `(k|kk)+$`
    backtracks only on a run of `k` that ends in something else, `(.*,){20}z` only on commas."""
    own: list[str] = []
    for found in _REPEAT.finditer(source):
        end = found.start()
        if source[end - 1 : end] in (")", "]"):
            opening = "(" if source[end - 1] == ")" else "["
            start, depth = end - 1, 0
            while start >= 0:  # back to the group's opening (escapes are rare enough to ignore here)
                depth += source[start] in ")]"
                depth -= source[start] in opening
                if depth == 0:
                    break
                start -= 1
            repeated = source[max(start, 0) : end]
        else:
            repeated = source[end - 1 : end]
        own.extend(c for c in repeated if c not in _METACHARACTERS and not c.isspace() and c not in own)
    own = [char for char in own if char.lower() not in _RUNS_PROBED]
    return _PROBES + tuple(char * (MAX_TEXT - 1) + "\x00" for char in own[:_OWN_PROBES])


class UnsafePattern(ValueError):
    """A pattern that does not compile, or that takes too long on hostile text."""


# Only a repeat that can grow with the text (`+`, `*`, `{n,}`, `{n,m}`) can backtrack badly.
_GROWING = regex.compile(r"(?<!\\)(?:[+*]|\{\d*,\d*\})")


def checked_pattern(source: str) -> regex.Pattern[str] | None:
    """Refuse a pattern that does not compile or that backtracks badly; compile it if that took it.

    Returns the compiled pattern, or None when the pattern was proven valid and linear without
    compiling it with `regex` (whose compiler is slow, ~1 ms a pattern): one made of fixed-length
    pieces and `?` only can only be linear, and the standard `re` parser (~4x faster than
    `re.compile`) accepting it proves its syntax, as `regex` (V0) accepts everything `re` does. Such
    a pattern is compiled the first time it is needed.
    """
    _refuse_unmatchable(source)
    if not _GROWING.search(source):
        try:
            # re's parser alone proves the syntax (its code generation, which we would throw away,
            # only adds refusals of look-behinds that regex accepts)
            _re_groups(source)
            return None
        except (re.error, RecursionError):
            pass  # regex-only syntax (repeated group names, ...), or an error regex will name
    return compile_pattern(source)


def compile_pattern(source: str) -> regex.Pattern[str]:
    _refuse_unmatchable(source)
    try:
        pattern = regex.compile(source, regex.IGNORECASE | regex.V0)
    except regex.error as exc:
        raise UnsafePattern(f"pattern {source!r} does not compile: {exc}") from exc
    if not _GROWING.search(source):
        return pattern  # fixed-length pieces and `?` only: linear, nothing to probe
    for probe in _probes_for(source):
        # a short probe first: a pattern that is linear on it is linear (and fast) on the full one;
        # one that is not gets the full-length probe, whose time decides
        short = probe[: MAX_TEXT // 4 - 1] + probe[-1]  # keep the tail: it is what makes some backtrack
        if _probe_seconds(pattern, short) * 16 <= PROBE_LIMIT_S:
            continue
        elapsed = min(_probe_seconds(pattern, probe), _probe_seconds(pattern, probe))  # a busy machine stalls
        if elapsed > PROBE_LIMIT_S:
            raise UnsafePattern(
                f"pattern {source!r} takes {elapsed * 1000:.1f} ms on {MAX_TEXT} characters of hostile text"
            )
    return pattern


def _refuse_unmatchable(source: str) -> None:
    """Refuse a pattern whose shortest match is longer than any text it is given.

    Such a pattern can never match, so it is a mistake; and counted repeats nested like
    `(?:(?:a{1000}){1000}){100}` are what makes the regex compiler unroll a pattern into gigabytes.
    Read with re's parser (no compiling); a pattern only regex reads is judged by the product of its
    counts, which is never below its shortest match.
    """
    try:
        if _RE_PARSER is None:
            raise re.error("no parser")
        shortest = _RE_PARSER.parse(source, re.IGNORECASE).getwidth()[0]
    except (re.error, RecursionError, OverflowError):
        shortest = 1
        for count in regex.findall(r"(?<!\\)\{(\d+)", source):
            shortest *= max(int(count), 1)
            if shortest > MAX_TEXT:
                break
    if shortest > MAX_TEXT:
        raise UnsafePattern(
            f"pattern {source!r} needs at least {shortest} characters to match, and texts are cut to {MAX_TEXT}"
        )


def _compiled_if_growing(alternative: str) -> regex.Pattern[str] | None:
    """The alternative compiled when it can grow with the text (it will be probed); else None once
    its syntax is proven (re's parser, ~4x faster than compiling it)."""
    if not grows(alternative):
        try:
            _re_groups(alternative)
            return None
        except (re.error, RecursionError):
            pass  # regex-only syntax, or an error regex will name
    return regex.compile(alternative, regex.IGNORECASE | regex.V0)


def grows(source: str) -> bool:
    """Whether the pattern has a repeat that can grow with the text (only such can backtrack badly)."""
    return _GROWING.search(source) is not None


def compile_alternatives(source: str, alternatives: list[str]) -> list[regex.Pattern[str] | None]:
    """A growing pattern compiled and probed alternative by alternative, as `TextPattern` searches it.

    The pieces compiled here are the ones searches use: the whole is never compiled to be probed
    and then each piece again when first searched (~0.2 ms a piece). A search costs at most the
    sum of its pieces' searches, so a probe's time is that sum. Fixed-length pieces are linear: not
    probed, and not compiled either (None: compiled when first searched) once re's parser has
    accepted them, as `checked_pattern` does. Refusals name the whole pattern, like
    `compile_pattern`'s.
    """
    for alternative in alternatives:
        _refuse_unmatchable(alternative)
    try:
        compiled = [_compiled_if_growing(a) for a in alternatives]
    except regex.error as exc:
        compile_pattern(source)  # the whole's own error, if it has one
        raise UnsafePattern(f"pattern {source!r} does not compile alternative by alternative: {exc}") from exc
    growing = [pattern for pattern in compiled if pattern is not None]
    for probe in _probes_for(source):
        short = probe[: MAX_TEXT // 4 - 1] + probe[-1]  # as in compile_pattern
        if sum(_probe_seconds(pattern, short) for pattern in growing) * 16 <= PROBE_LIMIT_S:
            continue
        elapsed = min(sum(_probe_seconds(pattern, probe) for pattern in growing) for _ in range(2))
        if elapsed > PROBE_LIMIT_S:
            raise UnsafePattern(
                f"pattern {source!r} takes {elapsed * 1000:.1f} ms on {MAX_TEXT} characters of hostile text"
            )
    return compiled


def _probe_seconds(pattern: regex.Pattern[str], probe: str) -> float:
    started = time.perf_counter()
    try:
        pattern.search(probe, timeout=0.2)
    except TimeoutError as exc:
        raise UnsafePattern(f"pattern {pattern.pattern!r} backtracks without end on hostile text") from exc
    return time.perf_counter() - started


def compile_globs(globs: list[str]) -> regex.Pattern[str] | None:
    """Host globs (`*.protection.outlook.com`) as one anchored pattern."""
    if not globs:
        return None
    parts = [fnmatch.translate(g.lower()).replace("\\Z", "").replace("(?s:", "(?:") for g in globs]
    return regex.compile(r"^(?:" + "|".join(parts) + r")\.?$", regex.IGNORECASE)


def bounded(text: str | None) -> str:
    return text[:MAX_TEXT] if text else ""


_ESCAPED_LITERALS = frozenset(".-/:@[](){}*+?|^$\\'\"#<>=,;!&%~_` ")


class TextPattern:
    """A compiled rule pattern with cheap pre-checks: most texts are refused by substring tests.

    Each top-level alternative has the lower-case strings one of which every match of it contains
    (`required_literal`); only the alternatives whose strings occur in the text are searched, each
    with its own small regex (compiled when first needed). The result is the one the whole pattern
    would give: the leftmost match, the first alternative at that position.
    """

    __slots__ = (
        "source",
        "owner",
        "literals",
        "_regex",
        "_sources",
        "_compiled",
        "_needles",
        "_always",
        "_order",
        "_growing",
        "_off",
    )

    def __init__(
        self,
        source: str,
        alternatives: list[str],
        compiled: regex.Pattern[str] | None = None,
        compiled_alternatives: list[regex.Pattern[str] | None] | None = None,
        owner: str = "",
    ) -> None:
        self.source = source  # the whole pattern, proven valid and safe when loaded
        self.owner = owner  # where it was written (pack file, rule id, key), for the log
        self._regex = compiled
        self._sources = alternatives
        # which searches need a time limit: only a repeat that grows with the text can backtrack
        self._growing = (grows(source), *(grows(a) for a in alternatives))
        self._off = False  # ran out of time once: never searched again in this process
        self._order: dict[str, int] | None = None  # see group_order
        self._compiled: list[regex.Pattern[str] | None] = (
            list(compiled_alternatives) if compiled_alternatives is not None else [None] * len(alternatives)
        )
        found = [required_literal(a) for a in alternatives]
        self._always = tuple(i for i, options in enumerate(found) if options is None)  # searched every time
        needles: dict[str, list[int]] = {}  # required string -> the alternatives it stands for
        for index, options in enumerate(found):
            for option in options or ():
                needles.setdefault(option, []).append(index)
        self._needles = needles
        # all of them: a text with none cannot match (None: some alternative requires nothing)
        self.literals: tuple[str, ...] | None = None if self._always else tuple(needles)

    @property
    def pattern(self) -> str:
        return self.source

    @property
    def needles(self) -> tuple[str, ...]:
        """Every required string of every alternative (for `NeedleIndex`)."""
        return tuple(self._needles)

    @property
    def regex(self) -> regex.Pattern[str]:
        """The whole pattern compiled (on first use, when loading did not need to)."""
        if self._regex is None:
            self._regex = regex.compile(self.source, regex.IGNORECASE | regex.V0)
        return self._regex

    def group_order(self) -> Mapping[str, int]:
        """Named group -> a number that sorts the names as the whole pattern places them (its groupindex).

        Read from the alternatives when they are all compiled, else from re's parse of the pattern:
        the whole need not be compiled for it.
        """
        if self._order is None:
            if self._regex is not None:
                return self.regex.groupindex  # type: ignore[return-value]
            if None not in self._compiled:
                order: dict[str, int] = {}
                for compiled in self._compiled:
                    for name, _ in sorted(compiled.groupindex.items(), key=lambda item: item[1]):  # type: ignore[union-attr]
                        order.setdefault(name, len(order) + 1)
                self._order = order
            else:
                numbers = _group_numbers(self.source)
                self._order = numbers if numbers is not None else dict(self.regex.groupindex)
        return self._order

    def search(self, text: str, lowered: str, present: AbstractSet[str] | None = None) -> regex.Match[str] | None:
        """The match in `text`; `lowered` is it lower-cased. `present`, when given, holds the required
        strings that occur in it (a `NeedleIndex` over this pattern's needles found them)."""
        if present is not None:
            if self.literals is not None and present.isdisjoint(self.literals):
                return None
        # the usual answer, "none of the strings occurs", from a loop that runs in C
        elif self.literals is not None and not any(map(lowered.__contains__, self.literals)):
            return None
        if self._off:
            return None
        if len(self._sources) == 1:
            return self._search(self.regex, text, self._growing[0])
        occurring = present if present is not None else lowered
        found = [needle for needle in self._needles if needle in occurring]
        candidates = sorted({i for needle in found for i in self._needles[needle]}.union(self._always))
        best: regex.Match[str] | None = None
        for index in candidates:
            compiled = self._compiled[index]
            if compiled is None:
                # a piece of a pattern proved safe is safe: no probing again
                compiled = self._compiled[index] = regex.compile(self._sources[index], regex.IGNORECASE | regex.V0)
            found = self._search(compiled, text, self._growing[index + 1])
            if found is not None and (best is None or found.start() < best.start()):
                best = found
        return best

    def _search(self, compiled: regex.Pattern[str], text: str, growing: bool) -> regex.Match[str] | None:
        if not growing:
            return compiled.search(text)  # fixed-length pieces: linear, no clock needed
        try:
            return compiled.search(text, timeout=SEARCH_LIMIT_S)
        except TimeoutError:
            self._off = True
            log.warning(
                "%s: pattern %r ran out of time (%.1f s) on a %d-character text; it is off until the "
                "worker restarts (read as no match). Rewrite it without nested or adjacent repeats.",
                self.owner or "rule pattern",
                self.source,
                SEARCH_LIMIT_S,
                len(text),
            )
            return None


def _group_numbers(source: str) -> dict[str, int] | None:
    """Named group -> number, from re's parser: a pattern it accepts (the fixed-length ones, see
    `checked_pattern`) has its groups numbered as regex numbers them, by opening parenthesis.
    None when re does not accept the pattern."""
    try:
        return _re_groups(source)
    except (re.error, RecursionError):
        return None


def _re_groups(source: str) -> dict[str, int]:
    """Named group -> number as `re` reads the pattern; raises re.error where `re` refuses it."""
    if _RE_PARSER is not None:
        return dict(_RE_PARSER.parse(source, re.IGNORECASE).state.groupdict)
    return dict(re.compile(source, re.IGNORECASE).groupindex)


def split_alternatives(source: str) -> list[str]:
    """The top-level alternatives of a pattern (`a|b(c|d)` -> [`a`, `b(c|d)`])."""
    parts, depth, start, index, in_class = [], 0, 0, 0, False
    while index < len(source):
        char = source[index]
        if char == "\\":
            index += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth == 0:
            parts.append(source[start:index])
            start = index + 1
        index += 1
    parts.append(source[start:])
    return parts


def required_literal(alternative: str) -> tuple[str, ...] | None:
    """Lower-case strings one of which any match of the alternative must contain, or None.

    Prefers the longest run of plain characters outside groups; else a mandatory group made only
    of plain alternatives (`(?:account|mailbox)...`). None when nothing of three or more characters
    (two for Japanese) is certain: the pre-check would not pay.
    """
    runs: list[str] = []
    groups: list[tuple[str, ...]] = []
    run: list[str] = []
    index = 0

    def close() -> None:
        if run:
            runs.append("".join(run))
            run.clear()

    while index < len(alternative):
        char = alternative[index]
        if char == "\\":
            escaped = alternative[index + 1 : index + 2]
            index += 2
            if escaped and escaped in _ESCAPED_LITERALS:
                run.append(escaped)
            else:
                close()
            continue
        if char in "([":
            close()
            end = _skip_group(alternative, index)
            optional = alternative[end : end + 1] in ("?", "*") or alternative[end : end + 3] in ("{0,", "{0}")
            if char == "(" and not optional:
                body = alternative[index + 1 : end - 1]
                options = _plain_options(body) or _group_literals(body)
                if options:
                    groups.append(options)
            index = end
            continue
        if char in "?*":
            if run:
                run.pop()  # the character before was optional
            close()
        elif char == "{":
            end = alternative.find("}", index)
            minimum = alternative[index + 1 : end].split(",")[0].strip() if end > 0 else ""
            if run and minimum in ("", "0"):
                run.pop()
            close()
            index = end if end > 0 else index
        elif char == "+" or char in ".^$|)":
            close()
        elif char.isascii() or char.lower() == char.upper():
            run.append(char.lower())
        else:
            close()  # a cased non-ASCII letter: lower() may not agree with the engine's case folding
        index += 1
    close()
    best = max(runs, key=len, default="")
    if _long_enough(best):
        return (best,)
    usable = [g for g in groups if all(_long_enough(o) for o in g)]
    return min(usable, key=len) if usable else None


def _group_literals(body: str) -> tuple[str, ...] | None:
    """For a group that is not plain text (`?:OFR|LPN(?:AAA)?|OUK`): the required strings of each of
    its alternatives, together; None when one alternative requires nothing (or for a look-around)."""
    named = regex.match(r"\?P<\w+>", body)
    if body.startswith("?:") or named:
        body = body[named.end() if named else 2 :]
    elif body.startswith("?"):
        return None  # look-arounds and inline flags match no text of their own
    found: list[str] = []
    for option in split_alternatives(body):
        needles = required_literal(option) if option else None
        if needles is None:
            return None
        found.extend(n for n in needles if n not in found)
    return tuple(found) or None


def _long_enough(text: str) -> bool:
    text = text.strip()
    if not text.isascii() or not text.isalnum():
        return len(text) >= 2  # two Japanese characters, or "(s" / "[t", are rare enough
    return len(text) >= 3


def _plain_options(body: str) -> tuple[str, ...] | None:
    """The options of a group like `?:a|b|c` when each is plain text; else None."""
    named = regex.match(r"\?P<\w+>", body)
    if body.startswith("?:") or named:
        body = body[named.end() if named else 2 :]
    elif body.startswith("?"):
        return None  # look-arounds, inline flags, named groups: not plain
    options = []
    for option in split_alternatives(body):
        if not option or any(c in option for c in "\\()[]{}?*+.^$|"):
            return None
        if not all(c.isascii() or c.lower() == c.upper() for c in option):
            return None
        options.append(option.lower())
    return tuple(options)


def _skip_group(source: str, index: int) -> int:
    """The index just past the group or class that starts at `index`."""
    if source[index] == "[":
        index += 1
        if index < len(source) and source[index] == "]":
            index += 1
        while index < len(source) and source[index] != "]":
            index += 2 if source[index] == "\\" else 1
        return index + 1
    depth = 0
    while index < len(source):
        char = source[index]
        if char == "\\":
            index += 2
            continue
        if char == "[":
            index = _skip_group(source, index)
            continue
        depth += char == "("
        depth -= char == ")"
        index += 1
        if depth == 0:
            return index
    return index
