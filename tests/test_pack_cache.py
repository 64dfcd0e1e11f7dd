"""The rule-pack cache: a second start reads the packs an earlier one loaded, and never a stale or
broken entry (dsnworker/classify/pack_cache.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from dsnworker.classify import rules
from dsnworker.classify.engine import Classifier
from dsnworker.classify.rules import default_rules_dir, load_packs
from dsnworker.parse import parse_message
from dsnworker.parse.address import address_info
from tests.conftest import corpus_dir


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("DSNWORKER_CACHE_DIR", str(folder))
    return folder


@pytest.fixture
def pack_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "rules"
    shutil.copytree(default_rules_dir(), folder)
    return folder


def _refuse_loading(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(path: Path) -> None:
        raise AssertionError(f"{path} was loaded from YAML, not read from the cache")

    monkeypatch.setattr(rules, "load_pack", refuse)


def test_a_second_load_reads_the_packs_from_the_cache(cache: Path, pack_folder: Path, monkeypatch) -> None:
    first = load_packs(pack_folder)
    assert len(list(cache.glob("packs-*.pickle"))) == 1
    _refuse_loading(monkeypatch)
    second = load_packs(pack_folder)
    assert [(p.provider, [r.id for r in p.rules]) for p in second] == [
        (p.provider, [r.id for r in p.rules]) for p in first
    ]


def test_a_changed_pack_is_loaded_again(cache: Path, pack_folder: Path) -> None:
    load_packs(pack_folder)
    generic = pack_folder / "generic.yaml"
    generic.write_text(generic.read_text().replace("id: generic.spam\n", "id: generic.spam-content\n"))
    assert "generic.spam-content" in {r.id for p in load_packs(pack_folder) for r in p.rules}


def test_a_broken_cache_entry_is_ignored_and_replaced(cache: Path, pack_folder: Path) -> None:
    load_packs(pack_folder)
    (entry,) = cache.glob("packs-*.pickle")
    entry.write_bytes(b"not a pickle")
    assert load_packs(pack_folder)
    assert entry.read_bytes() != b"not a pickle"


def test_an_empty_cache_setting_turns_the_cache_off(tmp_path: Path, pack_folder: Path, monkeypatch) -> None:
    monkeypatch.setenv("DSNWORKER_CACHE_DIR", "")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert load_packs(pack_folder)
    assert not (tmp_path / "xdg").exists()


def test_a_cache_folder_that_cannot_be_written_is_no_error(tmp_path: Path, pack_folder: Path, monkeypatch) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("DSNWORKER_CACHE_DIR", str(blocker / "cache"))  # below a file: mkdir fails
    assert load_packs(pack_folder)


def test_cached_packs_decide_every_corpus_report_as_freshly_loaded_ones(cache: Path, pack_folder: Path) -> None:
    fresh = Classifier(load_packs(pack_folder))
    cached = Classifier(load_packs(pack_folder))  # the second load is the cache's
    assert fresh.packs is not cached.packs
    for path in sorted((corpus_dir() / "emails").iterdir()):
        message = parse_message(path.read_bytes())
        for report in message.reports:
            address = address_info(report.recipient, fresh.mailbox_syntax)
            assert fresh.decide(message, report, address) == cached.decide(message, report, address), path.name
