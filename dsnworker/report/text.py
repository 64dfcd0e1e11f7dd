"""The report as aligned tables for a terminal."""

from __future__ import annotations

from dataclasses import asdict

from dsnworker.report.summary import NO_PROVIDER, Report, Tally
from dsnworker.tables import Column, render


def percent(share: float | None) -> str:
    return "-" if share is None else f"{share:.0%}"


def reasons_text(tally: Tally) -> str:
    return ", ".join(f"{reason} {count}" for reason, count in tally.top_reasons())


def render_text(report: Report) -> str:
    lines = [
        f"dsnworker report: {report.state}, {report.since} to {report.until} (days in UTC)",
        "",
    ]
    if not report.total.bounces and not report.total.ignored:
        lines.append("No bounces in this period.")
    else:
        lines += ["Per day and provider", *_counts_table(report, "day"), ""]
        lines += ["Per provider", *_counts_table(report, "provider"), ""]
        total = _row(report, report.total)
        total["open_incidents"] = len(report.incidents)
        lines += ["In all", *render(_columns(report, None, incidents=True), [total])]
    lines += ["", *_incidents(report)]
    return "\n".join(lines) + "\n"


def _counts_table(report: Report, by: str) -> list[str]:
    if by == "day":
        rows = [
            {"day": day, "provider": provider, **_row(report, tally)} for (day, provider), tally in report.cells.items()
        ]
        return render(_columns(report, ("day", "provider"), incidents=False), rows)
    opened = report.open_incidents_by_provider()
    rows = [
        {"provider": provider, **_row(report, tally), "open_incidents": opened.get(provider, 0)}
        for provider, tally in report.providers.items()
    ]
    return render(_columns(report, ("provider",), incidents=True), rows)


def _columns(report: Report, keys: tuple[str, ...] | None, *, incidents: bool) -> list[Column]:
    columns = [Column(key, key.upper()) for key in keys or ()]
    columns.append(Column("bounces", "BOUNCES", right=True))
    columns += [Column(action, action.upper(), right=True) for action in report.actions]
    columns += [
        Column("hard", "HARD", right=True),
        Column("complaints", "COMPLAINTS", right=True),
        Column("ignored", "IGNORED", right=True),
    ]
    if incidents:
        columns.append(Column("open_incidents", "OPEN_INCIDENTS", right=True))
    columns.append(Column("reasons", "TOP_REASONS", limit=80))
    return columns


def _row(report: Report, tally: Tally) -> dict[str, object]:
    row: dict[str, object] = {action: tally.actions.get(action, 0) for action in report.actions}
    row.update(
        bounces=tally.bounces,
        hard=percent(tally.hard_share),
        complaints=tally.complaints,
        ignored=tally.ignored,
        reasons=reasons_text(tally),
    )
    return row


def _incidents(report: Report) -> list[str]:
    if not report.incidents:
        return ["Open incidents: none"]
    rows = [{**asdict(incident), "provider": incident.provider or NO_PROVIDER} for incident in report.incidents]
    columns = [
        Column("provider", "PROVIDER"),
        Column("reason", "REASON"),
        Column("blocklist", "BLOCKLIST"),
        Column("listed", "LISTED"),
        Column("count", "REFUSALS", right=True),
        Column("first_seen", "FIRST_SEEN"),
        Column("last_seen", "LAST_SEEN"),
        Column("mailbox", "MAILBOX"),
    ]
    return [f"Open incidents ({len(rows)})", *render(columns, rows)]
