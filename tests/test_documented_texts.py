"""The rule packs against the refusal texts providers and MTAs document (../shared/docs/provider-texts/).

Every table row with a literal text and a one-reason verdict is a case (see tests/documented.py).
The share of rows the packs decide as documented must not fall below its floor; raise the floor
when rules improve, never lower it to let a change pass. `python -m tests.documented --verbose`
lists the rows decided otherwise.
"""

from __future__ import annotations

import pytest

from dsnworker.classify.engine import Classifier
from dsnworker.classify.rules import load_packs
from tests.conftest import IN_CI
from tests.documented import DOCS, cases, verdict_of

# Share of documented rows decided as their verdict says (measured when last raised: reason 95.8, hard
# 99.5, action 96.7).
FLOORS = {"reason": 95.0, "hard": 99.0, "action": 96.0}


@pytest.fixture(scope="module")
def agreement() -> dict[str, float]:
    if not DOCS.is_dir():
        message = f"the documented provider texts are not at {DOCS} (they live beside the repo in ../shared/)"
        if IN_CI:
            pytest.fail(message + "; under CI=true they must be there")
        pytest.skip(message)
    classifier = Classifier(load_packs())
    rows = cases()
    assert len(rows) > 500, f"only {len(rows)} documented rows were read: has the table format changed?"
    right = {"reason": 0, "hard": 0, "action": 0}
    judged = {"reason": len(rows), "hard": 0, "action": 0}
    for case in rows:
        reason, hard, action, _rule = verdict_of(classifier, case)
        right["reason"] += reason == case.reason
        if case.hard is not None:
            judged["hard"] += 1
            right["hard"] += hard == case.hard
        if case.action is not None:
            judged["action"] += 1
            right["action"] += action == case.action
    return {key: 100.0 * right[key] / judged[key] for key in right}


@pytest.mark.parametrize(("field", "floor"), FLOORS.items(), ids=list(FLOORS))
def test_documented_texts_are_decided_as_documented(agreement: dict[str, float], field: str, floor: float) -> None:
    assert agreement[field] >= floor, f"{field} agreement fell to {agreement[field]:.1f}% (floor {floor})"
