"""Inputs a fuzz run found mishandled, each written again as a small synthetic message in
tests/fuzz_regressions/ (not a copy of a corpus file), with what it must give now."""

from __future__ import annotations

from pathlib import Path

import pytest

from dsnworker.analyser import Analyser

FOLDER = Path(__file__).parent / "fuzz_regressions"

# file -> (format, recipient, status, reason): before, each was `not_bounce`, without any error
EXPECTED = {
    "utf16-label-on-a-postfix-text.eml": ("postfix", "kim@example.jp", "5.1.1", "user_unknown"),
    "ebcdic-label-on-an-exim-text.eml": ("exim", "kim@example.jp", "5.1.1", "user_unknown"),
    "ebcdic-label-on-a-report-in-a-text-part.eml": ("rfc3464", "kim@example.jp", "5.2.2", "mailbox_full"),
}


def test_every_regression_file_has_its_expectation() -> None:
    assert sorted(p.name for p in FOLDER.glob("*.eml")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_fuzz_finding_is_read_as_the_bounce_it_is(name: str, analyser: Analyser) -> None:
    (outcome,) = analyser.analyse((FOLDER / name).read_bytes(), name)
    assert outcome.report is not None
    found = (outcome.message.format, outcome.report.recipient, outcome.verdict.status, outcome.verdict.reason)
    assert found == EXPECTED[name]
