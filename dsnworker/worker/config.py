"""The worker's TOML configuration: read once, validated once, turned into `settings.Settings`.

Every problem is a `ConfigError` that names the file, the key and what is expected, e.g.
``config.toml: mailbox "jp-bounces" server.port: expected an integer 1-65535, got "abc"``.
Unknown keys are errors (they are usually typos) and the message lists the keys allowed there.
Loading never reads a secret: `password_env`, `password_file` and their kin are names of where the
secret lives; the worker reads them when it logs in. An inline secret (`password = "..."`) is
refused without repeating its value.

Relative paths (state, sink files, rule folders, CA file, maildir/mbox sources) resolve against the
folder holding the configuration file. `parse_duration` and `parse_size` are the shared readers of
``"60s"`` / ``"7d"`` and ``"10MB"`` values; they raise `ValueError` with a message to show a user.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import math
import os
import re
import shlex
import stat
import tomllib
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from dsnworker.classify.vocabulary import ACTIONS, REASONS
from dsnworker.errors import DsnworkerError
from dsnworker.verp import VerpPattern, VerpPatternError
from dsnworker.work_split import available_cores
from dsnworker.worker.settings import (
    ClusterSettings,
    Disposition,
    MailboxSettings,
    MetricsSettings,
    OAuth2Auth,
    PasswordAuth,
    Policy,
    PostgresState,
    Schedule,
    ServerSettings,
    Settings,
    SinkSettings,
)
from dsnworker.worker.state_url import is_postgres_url, parse_state_url

# [cluster] connections: a worker's database connections (besides the leases' two); 2 let one pass
# commit while another thread reads
MIN_CONNECTIONS: Final = 2
MAX_CONNECTIONS: Final = 1000
# [cluster] lease: short enough that a dead worker's mailboxes are soon taken over, long enough that a
# heartbeat (a third of it) survives a busy database; an hour at most
MIN_LEASE: Final = 1.0
MAX_LEASE: Final = 3600.0


class ConfigError(DsnworkerError):
    """The configuration is unusable: names the file, the key (if any) and what is expected."""

    def __init__(self, file: str, key: str | None, problem: str) -> None:
        self.file, self.key, self.problem = file, key, problem
        super().__init__(f"{file}: {key}: {problem}" if key else f"{file}: {problem}")


# The keys each table accepts; anything else is refused as a likely typo.
ALLOWED_KEYS: Final[Mapping[str, frozenset[str]]] = {
    "top": frozenset(
        {"state", "state_password_env", "state_password_file", "jobs", "log", "metrics", "cluster", "mailbox", "sink"}
    ),
    "log": frozenset({"format", "level"}),
    "cluster": frozenset({"lease", "connections"}),
    "metrics": frozenset({"listen", "allow_remote"}),
    "mailbox": frozenset(
        [
            "name",
            "source",
            "server",
            "auth",
            "folder",
            "idle",
            "interval",
            "cron",
            "jitter",
            "after",
            "not_bounce",
            "unparsed",
            "sinks",
            "rules",
            "batch_size",
            "max_message_size",
            "policy",
            "verp",
        ]
    ),
    "mailbox.server": frozenset({"host", "port", "tls", "allow_insecure", "ca_file", "timeout"}),
    "mailbox.auth": frozenset(
        [
            "username",
            "password_env",
            "password_file",
            "mechanism",
            "token_command",
            "token_url",
            "client_id",
            "client_secret_env",
            "client_secret_file",
            "scope",
        ]
    ),
    "mailbox.policy": frozenset({"soft_threshold", "soft_window", "actions", "expire_after"}),
    "sink": frozenset(
        {
            "name",
            "type",
            "path",
            "format",
            "url",
            "secret_env",
            "secret_file",
            "batch_size",
            "timeout",
            "retry_for",
            "ca_file",
        }
    ),
}
IMAP_ONLY_KEYS: Final = ("server", "auth", "folder", "idle")

# Keys that would hold a secret in the file itself -> where the secret should live instead.
_INLINE_SECRETS: Final[Mapping[str, str]] = {
    "password": "password_env (an environment variable's name) or password_file",
    "pass": "password_env (an environment variable's name) or password_file",
    "client_secret": "client_secret_env (an environment variable's name) or client_secret_file",
    "token": "token_command, or the client credentials grant (token_url, client_id, client_secret_env)",
    "access_token": "token_command, or the client credentials grant (token_url, client_id, client_secret_env)",
    "secret": "secret_env (an environment variable's name) or secret_file",
}

MAX_JOBS: Final = 256  # processes; more is a typo, not a machine
_DEFAULT_PORTS: Final = {"implicit": 993, "starttls": 143, "none": 143}
_LOG_LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_MISSING: Final = object()


# --- durations and sizes ------------------------------------------------------------------------

_DURATION_UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_DURATION = re.compile(r"(?:\d+(?:\.\d+)?[smhd])+")
_SIZE_UNITS: Final = {
    "": 1,
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
}
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([a-z]*)")


def parse_duration(value: object) -> float:
    """Seconds from ``"90s"``, ``"5m"``, ``"1h30m"``, ``"7d"``, a bare number or a numeric string.

    Raises ValueError saying what is expected (units s, m, h, d) and what was given.
    """
    expected = 'expected a duration such as "60s", "5m", "1h30m", "7d" or a number of seconds'
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().replace(" ", "").lower()
        if re.fullmatch(r"\d+(?:\.\d+)?", text):
            seconds = float(text)
        elif _DURATION.fullmatch(text):
            seconds = sum(float(n) * _DURATION_UNITS[unit] for n, unit in _DURATION_PART.findall(text))
        else:
            raise ValueError(f"{expected}, got {show(value)}")
    else:
        raise ValueError(f"{expected}, got {show(value)}")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"{expected}, got {show(value)}")
    return seconds


def parse_size(value: object) -> int:
    """Bytes from ``"10MB"``, ``"512KB"``, ``"1MiB"``, ``"2000000"`` or an integer.

    KB/MB/GB are powers of 1000, KiB/MiB/GiB powers of 1024 (case does not matter).
    Raises ValueError saying what is expected and what was given.
    """
    expected = 'expected a size such as "10MB", "512KB", "1MiB" or a number of bytes'
    if isinstance(value, int) and not isinstance(value, bool):
        size = float(value)
    elif isinstance(value, str):
        match = _SIZE.fullmatch(value.strip().lower())
        if not match or match.group(2) not in _SIZE_UNITS:
            raise ValueError(f"{expected}, got {show(value)}")
        size = float(match.group(1)) * _SIZE_UNITS[match.group(2)]
    else:
        raise ValueError(f"{expected}, got {show(value)}")
    if size < 0:
        raise ValueError(f"{expected}, got {show(value)}")
    return int(size)


def show(value: object) -> str:
    """A value as a user wrote it in TOML, shortened: strings quoted, tables and arrays named."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
        return text if len(text) <= 60 else text[:56] + '..."'
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, (int, float)):
        return repr(value)
    return f"a {type(value).__name__}"


