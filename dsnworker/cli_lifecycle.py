"""`dsnworker suppressions remove` and `dsnworker erase`: the commands of the suppression lifecycle.

Both may run while a worker runs: they take the locks the worker takes (see `worker.lifecycle` and
`worker.erasure`), not the one-worker lock.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from dsnworker.errors import DsnworkerError


def register(commands: Any, suppression_commands: Any) -> None:
    """Add `suppressions remove` and `erase` to the parser's subcommands."""
    remove = suppression_commands.add_parser(
        "remove", help="un-suppress an address: its row leaves the file, a recipient.unsuppressed event says why"
    )
    remove.add_argument("-c", "--config", required=True, type=Path, metavar="FILE")
    remove.add_argument("address", metavar="ADDRESS")
    remove.add_argument("--note", required=True, metavar="TEXT", help="why (kept in the event)")
    remove.add_argument("--by", metavar="NAME", help="who asked (default: the OS user, or the user behind sudo)")
    remove.set_defaults(run=_cmd_remove)

    erase = commands.add_parser(
        "erase", help="a data-protection request: the address leaves the state, the events and suppression files"
    )
    erase.add_argument("-c", "--config", required=True, type=Path, metavar="FILE")
    erase.add_argument("address", metavar="ADDRESS")
    erase.set_defaults(run=_cmd_erase)


def _open(config: Path) -> tuple[Any, Any]:
    from dsnworker.worker.config import load_settings
    from dsnworker.worker.stores import open_store

    settings = load_settings(config)
    if isinstance(settings.state, Path) and not settings.state.exists():
        raise DsnworkerError(f"{config}: state file {settings.state} does not exist: nothing has run with it yet")
    return settings, open_store(settings)


def _cmd_remove(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from dsnworker.worker.lifecycle import unsuppress, who

    address = args.address.strip()
    if not address or not args.note.strip():
        raise DsnworkerError("suppressions remove: the address and --note must not be empty")
    settings, store = _open(args.config)
    if not any(sink.kind == "suppression_file" for sink in settings.sinks):
        raise DsnworkerError(f"{args.config}: no suppression_file sink")
    found, made = unsuppress(settings, store, address, by=args.by or who(), note=args.note, now=datetime.now(UTC))
    if not found:
        print(f"{address} is not in a suppression file; nothing to remove", file=sys.stderr)
        return 1
    events = {event["data"]["recipient"]: event["id"] for event in made}
    for item in found:
        email = item.row.get("email")
        print(
            f"removed {email} from {item.sink.path} (reason {item.row.get('reason') or '-'}, suppressed since "
            f"{item.row.get('first_seen') or '-'}): recipient.unsuppressed {events.get(email, '(already queued)')}"
        )
    if any(sink.kind == "webhook" for sink in settings.sinks):
        print("webhooks: the event is sent by the worker's next delivery round (run, or the next poll)")
    return 0


def _cmd_erase(args: argparse.Namespace) -> int:
    from dsnworker.worker.erasure import erase

    if not args.address.strip():
        raise DsnworkerError("erase: the address must not be empty")
    settings, store = _open(args.config)
    report = erase(settings, store, args.address)
    print(f"erased {report.address}:")
    print(
        f"  {settings.state}: {report.outbox_events} event(s) deleted from the outbox "
        f"({report.webhook_queue} webhook queue row(s)), {report.events_scrubbed} other event(s) scrubbed, "
        f"{report.soft_bounces} soft bounce(s), {report.suppression_history} suppression record(s), "
        f"{report.incidents_scrubbed} incident(s) scrubbed"
    )
    if not report.wal_truncated:
        print("  (a running worker holds the state's write-ahead log: its old pages are overwritten as it goes on)")
    if report.rewritten:
        print(
            f"  rewrote {', '.join(report.rewritten)} (VACUUM FULL): the old rows left the database's files; the "
            "server's write-ahead log, WAL archives, backups and replicas keep them for their own retention"
        )
    for path, what, removed, scrubbed in report.files:
        print(f"  {path}: {removed} {what} removed" + (f", {scrubbed} scrubbed" if scrubbed else ""))
    print("  not touched: the bounce messages in the mailboxes, and what webhook consumers already received")
    return 0
