"""What `run` and `poll` check before reading mail: the state and the file sinks can be written.

Each test runs `dsnworker poll` as a process, on a maildir of one bounce, the way an operator would.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests import mailgen, processes


def maildir(root: Path) -> Path:
    for sub in ("cur", "new", "tmp"):
        (root / "mail" / sub).mkdir(parents=True, exist_ok=True)
    (root / "mail" / "new" / "1700000000.M1P1.test").write_bytes(mailgen.dsn("gone@example.jp", serial=1))
    return root / "mail"


def config(folder: Path, mail: Path, state: str = "state.sqlite", events: str = "events.jsonl") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.toml"
    path.write_text(
        f'state = "{state}"\n[[mailbox]]\nname = "local"\nsource = "maildir:{mail}"\nafter = "none"\n'
        f'[[sink]]\nname = "events"\ntype = "events_file"\npath = "{events}"\n'
    )
    return path


def test_a_sink_folder_that_does_not_exist_yet_is_made_and_the_first_pass_delivers(tmp_path: Path) -> None:
    path = config(tmp_path, maildir(tmp_path), events="out/2026/events.jsonl")
    result = processes.run("poll", "-c", path)
    assert result.returncode == 0, result.stderr
    assert "errors=0" in result.stdout and "delivering to a sink" not in result.stderr
    assert len((tmp_path / "out" / "2026" / "events.jsonl").read_text().splitlines()) == 1


def test_a_sink_folder_that_cannot_be_made_is_refused_before_any_mail_is_read(tmp_path: Path) -> None:
    (tmp_path / "out").write_text("a file where the folder should be")
    path = config(tmp_path, maildir(tmp_path), events="out/events.jsonl")
    result = processes.run("poll", "-c", path)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip() == (
        f'dsnworker: {path}: sink "events" path: cannot create the folder {tmp_path / "out"}: File exists; a relative '
        f"path is taken from the configuration's folder ({tmp_path}): set an absolute path in a folder the worker may "
        "write (e.g. /var/lib/dsnworker/ under the systemd unit of docs/systemd/)"
    )
    assert not (tmp_path / "state.sqlite").exists()


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root and setpriv")
def test_the_systemd_layout_with_relative_paths_is_refused_with_what_to_change(tmp_path: Path) -> None:
    # The unit's ProtectSystem=strict makes /etc/dsnworker read-only to the worker. Here the
    # configuration's folder belongs to root, mode 0555, and the worker runs as root *without*
    # CAP_DAC_OVERRIDE: permission bits hold for it as for the service user.
    etc, var = tmp_path / "etc", tmp_path / "var"
    var.mkdir()
    path = config(etc, maildir(var))
    etc.chmod(0o555)
    command = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"]
    command += [sys.executable, "-m", "dsnworker", "poll", "-c", str(path)]
    result = subprocess.run(command, capture_output=True, text=True, env=processes.environment(), timeout=120)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(
        f"dsnworker: {path}: state: cannot write in the folder {etc}: Permission denied; a relative path is taken "
        f"from the configuration's folder ({etc}): set an absolute path"
    )
    etc.chmod(0o755)
    config(etc, maildir(var), state=str(var / "state.sqlite"), events=str(var / "events.jsonl"))
    etc.chmod(0o555)
    result = subprocess.run(command, capture_output=True, text=True, env=processes.environment(), timeout=120)
    assert result.returncode == 0, result.stderr
    assert len((var / "events.jsonl").read_text().splitlines()) == 1
