"""The real `dsnworker` command, run as a user runs it: a subprocess, `python -m dsnworker`.

Inputs are the bundled `examples/` (hand-made bounces, one of each kind) and messages written here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dsnworker.output import CONTRACT_KEYS

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
MAILDIR = EXAMPLES / "maildir" / "cur"  # the example mailbox of `dsnworker poll -c demo.toml`
PERSONAL = MAILDIR / "personal-mail.eml"
USER_UNKNOWN = MAILDIR / "postfix-user-unknown.eml"
QUOTED = MAILDIR / "microsoft365-quoted-local-part.eml"
SPAMHAUS = MAILDIR / "microsoft-spamhaus-listed-ip.eml"


# ../shared/docs/output-contract.md: the keys every record has, in its order
DOCUMENTED_KEYS = [
    "source",
    "recipient",
    "original_recipient",
    "status",
    "reply_code",
    "diagnostic",
    "remote_mta",
    "reporting_mta",
    "reason",
    "hard",
    "action",
    "provider",
    "rule",
]


def dsnworker(
    *args: str | Path, stdin: bytes | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dsnworker", *map(str, args)],
        input=stdin.decode("utf-8") if stdin is not None else None,
        capture_output=True,
        text=True,
        encoding="utf-8",
        cwd=ROOT,
        timeout=120,
        env={**os.environ, **env} if env else None,
    )


def records(result: subprocess.CompletedProcess[str]) -> list[dict]:
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_parse_one_file_gives_one_line_per_recipient() -> None:
    result = dsnworker("parse", USER_UNKNOWN)
    assert result.returncode == 0, result.stderr
    (record,) = records(result)
    assert (record["source"], record["recipient"], record["reason"], record["action"]) == (
        str(USER_UNKNOWN),
        "ichiro.suzuki@example.jp",
        "user_unknown",
        "suppress",
    )


def test_every_line_has_every_contract_key() -> None:
    result = dsnworker("parse", EXAMPLES)
    assert result.returncode == 0, result.stderr
    lines = records(result)
    assert lines
    for record in lines:
        missing = [key for key in CONTRACT_KEYS if key not in record]
        assert not missing, f"{record['source']}: missing {missing}"


def test_contract_key_list_matches_the_documented_contract() -> None:
    assert set(CONTRACT_KEYS) == set(DOCUMENTED_KEYS)


def test_parse_a_folder_reads_every_file_below_it_in_name_order() -> None:
    result = dsnworker("parse", EXAMPLES)
    sources = [r["source"] for r in records(result)]
    files = sorted({s.split("#")[0] for s in sources})
    assert files == sorted(str(p) for p in EXAMPLES.rglob("*") if p.is_file())
    assert sources == sorted(sources, key=lambda s: (s.split("#")[0], int(s.split("#")[1]) if "#" in s else 0))


def test_parse_several_paths_keeps_their_order() -> None:
    result = dsnworker("parse", USER_UNKNOWN, PERSONAL)
    assert [r["source"] for r in records(result)] == [str(USER_UNKNOWN), str(PERSONAL)]


def test_mbox_messages_are_numbered_from_one(tmp_path: Path) -> None:
    mbox = tmp_path / "three.mbox"
    parts = [USER_UNKNOWN, PERSONAL, QUOTED]
    mbox.write_bytes(
        b"".join(b"From MAILER-DAEMON  Mon May 13 11:02:17 2024\n" + p.read_bytes() + b"\n" for p in parts)
    )
    result = dsnworker("parse", mbox)
    assert result.returncode == 0, result.stderr
    lines = records(result)
    assert [r["source"] for r in lines] == [f"{mbox}#1", f"{mbox}#2", f"{mbox}#3"]
    assert [r["reason"] for r in lines][:2] == ["user_unknown", "not_bounce"]


def test_mbox_from_quoting_is_undone(tmp_path: Path) -> None:
    mbox = tmp_path / "quoted.mbox"
    body = PERSONAL.read_bytes().replace(b"Best regards,", b">From the shop's point of view,")
    mbox.write_bytes(b"From kenji@example.jp  Mon May 13 12:05:09 2024\n" + body + b"\n")
    (record,) = records(dsnworker("parse", mbox))
    assert record["source"] == f"{mbox}#1"


def test_stdin_dash_is_read() -> None:
    result = dsnworker("parse", "-", stdin=USER_UNKNOWN.read_bytes())
    assert result.returncode == 0, result.stderr
    (record,) = records(result)
    assert (record["source"], record["reason"]) == ("-", "user_unknown")


def test_stdin_mbox_messages_are_numbered() -> None:
    result = dsnworker("parse", "-", stdin=(EXAMPLES / "bounces.mbox").read_bytes())
    assert [r["source"] for r in records(result)] == ["-#1", "-#2"]


def test_table_format_has_a_header_and_a_row_per_recipient() -> None:
    result = dsnworker("parse", "--format", "table", EXAMPLES)
    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split()[:4] == ["SOURCE", "RECIPIENT", "STATUS", "REASON"]
    assert len(rows) == len(records(dsnworker("parse", EXAMPLES)))
    assert any("user_unknown" in row and "suppress" in row for row in rows)


def test_table_keeps_the_file_name_whole_and_cuts_the_folder_from_the_left(tmp_path: Path) -> None:
    folder = tmp_path / "a-rather-long-folder-name" / "bounces-of-2026"
    folder.mkdir(parents=True)
    (folder / "0042-user-unknown.eml").write_bytes(USER_UNKNOWN.read_bytes())
    (folder / "a-file-name-longer-than-the-column.eml").write_bytes(USER_UNKNOWN.read_bytes())
    _, *rows = dsnworker("parse", "--format", "table", folder).stdout.splitlines()
    # the column is 28 wide: the folder gives way first, the name never
    assert sorted(row.split()[0] for row in rows) == [
        "…-2026/0042-user-unknown.eml",
        "…/a-file-name-longer-than-the-column.eml",
    ]


def test_non_bounce_is_exactly_one_not_bounce_line_without_recipient() -> None:
    (record,) = records(dsnworker("parse", PERSONAL))
    assert (record["reason"], record["recipient"], record["action"], record["hard"]) == (
        "not_bounce",
        None,
        "ignore",
        False,
    )


@pytest.mark.parametrize(
    "command", [("parse", EXAMPLES), ("parse", "--format", "table", EXAMPLES), ("explain", QUOTED)]
)
def test_stderr_is_empty(command: tuple[str | Path, ...]) -> None:
    result = dsnworker(*command)
    assert result.returncode == 0
    assert result.stderr == ""


def test_quoted_local_part_example_says_how_to_fix_the_address() -> None:
    (record,) = records(dsnworker("parse", QUOTED))
    assert record["recipient"] == '"taro.yamada"@outlook.jp'
    assert record["quoted_local_part"] is True
    assert record["suggested_address"] == "taro.yamada@outlook.jp"
    assert record["action"] != "suppress"


def test_spamhaus_example_blames_the_sender_not_the_recipient() -> None:
    (record,) = records(dsnworker("parse", SPAMHAUS))
    assert (record["reason"], record["action"], record["hard"]) == ("blocked", "sender_fix", False)
    assert (record["blocklist"], record["listed_ip"]) == ("spamhaus", "192.0.2.25")


def test_unreadable_path_is_reported_and_the_rest_still_parsed(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-file.eml"
    result = dsnworker("parse", missing, USER_UNKNOWN)
    assert result.returncode == 1
    assert f"cannot read {missing}" in result.stderr
    assert [r["source"] for r in records(result)] == [str(USER_UNKNOWN)]


def test_all_paths_readable_exits_zero() -> None:
    assert dsnworker("parse", USER_UNKNOWN).returncode == 0


def test_rules_check_passes_on_the_shipped_packs() -> None:
    result = dsnworker("rules", "check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "all examples pass" in result.stdout


def test_rules_check_names_file_and_rule_of_a_broken_extra_pack(tmp_path: Path) -> None:
    pack = tmp_path / "local.yaml"
    pack.write_text("provider: local\nrules:\n  - {id: local.typo, when: {}, then: {reason: userunknown}}\n")
    result = dsnworker("rules", "check", tmp_path)
    assert result.returncode != 0
    assert str(pack) in result.stderr and "local.typo" in result.stderr


def test_rules_check_fails_on_a_wrong_example(tmp_path: Path) -> None:
    (tmp_path / "local.yaml").write_text(
        "provider: local\nrecognise: {domains: [local.example]}\nrules:\n"
        "  - id: local.full\n    when: {diagnostic: 'box is full'}\n    then: {reason: mailbox_full}\n"
        "    examples:\n      - {diagnostic: '552 box is full', expect: {reason: user_unknown}}\n"
    )
    result = dsnworker("rules", "check", tmp_path)
    assert result.returncode == 1
    assert "local.full" in result.stdout and "expected 'user_unknown'" in result.stdout


def test_parse_with_an_extra_rules_folder_uses_its_rule(tmp_path: Path) -> None:
    (tmp_path / "generic.yaml").write_text(
        "provider: generic\nrules:\n"
        "  - {id: generic.local-table, when: {diagnostic: 'local recipient table'}, then: {reason: has_moved}}\n"
    )
    (record,) = records(dsnworker("parse", "--rules", tmp_path, USER_UNKNOWN))
    assert (record["rule"], record["reason"]) == ("generic.local-table", "has_moved")


def test_explain_names_format_provider_rule_and_evidence() -> None:
    result = dsnworker("explain", QUOTED)
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert "format:" in text
    assert "providers:          microsoft" in text
    assert "decided by:         microsoft." in text
    assert "evidence:" in text
    assert "taro.yamada@outlook.jp" in text


def test_explain_of_an_unreadable_file_fails_on_stderr(tmp_path: Path) -> None:
    result = dsnworker("explain", tmp_path / "missing.eml")
    assert result.returncode != 0
    assert "cannot read" in result.stderr


def test_no_command_prints_help_and_fails() -> None:
    result = dsnworker()
    assert result.returncode == 2
    assert "parse" in result.stderr


def test_json_lines_are_utf8_whatever_the_locale() -> None:
    result = dsnworker("parse", MAILDIR / "out-of-office.eml", env={"PYTHONIOENCODING": "latin-1"})
    assert result.returncode == 0, result.stderr
    (record,) = records(result)
    assert record["diagnostic"].startswith("自動応答")


@pytest.mark.parametrize(
    "command", [("parse", "--format", "table", EXAMPLES), ("explain", MAILDIR / "out-of-office.eml")]
)
def test_text_for_people_prints_on_an_ascii_terminal(command: tuple[str | Path, ...]) -> None:
    result = dsnworker(*command, env={"PYTHONIOENCODING": "ascii"})
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def test_output_cut_short_by_a_closed_pipe_is_quiet(tmp_path: Path) -> None:
    # far more output than a pipe buffers, so the reader's early close hits dsnworker mid-run
    big = tmp_path / "big.mbox"
    big.write_bytes(
        b"".join(b"From kenji@example.jp  Mon May 13 2024\n" + PERSONAL.read_bytes() + b"\n" for _ in range(3000))
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "dsnworker", "parse", str(big)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.readline()
    process.stdout.close()
    stderr = process.stderr.read()
    assert process.wait(timeout=60) == 0
    assert stderr == b""


def test_explain_of_an_mbox_explains_every_message() -> None:
    result = dsnworker("explain", EXAMPLES / "bounces.mbox")
    assert result.returncode == 0, result.stderr
    headings = [line for line in result.stdout.splitlines() if line and not line.startswith(" ")]
    assert headings == [f"{EXAMPLES / 'bounces.mbox'}#1", f"{EXAMPLES / 'bounces.mbox'}#2"]
    assert "decision:           vacation" in result.stdout


def test_stderr_stays_clean_when_flanker_builds_its_parser_tables(tmp_path: Path) -> None:
    # flanker's parser generator warns "Symbol ... is unreachable" when it has no cached tables
    # (a fresh or read-only install): run with a copy of flanker that has none
    import shutil

    import flanker

    shutil.copytree(
        Path(flanker.__file__).parent, tmp_path / "flanker", ignore=shutil.ignore_patterns("*parsetab*", "__pycache__")
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    result = dsnworker("parse", USER_UNKNOWN, env=env)
    assert result.returncode == 0
    assert result.stderr == ""
    for table in (tmp_path / "flanker").rglob("*parsetab*"):
        table.unlink()
    control = subprocess.run(
        [sys.executable, "-c", "import flanker.addresslib.address"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert "is unreachable" in control.stderr, "flanker did not warn here: this test no longer tests anything"


def test_version_prints_the_package_version() -> None:
    from importlib.metadata import version

    import dsnworker as package

    result = dsnworker("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"dsnworker {package.__version__}\n"
    assert package.__version__ == version("dsnworker")  # the one the installed metadata says
