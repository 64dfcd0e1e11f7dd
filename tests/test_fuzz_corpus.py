"""Fuzz properties over mutated corpus messages (../shared/corpus/sisimai/emails, read in place).

Whatever the mutation (byte flips, truncation, charset swaps, duplicated headers, damaged
boundaries, stacked), analysing never raises and every outcome is a bounce record, `not_bounce`
(format `none`, no parser raised) or `unparsed` (format `error`). A bounce stays a bounce under a
charset-only mutation. `bench/fuzz_parse.py` runs the same for hours; what it finds becomes a small
synthetic regression file here.
"""

from __future__ import annotations

import json
import random
from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dsnworker.analyser import Analyser
from dsnworker.model import Kind, Outcome
from dsnworker.output import outcome_record
from tests.conftest import corpus_dir
from tests.mutations import MUTATIONS, swap_charsets

ANALYSER = Analyser.with_rules()
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@cache
def emails() -> tuple[Path, ...]:
    return tuple(sorted((corpus_dir() / "emails").glob("*.eml")))


@cache
def kind_before(path: Path) -> str:
    return outcome_class(ANALYSER.analyse(path.read_bytes(), path.name))


def outcome_class(outcomes: list[Outcome]) -> str:
    """`bounce`, `not_bounce` or `unparsed`; the property fails on anything else."""
    assert outcomes, "no outcome at all"
    message = outcomes[0].message
    for outcome in outcomes:
        json.dumps(outcome_record(outcome), ensure_ascii=False).encode("utf-8")
        assert outcome.message is message
    if message.format == "error":
        return "unparsed"
    if message.kind is Kind.NOT_BOUNCE:
        assert message.format == "none" and not message.parser_errors and not message.truncated
        assert outcomes[0].verdict.reason == "not_bounce"
        return "not_bounce"
    assert outcomes[0].report is not None or message.kind is not Kind.BOUNCE or len(outcomes) == 1
    return "bounce"


def corpus_index() -> st.SearchStrategy[int]:
    return st.integers(min_value=0, max_value=10_000)


def pick(index: int) -> Path:
    files = emails()
    if not files:
        pytest.skip("no corpus emails")
    return files[index % len(files)]


@FUZZ
@given(corpus_index(), st.lists(st.sampled_from(sorted(MUTATIONS)), min_size=1, max_size=3), st.integers(0, 2**32))
def test_any_mutation_analyses_to_a_bounce_a_non_bounce_or_unparsed(index: int, names: list[str], seed: int) -> None:
    rng = random.Random(seed)
    data = pick(index).read_bytes()
    for name in names:
        data = MUTATIONS[name](data, rng)
    assert outcome_class(ANALYSER.analyse(data, "fuzz")) in ("bounce", "not_bounce", "unparsed")


@FUZZ
@given(corpus_index(), st.integers(0, 2**32))
def test_a_bounce_stays_a_bounce_whatever_its_charset_labels_say(index: int, seed: int) -> None:
    path = pick(index)
    before = kind_before(path)
    after = outcome_class(ANALYSER.analyse(swap_charsets(path.read_bytes(), random.Random(seed)), "fuzz"))
    if before == "bounce":
        assert after != "not_bounce", f"{path.name}: a bounce became not_bounce when its charsets were relabelled"


def test_every_corpus_bounce_stays_one_under_ascii_incompatible_labels() -> None:
    # the deterministic core of the property above, on every corpus bounce: UTF-16 and EBCDIC labels
    lost = []
    for path in emails():
        if kind_before(path) != "bounce":
            continue
        for label in (b"utf-16", b"cp037"):
            data = swap_charsets(path.read_bytes(), _Always(label))
            if outcome_class(ANALYSER.analyse(data, path.name)) == "not_bounce":
                lost.append(f"{path.name} ({label.decode()})")
    assert lost == []


class _Always(random.Random):
    """A Random whose choice is always one charset label (swap_charsets asks it for labels only)."""

    def __init__(self, label: bytes) -> None:
        super().__init__(0)
        self.label = label

    def choice(self, seq):  # type: ignore[override]
        return self.label
