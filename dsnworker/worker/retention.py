"""How long the state remembers what it no longer needs: processed messages and closed incidents.

Processed keys exist so that a message is never counted twice. A message is met again only while it
is in the folder: a local source (maildir, mbox) lists every message at each pass, and an IMAP pass
reads only UIDs above the cursor, meeting old messages again only after a UIDVALIDITY change. So a
key is forgotten `PROCESSED_KEEP` after the last pass that met it, when its message cannot come
round again: for a local source, any message not met since (it left the folder); for IMAP, only a
message its disposition took out of the folder (moved, deleted). 90 days is far beyond any
re-delivery of a bounce (an MTA gives up within 5 days) and any pending move.

An incident no refusal has counted for `INCIDENT_QUIET` is closed and forgotten; a later refusal opens
a new one, with event ids of its own (see `policy`).

The report's daily counts are kept `OUTCOME_KEEP`: a year and a month, so that a month can be set
beside the same month a year before. They hold no address, and weigh a row per day, mailbox,
provider, reason and action that occurred (a few hundred a day at most), not one per bounce.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from dsnworker.worker import events as ev
from dsnworker.worker.settings import Settings
from dsnworker.worker.state import Store

PROCESSED_KEEP = timedelta(days=90)
INCIDENT_QUIET = timedelta(days=30)
OUTCOME_KEEP = timedelta(days=400)


@dataclass(frozen=True)
class Pruned:
    processed: int
    incidents: int
    outcome_days: int


def prune_state(store: Store, settings: Settings, now: datetime) -> Pruned:
    processed = 0
    for mailbox in settings.mailboxes:
        processed += store.prune_processed(
            mailbox.name, ev.timestamp(now - PROCESSED_KEEP), every_pass_lists_all=mailbox.source != "imap"
        )
    incidents = store.prune_incidents(ev.timestamp(now - INCIDENT_QUIET))
    outcome_days = store.prune_outcome_days((now - OUTCOME_KEEP).astimezone(UTC).strftime("%Y-%m-%d"))
    return Pruned(processed, incidents, outcome_days)