# --- reading one table --------------------------------------------------------------------------


class _Table:
    """One TOML table and where it sits, with typed getters that raise ConfigError."""

    def __init__(self, raw: Mapping[str, Any], file: str, base: Path, section: str, prefix: str = "") -> None:
        self.raw, self.file, self.base, self.section, self.prefix = raw, file, base, section, prefix

    def where(self, key: str) -> str:
        return " ".join(part for part in (self.section, self.prefix + key) if part)

    def error(self, key: str, problem: str) -> ConfigError:
        return ConfigError(self.file, self.where(key), problem)

    def check_keys(self, allowed: Collection[str], what: str = "key") -> None:
        """Refuse inline secrets and unknown keys (listing the allowed ones, suggesting a close one)."""
        for key in self.raw:
            if key in _INLINE_SECRETS:
                raise self.error(
                    key, f"a secret is never written in the configuration; use {_INLINE_SECRETS[key]} instead"
                )
        for key in self.raw:
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1)
                hint = f' (did you mean "{close[0]}"?)' if close else ""
                listed = ", ".join(sorted(allowed))
                raise self.error(key, f"unknown {what}{hint}; allowed here: {listed}")

    def has(self, key: str) -> bool:
        return key in self.raw

    def here(self) -> str:
        """This table's own location, e.g. 'mailbox "jp" auth'."""
        return self.where("")[:-1] if self.prefix else self.section

    def table(self, key: str, allowed: Collection[str], what: str = "key") -> _Table:
        value = self.raw.get(key, {})
        if not isinstance(value, dict):
            raise self.error(key, f"expected a table, got {show(value)}")
        sub = _Table(value, self.file, self.base, self.section, f"{self.prefix}{key}.")
        sub.check_keys(allowed, what)
        return sub

    def get(self, key: str, default: Any = _MISSING) -> Any:
        if key in self.raw:
            return self.raw[key]
        if default is _MISSING:
            raise self.error(key, "is required")
        return default

    def string(self, key: str, default: Any = _MISSING) -> Any:
        value = self.get(key, default)
        if value is default and key not in self.raw:
            return value
        if not isinstance(value, str) or not value.strip():
            raise self.error(key, f"expected a non-empty string, got {show(value)}")
        if _CONTROL.search(value):
            raise self.error(key, "expected a string without control characters (tabs, newlines, ...)")
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self.get(key, default)
        if not isinstance(value, bool):
            raise self.error(key, f"expected true or false, got {show(value)}")
        return value

    def integer(self, key: str, default: int, low: int, high: int | None = None) -> int:
        value = self.get(key, default)
        span = f"{low}-{high}" if high is not None else f">= {low}"
        if not isinstance(value, int) or isinstance(value, bool) or value < low or (high is not None and value > high):
            raise self.error(key, f"expected an integer {span}, got {show(value)}")
        return value

    def choice(self, key: str, options: tuple[str, ...], default: Any = _MISSING, *, fold: bool = False) -> str:
        value = self.get(key, default)
        wanted = value.upper() if fold and isinstance(value, str) else value
        if wanted not in options:
            listed = " or ".join(f'"{option}"' for option in options)
            raise self.error(key, f"expected {listed}, got {show(value)}")
        return wanted

    def duration(self, key: str, default: float, *, maximum: float, positive: bool = True, why: str = "") -> float:
        """Seconds; at most `maximum` (beyond it, the date arithmetic of the scheduler and the sockets'
        timeouts overflow, and no such wait is meant): `why` says what to do instead."""
        value = self.get(key, default)
        try:
            seconds = parse_duration(value)
        except ValueError as problem:
            raise self.error(key, str(problem)) from None
        if positive and seconds <= 0:
            raise self.error(key, f"expected a duration longer than 0, got {show(value)}")
        if seconds > maximum:
            raise self.error(key, f"expected at most {_say_duration(maximum)}{why}, got {show(value)}")
        return seconds

    def size(self, key: str, default: int, minimum: int, maximum: int, why: str = "") -> int:
        value = self.get(key, default)
        try:
            size = parse_size(value)
        except ValueError as problem:
            raise self.error(key, str(problem)) from None
        if size < minimum:
            raise self.error(key, f"expected a size of at least {minimum} bytes, got {show(value)}")
        if size > maximum:
            raise self.error(key, f"expected a size of at most {maximum:,} bytes{why}, got {show(value)}")
        return size

    def path(self, key: str, value: object = _MISSING) -> Path:
        """A path relative to the configuration's folder (``~`` expands to the home folder)."""
        if value is _MISSING:
            value = self.get(key)
        if not isinstance(value, str) or not value.strip():
            raise self.error(key, f"expected a path (a non-empty string), got {show(value)}")
        if "\x00" in value:
            raise self.error(key, "expected a path without NUL characters")
        return self.base / Path(value).expanduser()

    def output_file(self, key: str, value: object = _MISSING) -> Path:
        """A file the worker writes (its folder is made, and checked, when the worker starts: `preflight`)."""
        path = self.path(key, value)
        if path.is_dir():
            raise self.error(key, f"expected a file, {path} is a folder: name a file in it")
        return path

    def secret_file(self, key: str, value: object = _MISSING) -> Path:
        """A file holding a secret: refused when every user of the machine may read or write it (as ssh
        refuses such a private key). A file that is not there yet is checked when it is read."""
        path = self.path(key, value)
        problem = secret_file_problem(path)
        if problem:
            raise self.error(key, problem)
        return path

    def strings(self, key: str, what: str) -> tuple[str, ...]:
        """A string or an array of strings (the latter at least one long)."""
        value = self.get(key)
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not items or not all(isinstance(item, str) and item for item in items):
            raise self.error(key, f"expected {what} (a string or an array of strings), got {show(value)}")
        return tuple(items)

    def env_name(self, key: str) -> str:
        """The name of one environment variable (see `env_names`)."""
        if not isinstance(self.get(key), str):
            raise self.error(key, f"expected the name of an environment variable, got {show(self.get(key))}")
        return self.env_names(key)[0]

    def env_names(self, key: str) -> tuple[str, ...]:
        """Names of environment variables. A bad one is not echoed: it may be the secret itself."""
        names = self.strings(key, "the name of an environment variable")
        for name in names:
            if not _ENV_NAME.fullmatch(name):
                raise self.error(
                    key,
                    "expected the name of an environment variable (letters, digits and _, not starting with a "
                    "digit) that holds the secret, not the secret itself",
                )
        return names

    def url(self, key: str) -> str:
        """An https URL; plain http only to this machine (127.0.0.1, ::1, localhost)."""
        value = self.string(key)
        parts = urlsplit(value)
        if parts.username is not None or parts.password is not None:
            raise self.error(
                key, "expected a URL without user:password@ (a secret is never written in the configuration)"
            )
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise self.error(key, f"expected an https:// URL, got {show(value)}")
        if parts.scheme == "http" and not _is_loopback(parts.hostname):
            raise self.error(
                key, f"expected an https:// URL (http only to 127.0.0.1, ::1 or localhost), got {show(value)}"
            )
        return value


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# --- the loader ---------------------------------------------------------------------------------


