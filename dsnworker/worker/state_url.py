"""`state = "postgresql://USER@HOST:PORT/DB"`: the URL read into `PostgresState`, or refused with what to do.

A password in the URL is refused without repeating the URL: it is a secret, and the configuration
never holds one (it comes from `state_password_env` or `state_password_file`, as mailbox passwords
do). Query options are libpq's, limited to those about the connection itself (TLS, timeouts): one
named `password` or `passfile` would be a secret, or point to one, by another road.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from dsnworker.worker.settings import PostgresState

SCHEMES = ("postgresql://", "postgres://")
DEFAULT_PORT = 5432
OPTIONS = frozenset({"sslmode", "sslrootcert", "sslcert", "sslkey", "sslcrl", "connect_timeout", "application_name"})
SHAPE = "postgresql://USER@HOST:PORT/DATABASE"


def is_postgres_url(value: object) -> bool:
    return isinstance(value, str) and value.lower().startswith(SCHEMES)


def parse_state_url(value: str, password_env: str | None, password_file: Path | None) -> PostgresState:
    """The PostgreSQL state the URL names; ValueError with a message for the user (never the URL's secret)."""
    parts = urlsplit(value)
    try:
        port = parts.port or DEFAULT_PORT
    except ValueError:
        raise ValueError(f"expected {SHAPE} with a port 1-65535") from None
    if parts.password is not None:
        raise ValueError(
            f"expected {SHAPE} without a password (the URL is not repeated here: it holds one): a secret is "
            "never written in the configuration; put the password in an environment variable named by "
            "state_password_env, or in a file (chmod 600) named by state_password_file"
        )
    user = unquote(parts.username or "")
    database = unquote(parts.path.removeprefix("/"))
    if not user or not parts.hostname or not database or "/" in database:
        raise ValueError(f"expected {SHAPE} (user, host and database all named), got {value!r}")
    options = []
    for key, option in parse_qsl(parts.query, keep_blank_values=True):
        if key not in OPTIONS:
            allowed = ", ".join(sorted(OPTIONS))
            raise ValueError(f"expected only these options after '?': {allowed}; got {key!r}")
        options.append((key, option))
    return PostgresState(
        host=parts.hostname,
        port=port,
        database=database,
        user=user,
        password_env=password_env,
        password_file=password_file,
        options=tuple(options),
    )
