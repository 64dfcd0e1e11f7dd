"""docs/reliability.md names the test that holds each row: every one it names must exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RECORD = ROOT / "docs" / "reliability.md"


def named_tests() -> list[tuple[str, str]]:
    """(test file, test name) for every `file::name` and every `::name` that follows one in a row."""
    found = []
    for row in RECORD.read_text(encoding="utf-8").splitlines():
        current = None
        for file, name in re.findall(r"`(tests/[\w/]+\.py)?(?:::(\w+))?`", row):
            current = file or current
            if current:
                found.append((current, name))
    return found


def test_every_test_the_record_names_exists():
    named = named_tests()
    assert len(named) > 30
    missing = []
    for file, name in named:
        path = ROOT / file
        if not path.exists() or (name and not re.search(rf"^def {name}\(", path.read_text(), re.MULTILINE)):
            missing.append(f"{file}::{name}")
    assert missing == []
