"""The library API as a user's code calls it: only the public names, `dsnworker.analyse`,
`dsnworker.Outcome`, `dsnworker.DsnworkerError`, `dsnworker.__version__`.

(One test spies on the rule loading to count it; that is the only look inside.)
"""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import dsnworker
from tests import mailgen
from tests.test_cli import DOCUMENTED_KEYS, EXAMPLES, MAILDIR, USER_UNKNOWN
from tests.test_cli import dsnworker as command

ROOT = Path(__file__).resolve().parents[1]


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)


def test_the_public_names_are_all_there_and_nothing_else_is_promised() -> None:
    assert sorted(dsnworker.__all__) == ["DsnworkerError", "Outcome", "__version__", "analyse"]
    for name in dsnworker.__all__:
        assert getattr(dsnworker, name) is not None
    assert isinstance(dsnworker.__version__, str)


def test_each_outcome_is_the_record_parse_prints_for_the_same_message() -> None:
    paths = sorted(MAILDIR.iterdir())
    printed = command("parse", *paths)
    assert printed.returncode == 0, printed.stderr
    lines = [json.loads(line) for line in printed.stdout.splitlines()]
    records = []
    for path in paths:
        outcomes = dsnworker.analyse(path.read_bytes(), source=str(path))
        assert all(isinstance(outcome, dsnworker.Outcome) for outcome in outcomes)
        records += [outcome.to_dict() for outcome in outcomes]
    assert records == lines
    assert all(list(record)[: len(DOCUMENTED_KEYS)] == DOCUMENTED_KEYS for record in records)


def test_a_bounce_gives_one_outcome_per_recipient_and_anything_else_one_not_bounce() -> None:
    (bounce,) = dsnworker.analyse(USER_UNKNOWN.read_bytes())
    assert bounce.to_dict()["action"] == "suppress" and bounce.to_dict()["source"] == "<bytes>"
    (other,) = dsnworker.analyse(b"From: a@example.jp\r\nSubject: lunch?\r\n\r\nFriday?\r\n", source="note")
    assert (other.to_dict()["reason"], other.to_dict()["recipient"], other.to_dict()["source"]) == (
        "not_bounce",
        None,
        "note",
    )


def test_bytes_alike_are_taken_and_text_is_refused_with_what_to_do() -> None:
    data = USER_UNKNOWN.read_bytes()
    assert [o.to_dict() for o in dsnworker.analyse(bytearray(data))] == [o.to_dict() for o in dsnworker.analyse(data)]
    with pytest.raises(TypeError, match="takes the message as bytes, got str: read the file in binary mode"):
        dsnworker.analyse(data.decode())  # type: ignore[arg-type]


def test_extra_rules_apply_and_a_missing_folder_is_an_error_naming_it(tmp_path: Path) -> None:
    (tmp_path / "generic.yaml").write_text(
        "provider: generic\nrules:\n"
        "  - {id: generic.local-table, when: {diagnostic: 'local recipient table'}, then: {reason: has_moved}}\n"
    )
    (record,) = [o.to_dict() for o in dsnworker.analyse(USER_UNKNOWN.read_bytes(), rules=[tmp_path])]
    assert (record["rule"], record["reason"]) == ("generic.local-table", "has_moved")
    (alone,) = [o.to_dict() for o in dsnworker.analyse(USER_UNKNOWN.read_bytes(), rules=str(tmp_path))]
    assert alone["rule"] == "generic.local-table"  # one folder, not a sequence of characters
    with pytest.raises(dsnworker.DsnworkerError, match=r"missing-rules: rule folder does not exist"):
        dsnworker.analyse(USER_UNKNOWN.read_bytes(), rules=[tmp_path / "missing-rules"])


def test_the_rule_packs_are_loaded_once_per_set_of_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dsnworker import analyser  # the spy's only look inside: count the loads

    loads: list[tuple[Path, ...]] = []
    real = analyser.load_packs
    monkeypatch.setattr(analyser, "load_packs", lambda *dirs: loads.append(dirs) or real(*dirs))
    (tmp_path / "extra").mkdir()
    data = USER_UNKNOWN.read_bytes()
    monkeypatch.chdir(tmp_path)
    for spelling in (tmp_path / "extra", "extra", "./extra/", str(tmp_path / "extra")):
        dsnworker.analyse(data, rules=[spelling])
    assert len(loads) == 1
    (tmp_path / "other").mkdir()
    dsnworker.analyse(data, rules=["other"])
    assert len(loads) == 2


def test_verp_identifies_the_recipient_where_the_bounce_names_none() -> None:
    message = mailgen.anonymous_bounce("bounces+kim=example.jp@sender.example", 1)
    (plain,) = dsnworker.analyse(message)
    assert plain.to_dict()["recipient"] is None
    (found,) = dsnworker.analyse(message, verp="bounces+{local}={domain}@sender.example")
    assert {k: found.to_dict()[k] for k in ("recipient", "recipient_source", "action")} == {
        "recipient": "kim@example.jp",
        "recipient_source": "verp",
        "action": "suppress",
    }
    with pytest.raises(dsnworker.DsnworkerError, match=r"one \{local\} and one \{domain\}"):
        dsnworker.analyse(message, verp="bounces@sender.example")


def test_import_dsnworker_loads_nothing_else_of_it() -> None:
    result = _python("import sys, dsnworker; print(sorted(m for m in sys.modules if m.startswith('dsnworker')))")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['dsnworker']"


def test_analyse_stays_the_function_once_the_command_s_modules_are_loaded() -> None:
    """A submodule named like a package attribute replaces it on import: none may be called `analyse`."""
    code = (
        "import dsnworker.cli, dsnworker.worker.runner, dsnworker.explain, dsnworker; "
        "print(callable(dsnworker.analyse), type(dsnworker.analyse).__name__)"
    )
    result = _python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "function"]


def test_the_package_ships_its_type_hints_marker() -> None:
    assert (ROOT / "dsnworker" / "py.typed").is_file()
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert "py.typed" in package_data["dsnworker"]


def test_every_subpackage_is_listed_for_the_wheel() -> None:
    """setuptools is given the package list (pyproject.toml): one left out is missing from every
    installed copy, and `dsnworker` fails to start there while the checkout works."""
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for init in (ROOT / "dsnworker").rglob("__init__.py")
        if "__pycache__" not in init.parts
    }
    assert found - listed == set()


def test_the_readme_example_runs_and_prints_what_the_readme_shows() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Library", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    shown = section.split("```text\n", 1)[1].split("```", 1)[0]
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout == shown
    assert str(EXAMPLES.relative_to(ROOT)) in code
