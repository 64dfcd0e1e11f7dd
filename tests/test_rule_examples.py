"""Every `examples` entry of every shipped rule pack is a test: the rule's documentation is its spec.

Each example must be decided by its own rule (unless it names another in `expect.rule`) with the
expected reason, hard flag, action, status and captured details.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from dsnworker.classify.engine import Classifier
from dsnworker.classify.examples import example_mismatches
from dsnworker.classify.rules import Pack, Rule, default_rules_dir, load_packs

PACKS = load_packs(default_rules_dir())  # loaded (validated, compiled) once for the whole module
CLASSIFIER = Classifier(PACKS)
CASES = [
    pytest.param(pack, rule, number, example, id=f"{rule.id}#{number}")
    for pack in PACKS
    for rule in pack.rules
    for number, example in enumerate(rule.examples, 1)
]


def test_shipped_packs_have_examples() -> None:
    assert CASES, f"no rule examples found under {default_rules_dir()}"


@pytest.mark.parametrize(("pack", "rule", "number", "example"), CASES)
def test_rule_example(pack: Pack, rule: Rule, number: int, example: Mapping[str, Any]) -> None:
    wrong = example_mismatches(CLASSIFIER, pack, rule, example)
    assert not wrong, f"{pack.path}: example {number} of {rule.id} ({example.get('diagnostic')!r}): {wrong}"
