"""Events in the Standard Webhooks envelope `{id, type, timestamp, data}`, with ids that never change.

An event's id is derived from what it is about (the message's bytes, the recipient's place in it, the
event type; an incident's key and count), never from when it was made: the same bounce always yields
the same id, so a consumer dedupes redeliveries by id.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

RECIPIENT_SUPPRESSED = "recipient.suppressed"
RECIPIENT_BOUNCED = "recipient.bounced"
ADDRESS_FIX_NEEDED = "address.fix_needed"
INCIDENT_OPENED = "incident.opened"
INCIDENT_UPDATED = "incident.updated"
MESSAGE_UNPARSED = "message.unparsed"

EVENT_TYPES = (
    RECIPIENT_SUPPRESSED,
    RECIPIENT_BOUNCED,
    ADDRESS_FIX_NEEDED,
    INCIDENT_OPENED,
    INCIDENT_UPDATED,
    MESSAGE_UNPARSED,
)


def event_id(*parts: object) -> str:
    digest = hashlib.sha256("\x1f".join(str(part) for part in parts).encode()).hexdigest()
    return f"evt_{digest[:32]}"


def timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def make_event(type_: str, id_: str, moment: datetime, data: dict[str, Any]) -> dict[str, Any]:
    return {"id": id_, "type": type_, "timestamp": timestamp(moment), "data": data}
