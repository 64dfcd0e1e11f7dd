"""Where messages come from: files, folders (every file below, in name order), mbox files, stdin."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from dsnworker.inputs import is_mbox, iter_messages

MESSAGE_A = b"From: a@example.jp\nSubject: one\n\nfirst body\n"
MESSAGE_B = b"From: b@example.jp\nSubject: two\n\nsecond body\n"


def collect(paths: list[str]) -> tuple[list[tuple[str, bytes]], list[str]]:
    errors: list[str] = []
    messages = list(iter_messages(paths, lambda path, exc: errors.append(path)))
    return messages, errors


def mbox(*messages: bytes, ending: bytes = b"\n") -> bytes:
    joined = b"".join(b"From MAILER-DAEMON  Mon May 13 11:02:17 2024\n" + m + b"\n" for m in messages)
    return joined.replace(b"\n", ending)


def test_a_file_is_one_message(tmp_path: Path) -> None:
    (tmp_path / "a.eml").write_bytes(MESSAGE_A)
    assert collect([str(tmp_path / "a.eml")]) == ([(str(tmp_path / "a.eml"), MESSAGE_A)], [])


def test_a_folder_yields_every_file_below_it_in_name_order(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "2.eml").write_bytes(MESSAGE_B)
    (tmp_path / "a.eml").write_bytes(MESSAGE_A)
    (tmp_path / "c.eml").write_bytes(MESSAGE_A)
    sources = [source for source, _ in collect([str(tmp_path)])[0]]
    assert sources == [str(tmp_path / "a.eml"), str(tmp_path / "c.eml"), str(tmp_path / "b" / "2.eml")]


def test_hidden_files_and_folders_are_skipped(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "HEAD").write_bytes(b"ref: refs/heads/main\n")
    (tmp_path / ".DS_Store").write_bytes(b"\x00")
    (tmp_path / "a.eml").write_bytes(MESSAGE_A)
    assert [source for source, _ in collect([str(tmp_path)])[0]] == [str(tmp_path / "a.eml")]


def test_mbox_messages_are_numbered_from_one(tmp_path: Path) -> None:
    path = tmp_path / "inbox"
    path.write_bytes(mbox(MESSAGE_A, MESSAGE_B))
    messages, _ = collect([str(path)])
    assert [source for source, _ in messages] == [f"{path}#1", f"{path}#2"]
    assert messages[0][1].startswith(b"From: a@example.jp") and messages[1][1].startswith(b"From: b@example.jp")


@pytest.mark.parametrize("ending", [b"\r\n", b"\r"], ids=["crlf", "cr-only"])
def test_mbox_with_other_line_endings_splits_the_same(tmp_path: Path, ending: bytes) -> None:
    (tmp_path / "lf").write_bytes(mbox(MESSAGE_A, MESSAGE_B))
    (tmp_path / "other").write_bytes(mbox(MESSAGE_A, MESSAGE_B, ending=ending))
    lf = [data for _, data in collect([str(tmp_path / "lf")])[0]]
    assert [data for _, data in collect([str(tmp_path / "other")])[0]] == lf
    assert len(lf) == 2


def test_mbox_from_quoting_is_undone(tmp_path: Path) -> None:
    path = tmp_path / "inbox"
    path.write_bytes(mbox(b"Subject: q\n\nhello\n>From the start\n>>From deeper\n"))
    ((_, data),) = collect([str(path)])[0]
    assert b"\nFrom the start\n>From deeper\n" in data


def test_from_inside_a_paragraph_does_not_split(tmp_path: Path) -> None:
    path = tmp_path / "inbox"
    path.write_bytes(mbox(b"Subject: q\n\nhello\nFrom here on it is a new line, not a message.\n"))
    assert len(collect([str(path)])[0]) == 1


def test_eml_file_with_a_from_line_is_one_message() -> None:
    assert is_mbox("saved.eml", b"From MAILER-DAEMON  Mon May 13 2024\nSubject: x\n\n") is False


def test_file_starting_with_from_line_is_an_mbox() -> None:
    assert is_mbox("inbox", b"From MAILER-DAEMON  Mon May 13 2024\nSubject: x\n\n") is True


def test_missing_path_is_reported_and_skipped(tmp_path: Path) -> None:
    (tmp_path / "a.eml").write_bytes(MESSAGE_A)
    messages, errors = collect([str(tmp_path / "missing.eml"), str(tmp_path / "a.eml")])
    assert errors == [str(tmp_path / "missing.eml")]
    assert [source for source, _ in messages] == [str(tmp_path / "a.eml")]


def test_stdin_is_read_for_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(MESSAGE_A)))
    assert collect(["-"])[0] == [("-", MESSAGE_A)]


def test_empty_file_is_one_empty_message(tmp_path: Path) -> None:
    (tmp_path / "empty").write_bytes(b"")
    assert collect([str(tmp_path / "empty")])[0] == [(str(tmp_path / "empty"), b"")]
