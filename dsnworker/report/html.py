"""The report as one self-contained HTML page: inline style and SVG, no script, nothing fetched,
so that it opens offline and can be mailed as an attachment."""

from __future__ import annotations

from collections import Counter
from html import escape

from dsnworker.report.summary import NO_PROVIDER, Report, Tally
from dsnworker.report.svg import per_day_chart, per_provider_chart
from dsnworker.report.text import percent, reasons_text

CHART_PROVIDERS = 12  # the rest of the providers is one bar, "other"

_STYLE = """
body { font-family: "DejaVu Sans", Arial, sans-serif; margin: 24px; color: #222; background: #fff; }
h1 { font-size: 20px; } h2 { font-size: 16px; margin-top: 28px; }
.figures { display: flex; gap: 16px; flex-wrap: wrap; }
.figure { border: 1px solid #ccc; border-radius: 6px; padding: 8px 16px; min-width: 120px; }
.figure b { display: block; font-size: 22px; }
table { border-collapse: collapse; font-size: 13px; }
th, td { border-bottom: 1px solid #e3e3e3; padding: 3px 8px; text-align: left; white-space: nowrap; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
"""


def render_html(report: Report) -> str:
    title = f"dsnworker report {report.since} to {report.until}"
    total = report.total
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        # nothing may be fetched: the page must look the same offline
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">",
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        f"<p>State {escape(report.state)}; days in UTC. A bounce is an outcome acted on (every action but "
        "<code>ignore</code>: auto-replies and success notices are counted as ignored).</p>",
        '<div class="figures">',
        _figure("bounces", str(total.bounces)),
        _figure("hard", percent(total.hard_share)),
        _figure("complaints", str(total.complaints)),
        _figure("open incidents", str(len(report.incidents))),
        _figure("ignored", str(total.ignored)),
        "</div>",
        "<h2>Bounces per day, by action</h2>",
        per_day_chart([(day, tally.actions) for day, tally in report.days.items()], report.actions),
        "<h2>Bounces per provider, by action</h2>",
        per_provider_chart(_chart_providers(report), report.actions),
        "<h2>Per provider</h2>",
        _counts_table(report, [((provider,), tally) for provider, tally in report.providers.items()], ("provider",)),
        "<h2>Per day and provider</h2>",
        _counts_table(report, list(report.cells.items()), ("day", "provider")),
        "<h2>Open incidents</h2>",
        _incidents_table(report),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def _figure(label: str, value: str) -> str:
    return f'<div class="figure">{escape(label)}<b>{escape(value)}</b></div>'


def _chart_providers(report: Report) -> list[tuple[str, Counter[str]]]:
    acted = [(provider or NO_PROVIDER, tally.actions) for provider, tally in report.providers.items() if tally.bounces]
    if len(acted) <= CHART_PROVIDERS:
        return acted
    rest: Counter[str] = Counter()
    for _, counts in acted[CHART_PROVIDERS - 1 :]:
        rest.update(counts)
    return [*acted[: CHART_PROVIDERS - 1], (f"other ({len(acted) - CHART_PROVIDERS + 1})", rest)]


def _counts_table(report: Report, rows: list[tuple[tuple[str | None, ...], Tally]], keys: tuple[str, ...]) -> str:
    if not rows:
        return "<p>No bounces in this period.</p>"
    numbers = ["bounces", *report.actions, "hard", "complaints", "ignored"]
    head = "".join(f"<th>{key}</th>" for key in keys) + "".join(f'<th class="n">{name}</th>' for name in numbers)
    lines = [f"<table><tr>{head}<th>top reasons</th></tr>"]
    for labels, tally in rows:
        values = [tally.bounces, *(tally.actions.get(a, 0) for a in report.actions)]
        cells = "".join(f"<td>{escape(label or NO_PROVIDER)}</td>" for label in labels)
        cells += "".join(f'<td class="n">{value}</td>' for value in values)
        cells += f'<td class="n">{percent(tally.hard_share)}</td><td class="n">{tally.complaints}</td>'
        cells += f'<td class="n">{tally.ignored}</td><td>{escape(reasons_text(tally))}</td>'
        lines.append(f"<tr>{cells}</tr>")
    lines.append("</table>")
    return "\n".join(lines)


def _incidents_table(report: Report) -> str:
    if not report.incidents:
        return "<p>None.</p>"
    lines = [
        "<table><tr><th>provider</th><th>reason</th><th>blocklist</th><th>listed</th>"
        '<th class="n">refusals</th><th>first seen</th><th>last seen</th><th>mailbox</th></tr>'
    ]
    for incident in report.incidents:
        cells = [incident.provider or NO_PROVIDER, incident.reason, incident.blocklist or "-", incident.listed or "-"]
        row = "".join(f"<td>{escape(cell)}</td>" for cell in cells)
        row += f'<td class="n">{incident.count}</td>'
        row += "".join(
            f"<td>{escape(cell)}</td>" for cell in (incident.first_seen, incident.last_seen, incident.mailbox)
        )
        lines.append(f"<tr>{row}</tr>")
    lines.append("</table>")
    return "\n".join(lines)