def load_settings(path: Path) -> Settings:
    """Read and validate the configuration at `path`; raises ConfigError naming file, key and problem."""
    file = str(path)
    try:
        with open(path, "rb") as handle:
            raw = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(file, None, "cannot read the configuration: no such file") from None
    except IsADirectoryError:
        raise ConfigError(file, None, "cannot read the configuration: it is a folder, expected a TOML file") from None
    except OSError as problem:
        raise ConfigError(file, None, f"cannot read the configuration: {problem.strerror or problem}") from None
    except UnicodeDecodeError as problem:
        raise ConfigError(file, None, f"expected UTF-8 text, got an invalid byte at offset {problem.start}") from None
    except tomllib.TOMLDecodeError as problem:
        raise ConfigError(file, None, f"invalid TOML: {problem}") from None
    return _Loader(Path(path), file, Path(path).expanduser().absolute().parent).settings(raw)


@dataclass
class _Loader:
    path: Path
    file: str
    base: Path

    def settings(self, raw: dict[str, Any]) -> Settings:
        top = _Table(raw, self.file, self.base, "")
        top.check_keys(ALLOWED_KEYS["top"])
        state = self.state(top)
        jobs = self.jobs(top)
        log = top.table("log", ALLOWED_KEYS["log"])
        log_format = log.choice("format", ("text", "json"), "text")
        log_level = log.choice("level", _LOG_LEVELS, "INFO", fold=True)
        metrics = self.metrics(top.table("metrics", ALLOWED_KEYS["metrics"])) if top.has("metrics") else None
        cluster = self.cluster(top, state)

        sinks = tuple(self.sink(table) for table in self.tables(top, "sink", required=False))
        _unique(top, "sink", [sink.name for sink in sinks])
        outputs: dict[Path, str] = {_same(state): "state"} if isinstance(state, Path) else {}
        for sink in sinks:
            if sink.path is not None:
                other = outputs.setdefault(_same(sink.path), f'sink "{sink.name}"')
                if other != f'sink "{sink.name}"':
                    raise ConfigError(self.file, f'sink "{sink.name}" path', f"is the same file as {other}'s")

        sink_names = tuple(sink.name for sink in sinks)
        mailboxes = tuple(self.mailbox(table, sink_names) for table in self.tables(top, "mailbox", required=True))
        _unique(top, "mailbox", [mailbox.name for mailbox in mailboxes])
        read_by: dict[tuple[object, ...], str] = {}
        for mailbox in mailboxes:
            other = read_by.setdefault(_reads(mailbox), mailbox.name)
            if other != mailbox.name:
                raise ConfigError(
                    self.file,
                    f'mailbox "{mailbox.name}" source',
                    f'reads the same folder as mailbox "{other}"; two mailboxes would race over the same messages',
                )
        return Settings(
            path=self.path,
            state=state,
            mailboxes=mailboxes,
            sinks=sinks,
            log_format=log_format,  # type: ignore[arg-type]  # checked by choice()
            log_level=log_level,
            metrics=metrics,
            jobs=jobs,
            cluster=cluster,
        )

    def state(self, top: _Table) -> Path | PostgresState:
        """A SQLite file (a path, the default), or a PostgreSQL database (a postgresql:// URL)."""
        value = top.get("state", "dsnworker.sqlite")
        secret_keys = ("state_password_env", "state_password_file")
        if not is_postgres_url(value):
            for key in secret_keys:
                if top.has(key):
                    raise top.error(key, 'applies only with state = "postgresql://USER@HOST:PORT/DATABASE"')
            return top.output_file("state", value)
        if top.has(secret_keys[0]) and top.has(secret_keys[1]):
            raise top.error(secret_keys[1], f"set only one of {secret_keys[0]} and {secret_keys[1]}")
        try:
            return parse_state_url(
                value,
                top.env_name(secret_keys[0]) if top.has(secret_keys[0]) else None,
                top.secret_file(secret_keys[1]) if top.has(secret_keys[1]) else None,
            )
        except ValueError as problem:
            raise top.error("state", str(problem)) from None

    def cluster(self, top: _Table, state: Path | PostgresState) -> ClusterSettings:
        """`[cluster] lease = "60s"`: how long a worker's lease on a mailbox lasts without a heartbeat;
        `connections = 10`: how many database connections the worker opens at most. Only a
        PostgreSQL state is shared by several workers; a SQLite file has one worker (its file lock)."""
        if not top.has("cluster"):
            return ClusterSettings()
        if isinstance(state, Path):
            raise top.error(
                "cluster",
                'applies only with state = "postgresql://USER@HOST:PORT/DATABASE": a SQLite state has one worker',
            )
        table = top.table("cluster", ALLOWED_KEYS["cluster"])
        lease = table.duration(
            "lease",
            ClusterSettings.lease,
            maximum=MAX_LEASE,
            why=": a dead worker's mailboxes wait this long for another",
        )
        if lease < MIN_LEASE:
            raise table.error(
                "lease", f"expected at least {MIN_LEASE:g}s (heartbeats come every third of it), got {lease:g}s"
            )
        connections = table.integer("connections", ClusterSettings.connections, MIN_CONNECTIONS, MAX_CONNECTIONS)
        return ClusterSettings(lease=lease, connections=connections)

    def jobs(self, top: _Table) -> int:
        """Processes that analyse the messages: a number, or "auto" for the cores the worker may use."""
        value = top.get("jobs", 1)
        if value == "auto":
            return available_cores()
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_JOBS:
            raise top.error(
                "jobs", f'expected an integer 1-{MAX_JOBS} or "auto" (the cores available), got {show(value)}'
            )
        return value

    def metrics(self, table: _Table) -> MetricsSettings:
        """`listen = "HOST:PORT"` ("[::1]:PORT" for IPv6; a bare "PORT" is on 127.0.0.1). The endpoints have
        no authentication: an address other than loopback needs `allow_remote = true`."""
        value = table.get("listen", f"{MetricsSettings.host}:{MetricsSettings.port}")
        expected = 'expected "HOST:PORT" (e.g. "127.0.0.1:9464", "[::1]:9464") or a port number'
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            raise table.error("listen", f"{expected}, got {show(value)}")
        host, colon, port_text = value.rpartition(":")
        if not colon:
            host, port_text = MetricsSettings.host, value
        host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
        if not port_text.isdigit() or not 1 <= int(port_text) <= 65535 or not host or _CONTROL.search(host):
            raise table.error("listen", f"{expected}, with a port 1-65535, got {show(value)}")
        remote = table.boolean("allow_remote", False)
        if not remote and not _is_loopback(host):
            raise table.error(
                "listen",
                f"{host} is not a loopback address: /metrics, /healthz and /readyz have no authentication and show "
                "the mailboxes' names; set allow_remote = true to serve them there (behind a firewall)",
            )
        return MetricsSettings(host=host, port=int(port_text))

    def tables(self, top: _Table, key: str, *, required: bool) -> list[_Table]:
        value = top.raw.get(key, [])
        if isinstance(value, dict):
            raise top.error(key, f"expected [[{key}]] (an array of tables, one per {key}), got [{key}]")
        if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
            raise top.error(key, f"expected [[{key}]] tables, got {show(value)}")
        if required and not value:
            raise top.error(key, f"expected at least one [[{key}]] table")
        tables = []
        for number, item in enumerate(value, start=1):
            name = item.get("name")
            label = f'{key} "{name}"' if isinstance(name, str) and _NAME.fullmatch(name) else f"{key} #{number}"
            tables.append(_Table(item, self.file, self.base, label))
        return tables

    # --- [[sink]] ---

    def sink(self, table: _Table) -> SinkSettings:
        table.check_keys(ALLOWED_KEYS["sink"])
        name = _name(table)
        kind = table.choice("type", ("suppression_file", "events_file", "webhook"))
        only = {
            "path": ("suppression_file", "events_file"),
            "format": ("suppression_file",),
            "url": ("webhook",),
            "secret_env": ("webhook",),
            "secret_file": ("webhook",),
            "batch_size": ("webhook",),
            "timeout": ("webhook",),
            "retry_for": ("webhook",),
            "ca_file": ("webhook",),
        }
        for key, kinds in only.items():
            if table.has(key) and kind not in kinds:
                listed = " and ".join(f'"{k}"' for k in kinds)
                raise table.error(key, f'applies only to type = {listed}, not "{kind}"')
        if kind == "webhook":
            secret_files = (
                tuple(
                    table.secret_file("secret_file", item) for item in table.strings("secret_file", "a path to a file")
                )
                if table.has("secret_file")
                else ()
            )
            return SinkSettings(
                name=name,
                kind="webhook",
                url=table.url("url"),
                secret_env=table.env_names("secret_env") if table.has("secret_env") else (),
                secret_file=secret_files,
                batch_size=table.integer("batch_size", 1, 1, 1000),
                timeout=table.duration("timeout", 10.0, maximum=_HOUR),
                retry_for=self.retry_for(table),
                ca_file=self.webhook_ca_file(table),
            )
        default_format = "csv" if kind == "suppression_file" else "jsonl"  # events_file is always JSONL
        return SinkSettings(
            name=name,
            kind=kind,  # type: ignore[arg-type]  # checked by choice()
            path=table.output_file("path"),
            format=table.choice("format", ("csv", "jsonl"), default_format),  # type: ignore[arg-type]
        )

    def webhook_ca_file(self, table: _Table) -> Path | None:
        if not table.has("ca_file"):
            return None
        ca_file = table.path("ca_file")
        if not ca_file.is_file():
            raise table.error("ca_file", f"expected an existing file of CA certificates (PEM), {ca_file} is not one")
        return ca_file

    def retry_for(self, table: _Table) -> float:
        seconds = table.duration("retry_for", 3 * 86400.0, maximum=365 * _DAY)
        if seconds < 86400:
            raise table.error("retry_for", f"expected at least 1d (an endpoint can be down a day), got {seconds:g}s")
        return seconds

    # --- [[mailbox]] ---

    def mailbox(self, table: _Table, sink_names: tuple[str, ...]) -> MailboxSettings:
        table.check_keys(ALLOWED_KEYS["mailbox"])
        name = _name(table)
        source, path = self.source(table)
        server = auth = None
        if source == "imap":
            server = self.server(table.table("server", ALLOWED_KEYS["mailbox.server"]))
            auth = self.auth(table.table("auth", ALLOWED_KEYS["mailbox.auth"]))
            folder = table.string("folder", "INBOX")
        else:
            for key in IMAP_ONLY_KEYS:
                if table.has(key):
                    raise table.error(key, f'applies only to IMAP mailboxes (source = "imap"), not to {source}')
            folder = MailboxSettings.folder
        read_only = source == "mbox"
        return MailboxSettings(
            name=name,
            source=source,  # type: ignore[arg-type]  # one of the three
            path=path,
            server=server,
            auth=auth,
            folder=folder,
            schedule=self.schedule(table),
            idle=table.boolean("idle", False),
            after=self.disposition(table, "after", source, folder, "none" if read_only else "move:Processed"),
            not_bounce=self.disposition(table, "not_bounce", source, folder, "leave"),
            unparsed=self.disposition(table, "unparsed", source, folder, "leave" if read_only else "move:Unparsed"),
            sinks=self.sink_refs(table, sink_names),
            policy=self.policy(table.table("policy", ALLOWED_KEYS["mailbox.policy"])),
            rules=self.rule_folders(table),
            batch_size=table.integer("batch_size", 500, 1),
            max_message_bytes=table.size(
                "max_message_size",
                10_000_000,
                1000,
                MAX_MESSAGE_BYTES,
                " (1GB; a bigger message is read from its header and first part, which is where a bounce says why)",
            ),
            verp=_verp(table),
        )

    def source(self, table: _Table) -> tuple[str, Path | None]:
        value = table.get("source", "imap")
        expected = 'expected "imap", "maildir:PATH" or "mbox:PATH"'
        if value == "imap":
            return "imap", None
        if isinstance(value, str) and ":" in value:
            kind, _, where = value.partition(":")
            if kind in ("maildir", "mbox"):
                if not where.strip():
                    raise table.error("source", f"{expected}: the path after {kind}: is missing")
                path = table.path("source", where)
                problem = local_source_problem(kind, path)
                if problem:
                    raise table.error("source", problem)
                return kind, path
        raise table.error("source", f"{expected}, got {show(value)}")

    def server(self, table: _Table) -> ServerSettings:
        host = table.string("host")
        if "://" in host or "/" in host or " " in host:
            raise table.error("host", f"expected a host name or IP address (no scheme, port or path), got {show(host)}")
        tls = table.choice("tls", ("implicit", "starttls", "none"), "implicit")
        insecure = table.boolean("allow_insecure", False)
        if tls == "none" and not insecure:
            raise table.error(
                "tls",
                'is "none": the password would cross the network in clear text; set allow_insecure = true to allow it',
            )
        if insecure and tls != "none":
            raise table.error(
                "allow_insecure",
                'applies only to tls = "none"; certificate verification is never turned off'
                " (for a private CA, set ca_file)",
            )
        ca_file = None
        if table.has("ca_file"):
            if tls == "none":
                raise table.error("ca_file", 'has no use with tls = "none"')
            ca_file = table.path("ca_file")
            if not ca_file.is_file():
                raise table.error(
                    "ca_file", f"expected an existing file of CA certificates (PEM), {ca_file} is not one"
                )
        port = table.integer("port", _DEFAULT_PORTS[tls], 1, 65535)
        if port == 993 and tls != "implicit":
            raise table.error(
                "tls",
                f'is "{tls}" but port 993 is IMAP over implicit TLS (the server waits for a TLS handshake, the '
                'worker for a greeting, until the timeout): set tls = "implicit", or the STARTTLS port (usually 143)',
            )
        if port == 143 and tls == "implicit":
            raise table.error(
                "tls",
                'is "implicit" but port 143 is plain IMAP, where TLS starts with STARTTLS: set tls = "starttls", '
                "or port = 993",
            )
        return ServerSettings(
            host=host,
            port=port,
            tls=tls,  # type: ignore[arg-type]  # checked by choice()
            ca_file=ca_file,
            timeout=table.duration("timeout", 30.0, maximum=_HOUR),
        )

    def auth(self, table: _Table) -> PasswordAuth | OAuth2Auth:
        username = table.string("username")
        if not table.has("mechanism"):
            for key in ("token_command", "token_url", "client_id", "client_secret_env", "client_secret_file", "scope"):
                if table.has(key):
                    raise table.error(key, 'applies only with mechanism = "XOAUTH2" or "OAUTHBEARER"')
            env, file = _one_of(table, "password_env", "password_file", "the password")
            return PasswordAuth(
                username=username,
                password_env=table.env_name("password_env") if env else None,
                password_file=table.secret_file("password_file") if file else None,
            )
        mechanism = table.choice("mechanism", ("XOAUTH2", "OAUTHBEARER"), fold=True)
        for key in ("password_env", "password_file"):
            if table.has(key):
                raise table.error(
                    key,
                    f"has no use with mechanism = {mechanism}: the access token comes from token_command or token_url",
                )
        command, grant = _one_of(table, "token_command", "token_url", "the access token")
        if command:
            for key in ("client_id", "client_secret_env", "client_secret_file", "scope"):
                if table.has(key):
                    raise table.error(
                        key, "applies only to the client credentials grant (token_url), not to token_command"
                    )
            return OAuth2Auth(
                username=username,
                mechanism=mechanism,  # type: ignore[arg-type]  # checked by choice()
                token_command=self.command(table),
            )
        env, file = _one_of(table, "client_secret_env", "client_secret_file", "the client secret")
        return OAuth2Auth(
            username=username,
            mechanism=mechanism,  # type: ignore[arg-type]  # checked by choice()
            token_url=table.url("token_url"),
            client_id=table.string("client_id"),
            client_secret_env=table.env_name("client_secret_env") if env else None,
            client_secret_file=table.secret_file("client_secret_file") if file else None,
            scope=table.string("scope", None),
        )

    def command(self, table: _Table) -> tuple[str, ...]:
        value = table.get("token_command")
        if isinstance(value, str):
            try:
                argv = shlex.split(value)
            except ValueError as problem:
                raise table.error(
                    "token_command", f"cannot be split into words like a shell would: {problem}"
                ) from None
        elif isinstance(value, list) and all(isinstance(item, str) for item in value):
            argv = value
        else:
            raise table.error(
                "token_command", f"expected a command line (a string or an array of strings), got {show(value)}"
            )
        if not argv or not argv[0]:
            raise table.error("token_command", "expected a command line, got an empty one")
        return tuple(argv)

    def schedule(self, table: _Table) -> Schedule:
        jitter = table.duration("jitter", 0.0, positive=False, maximum=_DAY)
        if table.has("cron"):
            if table.has("interval"):
                raise table.error("cron", "set either interval or cron, not both")
            return Schedule(interval=None, cron=_cron(table), jitter=jitter)
        interval = table.duration("interval", 60.0, maximum=30 * _DAY, why=" (for rarer passes, use cron)")
        if jitter >= interval:
            raise table.error(
                "jitter",
                f"expected less than the interval ({_say_duration(interval)}), got {show(table.get('jitter'))}",
            )
        return Schedule(interval=interval, cron=None, jitter=jitter)

    def disposition(self, table: _Table, key: str, source: str, folder: str, default: str) -> Disposition:
        """`after` may delete; `not_bounce` and `unparsed` never do (the message may be someone's personal mail)."""
        value = table.get(key, default)
        kinds = ("move", "seen", "delete", "none", "leave") if key == "after" else ("move", "seen", "none", "leave")
        listed = ", ".join('"move:FOLDER"' if kind == "move" else f'"{kind}"' for kind in kinds)
        if not isinstance(value, str):
            raise table.error(key, f"expected {listed}, got {show(value)}")
        kind, colon, target = value.partition(":")
        if kind == "delete" and "delete" not in kinds:
            why = "personal mail" if key == "not_bounce" else "a bounce no parser reads yet, or personal mail"
            raise table.error(key, f'"delete" is refused: such a message may be {why}; expected {listed}')
        if kind not in kinds or bool(colon) != (kind == "move"):
            raise table.error(key, f"expected {listed}, got {show(value)}")
        if source == "mbox" and kind not in ("none", "leave"):
            raise table.error(
                key, f'an mbox file is read-only to dsnworker: expected "none" or "leave", got {show(value)}'
            )
        if kind != "move":
            return Disposition(kind)  # type: ignore[arg-type]  # one of the kinds
        if not target.strip() or _CONTROL.search(target):
            raise table.error(key, f'expected a folder name after "move:", got {show(value)}')
        if source == "maildir":
            if "/" in target or target.startswith(".") or target.endswith(".") or ".." in target:
                raise table.error(
                    key, f'expected a Maildir++ subfolder name (no "/"; nest with "."), got {show(target)}'
                )
        elif target == folder or target.upper() == folder.upper() == "INBOX":
            raise table.error(key, f"moves into the folder being read ({folder}); its messages would be read again")
        return Disposition("move", target)

    def sink_refs(self, table: _Table, sink_names: tuple[str, ...]) -> tuple[str, ...]:
        if not table.has("sinks"):
            return ()
        value = table.get("sinks")
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise table.error("sinks", f"expected an array of sink names, got {show(value)}")
        if not value:
            raise table.error("sinks", "expected at least one sink name (leave the key out to feed every sink)")
        for name in value:
            if name not in sink_names:
                defined = ", ".join(f'"{sink}"' for sink in sink_names) or "none"
                raise table.error("sinks", f"names no [[sink]]: {show(name)} (defined: {defined})")
        if len(set(value)) != len(value):
            raise table.error("sinks", "names a sink twice")
        return tuple(value)

    def rule_folders(self, table: _Table) -> tuple[Path, ...]:
        if not table.has("rules"):
            return ()
        value = table.get("rules")
        if not isinstance(value, list):
            raise table.error("rules", f"expected an array of rule folder paths, got {show(value)}")
        folders = tuple(table.path("rules", item) for item in value)
        for folder in folders:
            if not folder.is_dir():
                raise table.error("rules", f"expected existing folders of rule packs, {folder} is not a folder")
        return folders

    def policy(self, table: _Table) -> Policy:
        actions = table.table("actions", REASONS, "reason")
        overrides: dict[str, str] = {}
        for reason in actions.raw:
            overrides[reason] = actions.choice(reason, tuple(sorted(ACTIONS)))
        expiries = table.table("expire_after", REASONS, "reason")
        expire_after = {
            reason: expiries.duration(reason, 0.0, maximum=3650 * _DAY, why=" (to never expire, leave the reason out)")
            for reason in expiries.raw
        }
        return Policy(
            soft_threshold=table.integer("soft_threshold", 5, 1),
            soft_window_days=table.duration("soft_window", 7 * 86400.0, maximum=365 * _DAY) / 86400,
            actions=overrides,
            expire_after=expire_after,
        )


