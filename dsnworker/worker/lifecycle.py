"""The suppression lifecycle: an operator's un-suppression (`suppressions remove`) and per-reason expiry.

Both go through the outbox as `recipient.unsuppressed` events. One transaction commits the event;
then delivery takes the row out of the suppression file (which applies its events in outbox order,
see `sinks.suppression`) and appends the event to the events file; the webhook queues take it from
the outbox. A crash anywhere is replayed by the next delivery (this command again, `poll` or `run`):
the event's id is derived from the row it removes, so doing it twice adds nothing twice. The
address's history in the state (soft bounces, incidents, past events) is kept, and a later bounce
suppresses the address again with a new row.

Expiry counts from the latest suppression of the address: the row's `last_seen`, or a later
`recipient.suppressed` the state noted while the row was already there (a row is never updated).
"""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from dsnworker.sinks.suppression import Row, address_key, iter_suppressions
from dsnworker.worker import events as ev
from dsnworker.worker.delivery import OutboxDelivery
from dsnworker.worker.faults import crash_point
from dsnworker.worker.policy import recipient_key
from dsnworker.worker.settings import MailboxSettings, Settings, SinkSettings
from dsnworker.worker.state import Store

OPERATOR, EXPIRED = "operator", "expired"


@dataclass(frozen=True)
class Suppression:
    """A row of a suppression file, and the mailbox whose events reach that file (the row's own if it can)."""

    sink: SinkSettings
    row: Row
    mailbox: str


def who() -> str:
    """The person running the command: the user behind sudo, else the OS user."""
    sudo = os.environ.get("SUDO_USER")
    if sudo:
        return sudo
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no passwd entry (a container): the uid still says who
        return f"uid {os.getuid()}"


def find(settings: Settings, address: str) -> list[Suppression]:
    """The rows for `address` in every suppression file (matched as the file dedupes: domain in any case)."""
    wanted = address_key(address)
    found = []
    for sink, feeding in _suppression_sinks(settings):
        assert sink.path is not None
        if not feeding or not sink.path.exists():
            continue
        for row in iter_suppressions(sink.path, sink.format):
            if address_key(row.get("email") or "") == wanted:
                own = row.get("mailbox")
                found.append(Suppression(sink, row, own if own in feeding else next(iter(feeding))))
    return found


def unsuppress(
    settings: Settings, store: Store, address: str, *, by: str, note: str, now: datetime
) -> tuple[list[Suppression], list[dict[str, Any]]]:
    """Take `address` out of the suppression files: (the rows found, the events committed). Delivers
    whatever the outbox holds for the file sinks, also when nothing was found (a rerun after a crash)."""
    found = find(settings, address)
    made = []
    with store.transaction():
        for item in found:
            event = unsuppressed_event(item, OPERATOR, now, {"by": by, "note": note})
            if store.add_event(item.mailbox, event):
                made.append(event)
    crash_point("after_unsuppress_commit")
    OutboxDelivery.for_settings(store, settings).deliver_pending()
    return found, made


def expire(settings: Settings, store: Store, delivery: OutboxDelivery, now: datetime) -> list[dict[str, Any]]:
    """Un-suppress every row whose reason has an `expire_after` in its mailbox's policy and whose latest
    suppression is that old; the events committed (each a `recipient.unsuppressed`, `expired`)."""
    due: list[tuple[Suppression, MailboxSettings, float]] = []
    for sink, feeding in _suppression_sinks(settings):
        assert sink.path is not None
        if not sink.path.exists():
            continue
        for row in iter_suppressions(sink.path, sink.format):
            mailbox = feeding.get(row.get("mailbox") or "")
            seconds = mailbox.policy.expire_after.get(row.get("reason") or "") if mailbox else None
            if mailbox is not None and seconds is not None and row.get("email"):
                due.append((Suppression(sink, row, mailbox.name), mailbox, seconds))
    if not due:
        return []
    made = []
    with store.transaction():
        for item, mailbox, seconds in due:
            noted = store.last_suppressed(item.mailbox, recipient_key(item.row.get("email") or ""))
            latest = max(filter(None, (_moment(item.row.get("last_seen")), _moment(noted))), default=None)
            if latest is None or latest + timedelta(seconds=seconds) > now:
                continue  # not yet, or a row whose age cannot be read (edited by hand): kept
            extra = {"expire_after": _say(seconds), "last_suppressed": ev.timestamp(latest), "by": None, "note": None}
            event = unsuppressed_event(item, EXPIRED, now, extra)
            if store.add_event(mailbox.name, event):
                made.append(event)
    crash_point("after_expiry_commit")
    delivery.deliver_pending()
    return made


def unsuppressed_event(item: Suppression, because: str, now: datetime, extra: dict[str, Any]) -> dict[str, Any]:
    """The `recipient.unsuppressed` event for one row; its id comes from the row (a rerun makes the same)."""
    row = item.row
    email = row.get("email") or ""
    data: dict[str, Any] = {
        "recipient": email,
        "mailbox": item.mailbox,
        "reason": row.get("reason"),
        "status": row.get("status"),
        "provider": row.get("provider"),
        "rule": row.get("rule"),
        "suppressed_since": row.get("first_seen"),
        "unsuppressed_because": because,
        "expired": because == EXPIRED,
        **extra,
    }
    event_id = ev.event_id("unsuppressed", address_key(email), row.get("first_seen"), row.get("last_seen"), because)
    return ev.make_event(ev.RECIPIENT_UNSUPPRESSED, event_id, now, data)


def _suppression_sinks(settings: Settings) -> list[tuple[SinkSettings, dict[str, MailboxSettings]]]:
    """Each suppression file sink and the mailboxes that feed it (in configuration order)."""
    return [
        (sink, {m.name: m for m in settings.mailboxes if sink in settings.sinks_for(m)})
        for sink in settings.sinks
        if sink.kind == "suppression_file"
    ]


def _moment(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _say(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"
