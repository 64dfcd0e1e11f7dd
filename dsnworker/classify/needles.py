"""Which of the rule packs' required strings a text contains, found in one pass.

Every text pattern carries the lower-case strings one of which any of its matches must contain
(`TextPattern.literals`); a rule whose strings are all absent cannot apply and is skipped without
running its regex. With a few hundred rules that is close to a thousand strings: one substring
search each costs ~40 us a report, an Aho-Corasick automaton over all of them (pyahocorasick, in C)
~2 us, whatever their number.
"""

from __future__ import annotations

from collections.abc import Iterable

import ahocorasick

from dsnworker.classify.patterns import TextPattern


class NeedleIndex:
    """The required strings of a set of text patterns, searched together."""

    def __init__(self, patterns: Iterable[TextPattern]) -> None:
        needles = {needle for pattern in patterns for needle in pattern.needles}
        self.needles = frozenset(needles)
        self._automaton: ahocorasick.Automaton | None = None
        if needles:
            automaton = ahocorasick.Automaton()
            for needle in needles:
                automaton.add_word(needle, needle)
            automaton.make_automaton()
            self._automaton = automaton

    def present(self, lowered: str) -> frozenset[str]:
        """The indexed strings that occur in `lowered` (a lower-cased text)."""
        if self._automaton is None or not lowered:
            return frozenset()
        return frozenset(needle for _end, needle in self._automaton.iter(lowered))