_DAY: Final = 86400.0
_HOUR: Final = 3600.0
MAX_MESSAGE_BYTES: Final = 1_000_000_000


def _say_duration(seconds: float) -> str:
    for unit, size in (("d", _DAY), ("h", _HOUR), ("m", 60.0)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


def secret_file_problem(path: Path) -> str | None:
    """Why a secret file may not be used (every user of the machine may read or change it), or None."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return None  # missing or unreadable: said when the worker reads it
    if mode & 0o006:
        return (
            f"{path} can be read or changed by every user of this machine (mode {stat.S_IMODE(mode):04o}): "
            f"restrict it, e.g. chmod 600 {shlex.quote(str(path))} (or 640 with the worker's group)"
        )
    return None


def local_source_problem(kind: str, path: Path) -> str | None:
    """Why a maildir or mbox path cannot be read as one (a FIFO, a device, a folder for an mbox), or None.

    A path that is not there yet is fine: a poll that cannot read it fails for that mailbox only."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return None
    if kind == "maildir":
        return None if stat.S_ISDIR(mode) else f"expected a maildir folder, {path} is {_file_kind(mode)}"
    if stat.S_ISREG(mode):
        return None
    return f"expected an mbox file, {path} is {_file_kind(mode)} (reading it could block or never end)"


def _file_kind(mode: int) -> str:
    kinds = [
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISREG, "a regular file"),
    ]
    return next((name for test, name in kinds if test(mode)), "not a regular file")


