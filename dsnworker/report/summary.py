"""The report's figures: per day and provider, per provider, and in all; the open incidents.

A *bounce* here is an outcome the worker acted on: every action but `ignore` (auto-replies and
success DSNs, counted apart as `ignored`). The hard share is of the bounces; a complaint is an
outcome of reason `feedback` (ARF), also counted in its action (`suppress`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from dsnworker.worker.state_reader import OpenIncident, OutcomeCount, ReportData

# the order of the columns and of a stacked bar: what costs the sender most first
ACTIONS = ("suppress", "retry", "review", "fix_address", "sender_fix")
IGNORED = "ignore"
COMPLAINT = "feedback"
TOP_REASONS = 3
NO_PROVIDER = "-"  # no rule named the provider


@dataclass
class Tally:
    """The counts of one cell: a day and provider, a provider, a day, or everything."""

    actions: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)
    hard: int = 0
    complaints: int = 0
    ignored: int = 0

    @property
    def bounces(self) -> int:
        return sum(self.actions.values())

    @property
    def hard_share(self) -> float | None:
        return self.hard / self.bounces if self.bounces else None

    def add(self, row: OutcomeCount) -> None:
        if row.action == IGNORED:
            self.ignored += row.count
            return
        self.actions[row.action] += row.count
        self.reasons[row.reason] += row.count
        self.hard += row.count if row.hard else 0
        self.complaints += row.count if row.reason == COMPLAINT else 0

    def top_reasons(self, count: int = TOP_REASONS) -> list[tuple[str, int]]:
        # ties by name, so that the same state always gives the same report
        return sorted(self.reasons.items(), key=lambda item: (-item[1], item[0]))[:count]

    def to_dict(self) -> dict[str, Any]:
        share = self.hard_share
        return {
            "bounces": self.bounces,
            "actions": {action: self.actions.get(action, 0) for action in _actions_of(self.actions)},
            "hard": self.hard,
            "hard_share": None if share is None else round(share, 4),
            "complaints": self.complaints,
            "ignored": self.ignored,
            "top_reasons": [{"reason": reason, "count": count} for reason, count in self.top_reasons()],
        }


@dataclass
class Report:
    state: str
    since: date
    until: date
    cells: dict[tuple[str, str | None], Tally]  # (day, provider) -> counts, by day, then most bounces first
    days: dict[str, Tally]  # every day of the period, those without outcomes too (a chart's x axis)
    providers: dict[str | None, Tally]  # most bounces first; None: no rule named the provider
    total: Tally
    incidents: list[OpenIncident]

    @property
    def actions(self) -> tuple[str, ...]:
        """The columns: the known actions, then any other a rule pack's action map may name."""
        return _actions_of(self.total.actions)

    def open_incidents_by_provider(self) -> Counter[str | None]:
        return Counter(incident.provider for incident in self.incidents)

    def to_dict(self) -> dict[str, Any]:
        incidents = self.open_incidents_by_provider()
        return {
            "state": self.state,
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "days": [
                {"day": day, "provider": provider, **tally.to_dict()} for (day, provider), tally in self.cells.items()
            ],
            "per_day": [{"day": day, **tally.to_dict()} for day, tally in self.days.items()],
            "providers": [
                {"provider": provider, **tally.to_dict(), "open_incidents": incidents.get(provider, 0)}
                for provider, tally in self.providers.items()
            ],
            "total": {**self.total.to_dict(), "open_incidents": len(self.incidents)},
            "open_incidents": [
                {
                    "incident": incident.key,
                    "mailbox": incident.mailbox,
                    "provider": incident.provider,
                    "reason": incident.reason,
                    "blocklist": incident.blocklist,
                    "listed": incident.listed,
                    "count": incident.count,
                    "first_seen": incident.first_seen,
                    "last_seen": incident.last_seen,
                }
                for incident in self.incidents
            ],
        }


def summarise(state: str, data: ReportData, since: date, until: date) -> Report:
    cells: dict[tuple[str, str | None], Tally] = {}
    days = {(since + timedelta(days=n)).isoformat(): Tally() for n in range((until - since).days + 1)}
    providers: dict[str | None, Tally] = {}
    total = Tally()
    for row in data.outcomes:
        if row.day > until.isoformat():  # a day after the report's end (a clock set back): not this period
            continue
        provider = row.provider
        cells.setdefault((row.day, provider), Tally()).add(row)
        days.setdefault(row.day, Tally()).add(row)
        providers.setdefault(provider, Tally()).add(row)
        total.add(row)
    ranked = dict(sorted(providers.items(), key=lambda item: (-item[1].bounces, -item[1].ignored, item[0] or "")))
    ordered = dict(sorted(cells.items(), key=lambda item: (item[0][0], -item[1].bounces, item[0][1] or "")))
    return Report(state, since, until, ordered, days, ranked, total, data.incidents)


def _actions_of(seen: Counter[str]) -> tuple[str, ...]:
    return ACTIONS + tuple(sorted(action for action in seen if action not in ACTIONS))
