"""The needle index: which rule strings a diagnostic holds, in one pass, and the same decisions as
searching each string on its own."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dsnworker.classify.engine import Classifier, _text_patterns
from dsnworker.classify.needles import NeedleIndex
from dsnworker.classify.patterns import TextPattern
from dsnworker.classify.rules import load_packs
from dsnworker.parse import parse_message
from dsnworker.parse.address import address_info
from tests.conftest import corpus_dir

PATTERNS = [TextPattern(s, [s]) for s in ("mailbox (?:is )?full", "user unknown", "over ?quota", "blocked")]


def test_present_is_every_indexed_string_the_text_contains() -> None:
    index = NeedleIndex(PATTERNS)
    assert index.needles == {"mailbox ", "user unknown", "quota", "blocked"}
    assert index.present("552 mailbox full for user unknown") == {"mailbox ", "user unknown"}


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz :", max_size=80))
def test_present_agrees_with_a_substring_search_of_each_string(text: str) -> None:
    index = NeedleIndex(PATTERNS)
    assert index.present(text) == {needle for needle in index.needles if needle in text}


def test_an_index_of_nothing_finds_nothing() -> None:
    assert NeedleIndex([]).present("anything") == frozenset()


def test_every_shipped_pattern_has_its_strings_in_the_classifiers_index() -> None:
    classifier = Classifier(load_packs())
    for pattern in _text_patterns(classifier.packs):
        assert set(pattern.needles) <= classifier.needles.needles, pattern.source


def test_the_index_decides_as_the_string_by_string_search_does() -> None:
    packs = load_packs()
    indexed, searching = Classifier(packs), Classifier(packs)
    searching.needles = _ScanIndex(searching.needles.needles)
    emails = sorted((corpus_dir() / "emails").iterdir())
    assert emails
    for path in emails:
        message = parse_message(path.read_bytes())
        for report in message.reports:
            address = address_info(report.recipient, indexed.mailbox_syntax)
            assert indexed.decide(message, report, address) == searching.decide(message, report, address), path.name


@pytest.mark.parametrize("text", ["", "x"])
def test_short_texts(text: str) -> None:
    assert NeedleIndex(PATTERNS).present(text) == frozenset()


class _ScanIndex(NeedleIndex):
    """The same strings, found by one substring search each: the reference the automaton must equal."""

    def __init__(self, needles: frozenset[str]) -> None:
        self.needles = needles

    def present(self, lowered: str) -> frozenset[str]:
        return frozenset(needle for needle in self.needles if needle in lowered)