def _name(table: _Table) -> str:
    value = table.get("name")
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise table.error(
            "name",
            f"expected 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit, got {show(value)}",
        )
    return value


def _verp(table: _Table) -> VerpPattern | None:
    if not table.has("verp"):
        return None
    try:
        return VerpPattern.parse(table.get("verp"))
    except VerpPatternError as problem:
        raise table.error("verp", str(problem)) from None


def _unique(top: _Table, key: str, names: list[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise top.error(key, f'two [[{key}]] tables are named "{name}"; names must be unique')
        seen.add(name)


def _one_of(table: _Table, first: str, second: str, what: str) -> tuple[bool, bool]:
    """Exactly one of two keys: which is set."""
    has_first, has_second = table.has(first), table.has(second)
    if has_first and has_second:
        raise table.error(second, f"set only one of {first} and {second} (where {what} is)")
    if not has_first and not has_second:
        raise ConfigError(table.file, table.here(), f"expected {first} or {second} (where {what} is)")
    return has_first, has_second


def _cron(table: _Table) -> str:
    value = table.string("cron")
    fields = value.split()
    if len(fields) == 5 and re.search(r"\d", fields[4]):
        raise table.error(
            "cron",
            f"write the day of week with names (mon, tue, ... sun), got {show(fields[4])}: APScheduler 3 counts "
            "weekdays from Monday = 0, crontab from Sunday = 0, so numbers would pick the wrong days",
        )
    try:
        from apscheduler.triggers.cron import CronTrigger  # only for a cron schedule: 40 ms of imports

        CronTrigger.from_crontab(value, timezone="UTC")
    except ValueError as problem:
        raise table.error(
            "cron", f'expected five crontab fields (minute hour day month weekday, e.g. "*/5 * * * *"): {problem}'
        ) from None
    return value


def _same(path: Path) -> Path:
    return Path(os.path.normpath(path))


def _reads(mailbox: MailboxSettings) -> tuple[object, ...]:
    """What a mailbox reads, to find two mailboxes reading the same messages."""
    if mailbox.server is not None and mailbox.auth is not None:
        server, user = mailbox.server, mailbox.auth.username
        return ("imap", server.host.lower(), server.port, user, mailbox.folder)
    return (mailbox.source, _same(mailbox.path or Path()))
