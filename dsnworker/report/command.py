"""`dsnworker report -c FILE [--since 30d] [--format table|json|html] [-o FILE]`: the CLI's part.

It reads the configuration's state (a SQLite file or a PostgreSQL database) read-only and takes no
lock: it runs beside a running worker.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from dsnworker.errors import DsnworkerError

if TYPE_CHECKING:  # imported where used: every command builds this parser, only `report` runs it
    from datetime import date, datetime

SINCE_HELP = "the first day (UTC): a duration back from now (30d, 36h) or a date (2026-11-01); default 30d"


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    report = commands.add_parser("report", help="bounces per day and provider, from the state (read-only)")
    report.add_argument("-c", "--config", required=True, type=Path, metavar="FILE", help="the TOML configuration")
    report.add_argument("--since", default="30d", metavar="WHEN", help=SINCE_HELP)
    report.add_argument("--format", choices=("table", "json", "html"), default="table")
    report.add_argument("-o", "--output", type=Path, metavar="FILE", help="write here instead of standard output")
    report.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from dsnworker.report.summary import summarise
    from dsnworker.worker import events as ev
    from dsnworker.worker.config import load_settings
    from dsnworker.worker.retention import INCIDENT_QUIET

    now = datetime.now(UTC)
    since = since_day(args.since, now)
    settings = load_settings(args.config)
    incidents_since = ev.timestamp(now - INCIDENT_QUIET)
    if isinstance(settings.state, Path):
        from dsnworker.worker.state_reader import read_report_data

        data = read_report_data(settings.state, since.isoformat(), incidents_since)
    else:  # PostgreSQL: psycopg imported only for it
        from dsnworker.worker import state_reader_pg

        data = state_reader_pg.read_report_data(settings.state, since.isoformat(), incidents_since)
    report = summarise(str(settings.state), data, since, now.date())
    if args.format == "json":
        text = json.dumps(report.to_dict(), ensure_ascii=False, indent=2) + "\n"
    elif args.format == "html":
        from dsnworker.report.html import render_html

        text = render_html(report)
    else:
        from dsnworker.report.text import render_text

        text = render_text(report)
    if args.output is None:
        sys.stdout.write(text)
    else:
        write_file(args.output, text)
    return 0


def since_day(text: str, now: datetime) -> date:
    """The report's first day (UTC) from `--since`: a date, or the day a duration back from now."""
    from datetime import UTC, date, datetime

    from dsnworker.worker.config import parse_duration
    from dsnworker.worker.retention import OUTCOME_KEEP

    keep = OUTCOME_KEEP.days
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text.strip()):
        try:
            day = date.fromisoformat(text.strip())
        except ValueError as exc:
            raise DsnworkerError(f"--since {text!r}: not a date ({exc})") from None
    else:
        try:
            seconds = parse_duration(text)
        except ValueError as exc:
            raise DsnworkerError(f"--since: {exc}, or a date such as 2026-11-01") from None
        if seconds > keep * 86400:
            raise DsnworkerError(f"--since {text!r}: the state keeps {keep} days of daily counts; give at most {keep}d")
        day = datetime.fromtimestamp(now.timestamp() - seconds, UTC).date()
    if day > now.date():
        raise DsnworkerError(f"--since {text!r}: a day after today ({now.date()} in UTC)")
    return day


def write_file(path: Path, text: str) -> None:
    """Whole or not at all: a page opened while it is written is the previous one, not half of this."""
    import tempfile

    try:
        folder = path.absolute().parent
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=folder)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                file.write(text)
            os.chmod(temporary, 0o666 & ~_umask())  # as open() would make it: mkstemp's is 0600
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise DsnworkerError(f"cannot write the report to {path}: {exc.strerror or exc}") from None


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
