"""The worker's configuration as typed, validated values (loaded from TOML by `config.py`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from dsnworker.verp import VerpPattern

TlsMode = Literal["implicit", "starttls", "none"]
DispositionKind = Literal["move", "seen", "delete", "none", "leave"]
SourceKind = Literal["imap", "maildir", "mbox"]
SinkKind = Literal["suppression_file", "events_file", "webhook"]


@dataclass(frozen=True)
class Disposition:
    """What to do with a message once its outcomes are committed."""

    kind: DispositionKind
    folder: str | None = None  # for "move"

    def __str__(self) -> str:
        return f"move:{self.folder}" if self.kind == "move" else self.kind


@dataclass(frozen=True)
class ServerSettings:
    host: str
    port: int
    tls: TlsMode = "implicit"
    ca_file: Path | None = None  # a private CA; verification itself is never off
    timeout: float = 30.0


@dataclass(frozen=True)
class PasswordAuth:
    username: str
    password_env: str | None = None
    password_file: Path | None = None


@dataclass(frozen=True)
class OAuth2Auth:
    username: str
    mechanism: Literal["XOAUTH2", "OAUTHBEARER"] = "XOAUTH2"
    token_command: tuple[str, ...] | None = None  # argv of a command that prints an access token
    token_url: str | None = None  # client credentials grant
    client_id: str | None = None
    client_secret_env: str | None = None
    client_secret_file: Path | None = None
    scope: str | None = None


@dataclass(frozen=True)
class Schedule:
    interval: float | None = 60.0  # seconds
    cron: str | None = None  # five fields; when set, interval is None
    jitter: float = 0.0  # seconds


@dataclass(frozen=True)
class Policy:
    soft_threshold: int = 5  # soft bounces ...
    soft_window_days: float = 7.0  # ... within this many days turn into `suppress`
    actions: dict[str, str] = field(default_factory=dict)  # reason -> action overrides
    # reason -> seconds after the latest suppression at which the address leaves the suppression file
    expire_after: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class MailboxSettings:
    name: str
    source: SourceKind
    path: Path | None = None  # maildir / mbox
    server: ServerSettings | None = None  # imap
    auth: PasswordAuth | OAuth2Auth | None = None  # imap
    folder: str = "INBOX"
    schedule: Schedule = field(default_factory=Schedule)
    idle: bool = False
    after: Disposition = field(default_factory=lambda: Disposition("move", "Processed"))
    not_bounce: Disposition = field(default_factory=lambda: Disposition("leave"))
    unparsed: Disposition = field(default_factory=lambda: Disposition("move", "Unparsed"))
    sinks: tuple[str, ...] = ()  # names of [[sink]] entries; empty = all sinks
    policy: Policy = field(default_factory=Policy)
    rules: tuple[Path, ...] = ()  # extra rule folders
    batch_size: int = 500
    max_message_bytes: int = 10_000_000  # beyond: headers and the first part only
    verp: VerpPattern | None = None  # the sender's VERP return path: whom a bounce sent to it is about


@dataclass(frozen=True)
class SinkSettings:
    name: str
    kind: SinkKind
    path: Path | None = None  # file sinks
    format: Literal["csv", "jsonl"] = "csv"  # suppression_file
    url: str | None = None  # webhook
    secret_env: tuple[str, ...] = ()  # several: key rotation (every one signs)
    secret_file: tuple[Path, ...] = ()
    batch_size: int = 1  # events per request; 1 = one event per request
    timeout: float = 10.0  # seconds per request
    retry_for: float = 3 * 86400.0  # seconds of retrying before an event becomes a dead letter
    ca_file: Path | None = None  # webhook: a private CA (verification itself is never off)


@dataclass(frozen=True)
class MetricsSettings:
    """`run` serves /metrics, /healthz and /readyz here (only when [metrics] is configured)."""

    host: str = "127.0.0.1"
    port: int = 9464


@dataclass(frozen=True)
class ClusterSettings:
    """`[cluster]`: several workers on one PostgreSQL state. A mailbox's lease lasts `lease` seconds past
    its holder's last heartbeat (heartbeats every third of it): a dead worker's mailboxes are taken over
    after that long."""

    lease: float = 60.0
    # database connections of a worker's passes, sinks and heartbeat at most (two more are kept for the
    # leases): a worker with thousands of mailboxes must not take the server's `max_connections`
    connections: int = 10

    @property
    def heartbeat(self) -> float:
        return self.lease / 3


@dataclass(frozen=True)
class PostgresState:
    """`state = "postgresql://USER@HOST:PORT/DB"`: the state in a PostgreSQL database. The password is
    never here: only where it lives (an environment variable or a file), read when the worker connects."""

    host: str
    port: int
    database: str
    user: str
    password_env: str | None = None
    password_file: Path | None = None
    options: tuple[tuple[str, str], ...] = ()  # libpq connection options from the URL (sslmode ...)

    def __str__(self) -> str:
        """As errors and `status` name it: never with a password (it has none)."""
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.database}"


@dataclass(frozen=True)
class Settings:
    path: Path  # the config file, for messages
    state: Path | PostgresState  # the SQLite file (the default), or a PostgreSQL database
    mailboxes: tuple[MailboxSettings, ...]
    sinks: tuple[SinkSettings, ...]
    log_format: Literal["text", "json"] = "text"
    log_level: str = "INFO"
    metrics: MetricsSettings | None = None  # off by default
    jobs: int = 1  # processes that analyse the messages; 1: in the worker's own process
    cluster: ClusterSettings = field(default_factory=ClusterSettings)  # PostgreSQL: leases among workers

    def mailbox(self, name: str) -> MailboxSettings:
        for mailbox in self.mailboxes:
            if mailbox.name == name:
                return mailbox
        raise KeyError(name)

    def sinks_for(self, mailbox: MailboxSettings) -> tuple[SinkSettings, ...]:
        if not mailbox.sinks:
            return self.sinks
        return tuple(sink for sink in self.sinks if sink.name in mailbox.sinks)
