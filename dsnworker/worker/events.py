"""Events in the Standard Webhooks envelope `{id, type, timestamp, data}`, with ids that never change.

An event's id is derived from what it is about (the message's bytes, the recipient's place in it, the
event type; an incident's key and count), never from when it was made: the same bounce always yields
the same id, so a consumer dedupes redeliveries by id.
"""

from __future__ import annotations

import functools
import hashlib
from datetime import UTC, datetime
from typing import Any

RECIPIENT_SUPPRESSED = "recipient.suppressed"
RECIPIENT_BOUNCED = "recipient.bounced"
ADDRESS_FIX_NEEDED = "address.fix_needed"
INCIDENT_OPENED = "incident.opened"
INCIDENT_UPDATED = "incident.updated"
MESSAGE_UNPARSED = "message.unparsed"
RECIPIENT_UNSUPPRESSED = "recipient.unsuppressed"

EVENT_TYPES = (
    RECIPIENT_SUPPRESSED,
    RECIPIENT_BOUNCED,
    ADDRESS_FIX_NEEDED,
    INCIDENT_OPENED,
    INCIDENT_UPDATED,
    MESSAGE_UNPARSED,
    RECIPIENT_UNSUPPRESSED,
)


def event_id(*parts: object) -> str:
    digest = hashlib.sha256("\x1f".join(str(part) for part in parts).encode()).hexdigest()
    return f"evt_{digest[:32]}"


@functools.lru_cache(maxsize=64)  # a batch's events share one moment: formatted once
def timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def make_event(type_: str, id_: str, moment: datetime, data: dict[str, Any]) -> dict[str, Any]:
    return {"id": id_, "type": type_, "timestamp": timestamp(moment), "data": data}


def sample_event() -> dict[str, Any]:
    """A recognisable `recipient.bounced` event for `dsnworker webhook test` (example.com, RFC 2606)."""
    now = datetime.now(UTC)
    data = {
        "recipient": "webhook-test@example.com",
        "original_recipient": None,
        "status": "4.2.2",
        "reply_code": "452",
        "diagnostic": "452 4.2.2 Mailbox full (a test event sent by `dsnworker webhook test`)",
        "remote_mta": None,
        "reporting_mta": None,
        "reason": "mailbox_full",
        "hard": False,
        "action": "review",  # not `retry`: a consumer counting soft bounces must not count this one
        "provider": None,
        "rule": None,
        "mailbox": "webhook-test",
        "uid": None,
        "message_key": "0" * 64,
        "bounced_at": timestamp(now),
        "test": True,
    }
    return make_event(RECIPIENT_BOUNCED, event_id("webhook test", now.isoformat()), now, data)
