"""`dsnworker migrate --from sqlite:PATH --to postgresql://USER@HOST:PORT/DB`: a SQLite state moved into
PostgreSQL (see `worker.migrate`).

The target is named by `--to` with its password in `--to-password-env` or `--to-password-file`, or by
`-c CONFIG`: the configuration the worker will run with, its `state` already the PostgreSQL URL and its
password keys read as the worker reads them. The password is never a command-line argument (other
users of the machine see those).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dsnworker.errors import DsnworkerError

SQLITE_PREFIX = "sqlite:"


def register(commands: Any) -> None:
    migrate = commands.add_parser(
        "migrate", help="copy a SQLite state (cursors, processed keys, outbox, everything) into PostgreSQL"
    )
    migrate.add_argument(
        "--from", dest="source", required=True, metavar="sqlite:PATH", help="the SQLite state file to copy"
    )
    target = migrate.add_mutually_exclusive_group(required=True)
    target.add_argument("--to", metavar="postgresql://USER@HOST:PORT/DB", help="the database to fill")
    target.add_argument(
        "-c", "--config", type=Path, metavar="FILE", help="take the database (and its password) from this configuration"
    )
    password = migrate.add_mutually_exclusive_group()
    password.add_argument("--to-password-env", metavar="NAME", help="the environment variable holding the password")
    password.add_argument("--to-password-file", type=Path, metavar="FILE", help="a file (chmod 600) holding it")
    migrate.add_argument(
        "--replace",
        action="store_true",
        help="the database already holds a dsnworker state: delete its rows and copy the file's in their place",
    )
    migrate.set_defaults(run=_cmd_migrate)


def _cmd_migrate(args: argparse.Namespace) -> int:
    from dsnworker.worker.migrate import migrate

    source = _source(args.source)
    target = _target(args)
    done = migrate(source, target, replace=args.replace)
    print(f"migrated {source} (schema version {_version()}) into {target}, in one transaction:")
    if done.replaced:
        print(f"  replaced: {sum(done.replaced.values())} row(s) the database held before were deleted")
    width = max(len(name) for name in done.rows)
    for name, count in done.rows.items():
        print(f"  {name.ljust(width)}  {count:>9} row(s)")
    for column, last in done.sequences.items():
        print(f"  {column} continues after {last}")
    print(
        f'next: set state = "{target}" in the configuration (the password in state_password_env or '
        "state_password_file) and start the worker; the SQLite file is left as it was: keep it as a backup, "
        "and start no worker on it again"
    )
    return 0


def _version() -> int:
    from dsnworker.worker.state import SCHEMA_VERSION

    return SCHEMA_VERSION


def _source(text: str) -> Path:
    if text.lower().startswith(("postgresql:", "postgres:")):
        raise DsnworkerError(
            f"--from: expected {SQLITE_PREFIX}PATH (a SQLite state file); migrate copies from SQLite into PostgreSQL"
        )
    path = text.removeprefix(SQLITE_PREFIX)
    if not path:
        raise DsnworkerError(f"--from: expected {SQLITE_PREFIX}PATH, the state file, got {text!r}")
    return Path(path)


def _target(args: argparse.Namespace) -> Any:
    from dsnworker.worker.settings import PostgresState
    from dsnworker.worker.state_url import SHAPE, is_postgres_url, parse_state_url

    if args.config is not None:
        if args.to_password_env or args.to_password_file:
            raise DsnworkerError(
                "--to-password-env and --to-password-file go with --to; with -c the configuration's "
                "state_password_env or state_password_file is used"
            )
        from dsnworker.worker.config import load_settings

        settings = load_settings(args.config)
        if not isinstance(settings.state, PostgresState):
            raise DsnworkerError(
                f"{args.config}: state: expected the PostgreSQL database to migrate into ({SHAPE}), "
                f"got the SQLite file {settings.state}"
            )
        return settings.state
    if not is_postgres_url(args.to):
        raise DsnworkerError(f"--to: expected {SHAPE}, got {args.to!r}")
    if urlsplit(args.to).password is not None:  # said without repeating the URL: it holds a secret
        raise DsnworkerError(
            f"--to: expected {SHAPE} without a password (a command line is seen by every user of the machine): "
            "give --to-password-env NAME (a variable holding it) or --to-password-file FILE"
        )
    try:
        return parse_state_url(args.to, args.to_password_env, args.to_password_file)
    except ValueError as problem:
        raise DsnworkerError(f"--to: {problem}") from None
