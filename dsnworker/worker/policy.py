"""From a message's outcomes to the events that go out, with the memory a single bounce lacks.

- Soft bounces (`retry`) are counted per recipient and mailbox; N within the window turn into
  `suppress`; a `delivered` DSN resets the count. Delay notices are not counted: the sending MTA
  is still trying, and the failure it reports at the end is what counts.
- `sender_fix` outcomes never speak about the recipient: they open or count an incident keyed by
  (provider, blocklist, listed IP or host), so ten thousand refusals make one alert, not ten thousand.

Runs inside the store's open transaction: what it reads and writes commits with the outcomes.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from dsnworker.model import Outcome
from dsnworker.output import outcome_record
from dsnworker.worker import events as ev
from dsnworker.worker.retention import OUTCOME_KEEP
from dsnworker.worker.settings import Policy
from dsnworker.worker.state import Incident, OutcomeKind, Store


@dataclass(frozen=True)
class MessageContext:
    mailbox: str
    key: str  # sha256 of the message bytes
    uid: int | None
    received: datetime  # when the worker took it: the clock of the soft-bounce window
    bounced_at: str | None = None  # the bounce's own Date, UTC


@dataclass
class BatchTally:
    """What one batch did, for the pass summary and the incident updates at its end."""

    recipients: int = 0  # outcomes other than not_bounce
    suppressed: int = 0
    touched_incidents: dict[str, str] = field(default_factory=dict)  # key -> mailbox
    # (provider or "", reason, the action taken) -> outcomes: what the metrics count once committed
    outcomes: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    # what the report's daily counts add when the batch is recorded (one write per kind, not per outcome)
    days: Counter[OutcomeKind] = field(default_factory=Counter)


def recipient_key(address: str) -> str:
    """The address as history knows it: domain lowercased (the local part's case may matter), and
    storable as UTF-8 whatever undecodable input it came from."""
    storable = address.encode("utf-8", "backslashreplace").decode("utf-8")
    local, at, domain = storable.rpartition("@")
    return f"{local}@{domain.lower()}" if at else storable


class PolicyEngine:
    def __init__(self, store: Store, policy: Policy) -> None:
        self.store = store
        self.policy = policy

    def events_for(self, context: MessageContext, outcomes: list[Outcome], tally: BatchTally) -> list[dict[str, Any]]:
        produced: list[dict[str, Any]] = []
        for index, outcome in enumerate(outcomes):
            event = self._event_for(context, index, outcome, tally)
            if event is not None:
                produced.append(event)
            if outcome.verdict.reason != "not_bounce":
                action = event["data"]["action"] if event is not None else outcome.verdict.action
                tally.outcomes[(outcome.verdict.provider or "", outcome.verdict.reason, action)] += 1
        return produced

    def _event_for(
        self, context: MessageContext, index: int, outcome: Outcome, tally: BatchTally
    ) -> dict[str, Any] | None:
        verdict = outcome.verdict
        if verdict.reason == "not_bounce":
            return None
        tally.recipients += 1
        data = outcome_record(outcome)
        del data["source"]
        data["mailbox"] = context.mailbox
        data["uid"] = context.uid
        data["message_key"] = context.key  # the recipients of one bounce share it
        data["bounced_at"] = context.bounced_at
        recipient = data.get("recipient")
        action = verdict.action

        if verdict.reason == "delivered" and recipient:
            self.store.reset_soft_bounces(context.mailbox, recipient_key(recipient))
        if action == "sender_fix":
            self._count_for_report(context, verdict.reason, action, data, tally)
            return self._count_incident(context, data, tally)
        # a delay notice is not a bounce yet: the MTA is still trying, and its final report will count
        if action == "retry" and recipient and not verdict.details.get("delayed"):
            action = self._count_soft_bounce(context, recipient_key(recipient), data)
        self._count_for_report(context, verdict.reason, action, data, tally)
        if action == "suppress":
            tally.suppressed += 1
            data["action"] = "suppress"
            data.setdefault("suppressed_because", _why_suppressed(verdict.reason, verdict.hard))
            kind = ev.RECIPIENT_SUPPRESSED
            if recipient:  # expiry counts from the latest suppression, which the file's row does not say
                self.store.note_suppressed(context.mailbox, recipient_key(recipient), ev.timestamp(context.received))
        elif action == "fix_address":
            kind = ev.ADDRESS_FIX_NEEDED
        elif action in ("retry", "review"):
            kind = ev.RECIPIENT_BOUNCED
        else:  # ignore: auto-replies, success DSNs
            return None
        return ev.make_event(kind, ev.event_id(context.key, index, kind), context.received, data)

    def _count_for_report(
        self, context: MessageContext, reason: str, action: str, data: dict[str, Any], tally: BatchTally
    ) -> None:
        day = outcome_day(context.bounced_at, context.received)
        tally.days[(day, context.mailbox, data.get("provider"), reason, action, bool(data.get("hard")))] += 1

    def _count_soft_bounce(self, context: MessageContext, recipient: str, data: dict[str, Any]) -> str:
        at = context.received.timestamp()
        self.store.add_soft_bounce(context.mailbox, recipient, at)
        since = at - timedelta(days=self.policy.soft_window_days).total_seconds()
        count, first = self.store.soft_bounces_since(context.mailbox, recipient, since)
        first_seen = ev.timestamp(datetime.fromtimestamp(first or at, UTC))
        data["soft_bounces"] = {"count": count, "since": first_seen, "threshold": self.policy.soft_threshold}
        if count >= self.policy.soft_threshold:
            data["suppressed_because"] = "soft_bounce_threshold"
            return "suppress"
        return "retry"

    def _count_incident(
        self, context: MessageContext, data: dict[str, Any], tally: BatchTally
    ) -> dict[str, Any] | None:
        """Open an incident (its event is returned) or count one more refusal in it (no event yet)."""
        listed = data.get("listed_ip") or data.get("listed_host")
        blocklist = data.get("blocklist")
        # without a list or a listed name (auth, PTR, refused sender), the reason tells incidents apart
        key = "|".join((data.get("provider") or "-", blocklist or "-", listed or data["reason"]))
        seen = ev.timestamp(context.received)
        incident = self.store.incident(key)
        if incident is None:
            details = {
                name: data[name]
                for name in ("listed_ip", "listed_host", "delist_url", "ref", "status", "reply_code", "diagnostic")
                if data.get(name) is not None
            }
            details["opened_by"] = context.key  # the bounce that opened it: its events' ids are its own
            incident = Incident(
                key=key,
                mailbox=context.mailbox,
                provider=data.get("provider"),
                reason=data["reason"],
                blocklist=blocklist,
                listed=listed,
                details=details,
                first_seen=seen,
                last_seen=seen,
                count=1,
                reported_count=1,
            )
            self.store.save_incident(incident)
            opened_id = ev.event_id("incident", key, "opened", *_incarnation(incident))
            return ev.make_event(ev.INCIDENT_OPENED, opened_id, context.received, incident_data(incident))
        self.store.save_incident(replace(incident, last_seen=seen, count=incident.count + 1))
        tally.touched_incidents[key] = context.mailbox
        return None

    def incident_updates(self, tally: BatchTally, moment: datetime) -> list[tuple[str, dict[str, Any]]]:
        """(mailbox, event): one `incident.updated` per incident whose count grew in this batch."""
        updates = []
        for key, mailbox in tally.touched_incidents.items():
            incident = self.store.incident(key)
            if incident is None or incident.count <= incident.reported_count:
                continue
            self.store.save_incident(replace(incident, reported_count=incident.count))
            event_id = ev.event_id("incident", key, "updated", incident.count, *_incarnation(incident))
            updates.append((mailbox, ev.make_event(ev.INCIDENT_UPDATED, event_id, moment, incident_data(incident))))
        return updates


_STAMP_LENGTH = len("2026-01-01T00:00:00Z")


def outcome_day(bounced_at: str | None, received: datetime) -> str:
    """The day (UTC) an outcome counts on in the report: the bounce's own Date, so that a backlog read
    at the first start shows when its bounces happened; the day the worker read it when that Date is
    missing, later than the reading (a wrong clock) or older than the report keeps."""
    # both stamps in one format, compared as text rather than parsed (strptime: 11 us an outcome); a
    # year before 1000 is written shorter (strftime pads no zeros): older than the report keeps anyway
    if (
        bounced_at is not None
        and len(bounced_at) == _STAMP_LENGTH
        and ev.timestamp(received - OUTCOME_KEEP) < bounced_at <= ev.timestamp(received)
    ):
        return bounced_at[:10]
    return ev.timestamp(received)[:10]


def _incarnation(incident: Incident) -> tuple[str, ...]:
    """What tells this incident from an earlier one of the same key, closed and pruned since (none for an
    incident opened before incidents were pruned: its ids stay as they were)."""
    opened_by = incident.details.get("opened_by")
    return (opened_by,) if isinstance(opened_by, str) else ()


def _why_suppressed(reason: str, hard: bool) -> str:
    if reason == "feedback":
        return "complaint"
    return "hard_bounce" if hard else "action_map"  # a reason the (overridable) map sends to suppress


def incident_data(incident: Incident) -> dict[str, Any]:
    return {
        "incident": incident.key,
        "mailbox": incident.mailbox,
        "provider": incident.provider,
        "reason": incident.reason,
        "action": "sender_fix",
        "blocklist": incident.blocklist,
        "listed_ip": incident.details.get("listed_ip"),
        "listed_host": incident.details.get("listed_host"),
        "delist_url": incident.details.get("delist_url"),
        "ref": incident.details.get("ref"),
        "status": incident.details.get("status"),
        "reply_code": incident.details.get("reply_code"),
        "diagnostic": incident.details.get("diagnostic"),
        "count": incident.count,
        "first_seen": incident.first_seen,
        "last_seen": incident.last_seen,
    }
