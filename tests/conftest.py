"""Shared test helpers: the dev corpus (read by relative path, never copied) and the core objects."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dsnworker.analyse import Analyser

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus" / "sisimai"
IN_CI = os.environ.get("CI", "").lower() == "true"


def corpus_dir() -> Path:
    """The labelled corpus folder; skips the test where it is absent (a user's clone), fails in CI."""
    if not (CORPUS / "expected.json").is_file():
        message = f"the dev corpus is not at {CORPUS} (it lives beside the repo in ../shared/)"
        if IN_CI:
            pytest.fail(message + "; under CI=true it must be there")
        pytest.skip(message)
    return CORPUS


def corpus_file(name: str) -> bytes:
    return (corpus_dir() / "emails" / name).read_bytes()


@pytest.fixture(scope="session")
def analyser() -> Analyser:
    return Analyser.with_rules()
