"""What `run` and `poll` check once, before reading any mailbox: the files the worker writes (the state
database, the file sinks) can be written.

Without it, a sink in a folder that does not exist, or a state file beside a configuration in a
read-only /etc (systemd's ProtectSystem=strict), is found half way through a pass, after mail was
read. A missing folder is made (as for the state); one that cannot be made or written is refused
with the configuration file, the key and what to change.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from dsnworker.worker.config import ConfigError
from dsnworker.worker.settings import Settings


def check_outputs(settings: Settings) -> None:
    """Make the folders of the state and of each file sink; raise ConfigError for one not writable."""
    config = Path(settings.path).absolute()
    outputs = [("state", settings.state)] if isinstance(settings.state, Path) else []
    outputs += [(f'sink "{sink.name}" path', sink.path) for sink in settings.sinks if sink.path is not None]
    for key, path in outputs:
        problem = _unwritable(path)
        if problem is not None:
            raise ConfigError(str(settings.path), key, problem + _relative_hint(path, config))


def _unwritable(path: Path) -> str | None:
    """Why the worker cannot write `path` (creating its folder when missing), or None."""
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return f"cannot create the folder {folder}: {_why(exc)}"
    try:  # a real file, not os.access: a read-only mount or an ACL says no only to a real write
        with tempfile.TemporaryFile(dir=folder, prefix=".dsnworker-probe-"):
            pass
    except OSError as exc:
        return f"cannot write in the folder {folder}: {_why(exc)}"
    if path.exists() and not os.access(path, os.W_OK):
        return f"cannot write the file {path}: permission denied (owner uid {path.stat().st_uid})"
    return None


def _relative_hint(path: Path, config: Path) -> str:
    if not path.is_relative_to(config.parent):
        return ""
    return (
        f"; a relative path is taken from the configuration's folder ({config.parent}): set an absolute path in"
        " a folder the worker may write (e.g. /var/lib/dsnworker/ under the systemd unit of docs/systemd/)"
    )


def _why(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__
