"""The report's two charts as inline SVG, drawn here: no script, no library, nothing fetched.

Each bar segment carries a `<title>` (the browser shows it on hover) and classes naming the chart
and the action, so that a test or a style sheet can find them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape

# colour-blind-safe (Okabe-Ito), distinct in grey too; an action the map adds gets grey
COLOURS = {
    "suppress": "#d55e00",
    "retry": "#e69f00",
    "review": "#cc79a7",
    "fix_address": "#0072b2",
    "sender_fix": "#009e73",
}
OTHER_COLOUR = "#999999"
FONT = 'font-family="DejaVu Sans, Arial, sans-serif" font-size="11"'

Bars = Sequence[tuple[str, Mapping[str, int]]]  # (label, action -> count), in the order shown


def colour(action: str) -> str:
    return COLOURS.get(action, OTHER_COLOUR)


def nice_ceiling(value: int) -> int:
    """The axis' top: 1, 2 or 5 times a power of ten, at least `value` (and at least 1)."""
    if value <= 1:
        return 1
    power = 10 ** math.floor(math.log10(value))
    return next(step * power for step in (1, 2, 5, 10) if step * power >= value)


def legend(actions: Sequence[str], x: float, y: float) -> str:
    parts = []
    for action in actions:
        parts.append(
            f'<rect class="legend" x="{x:.0f}" y="{y - 9:.0f}" width="10" height="10" fill="{colour(action)}"/>'
            f'<text x="{x + 14:.0f}" y="{y:.0f}" {FONT}>{escape(action)}</text>'
        )
        x += 24 + 7 * len(action)
    return "".join(parts)


def per_day_chart(days: Bars, actions: Sequence[str], width: int = 960, height: int = 320) -> str:
    """Outcomes per day, stacked by action: a column per day, the x axis every day of the period."""
    left, right, top, bottom = 48, 12, 28, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = nice_ceiling(max((sum(counts.values()) for _, counts in days), default=0))
    slot = plot_w / max(len(days), 1)
    bar_w = max(1.0, slot * 0.8)
    label_every = max(1, math.ceil(len(days) / 15))  # at most 15 dates under the axis
    parts = [_open("chart per-day", width, height, "Bounces per day, stacked by action")]
    parts.append(legend(actions, left, 14))
    parts += _y_axis(peak, left, top, plot_w, plot_h)
    for index, (label, counts) in enumerate(days):
        x = left + index * slot + (slot - bar_w) / 2
        base = top + plot_h
        for action in actions:
            count = counts.get(action, 0)
            if not count:
                continue
            h = plot_h * count / peak
            base -= h
            parts.append(
                f'<rect class="bar action-{escape(action)}" x="{x:.1f}" y="{base:.1f}" width="{bar_w:.1f}" '
                f'height="{h:.1f}" fill="{colour(action)}"><title>{escape(label)}: {count} {escape(action)}'
                "</title></rect>"
            )
        if index % label_every == 0:
            parts.append(
                f'<text x="{left + index * slot + slot / 2:.1f}" y="{top + plot_h + 16}" text-anchor="middle" '
                f"{FONT}>{escape(label[5:])}</text>"  # MM-DD: the year is in the title
            )
    parts.append("</svg>")
    return "".join(parts)


def per_provider_chart(providers: Bars, actions: Sequence[str], width: int = 960) -> str:
    """Bounces per provider, a horizontal bar each, stacked by action, most first."""
    left, right, top, row_h = 150, 60, 28, 24
    height = top + row_h * max(len(providers), 1) + 8
    plot_w = width - left - right
    peak = max((sum(counts.values()) for _, counts in providers), default=0) or 1
    parts = [_open("chart per-provider", width, height, "Bounces per provider, stacked by action")]
    parts.append(legend(actions, left, 14))
    for index, (label, counts) in enumerate(providers):
        y = top + index * row_h + 4
        total = sum(counts.values())
        shown = label if len(label) <= 22 else label[:21] + "…"
        parts.append(
            f'<text x="{left - 8}" y="{y + 12}" text-anchor="end" {FONT}><title>{escape(label)}</title>'
            f"{escape(shown)}</text>"
        )
        x = float(left)
        for action in actions:
            count = counts.get(action, 0)
            if not count:
                continue
            w = plot_w * count / peak
            parts.append(
                f'<rect class="bar action-{escape(action)}" x="{x:.1f}" y="{y}" width="{w:.1f}" height="{row_h - 8}" '
                f'fill="{colour(action)}"><title>{escape(label)}: {count} {escape(action)}</title></rect>'
            )
            x += w
        parts.append(f'<text x="{x + 6:.1f}" y="{y + 12}" {FONT}>{total}</text>')
    if not providers:
        parts.append(f'<text x="{left}" y="{top + 16}" {FONT}>No bounces in this period.</text>')
    parts.append("</svg>")
    return "".join(parts)


def _open(classes: str, width: int, height: int, title: str) -> str:
    return (
        f'<svg class="{classes}" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" shape-rendering="crispEdges"><title>{escape(title)}</title>'
    )


def _y_axis(peak: int, left: int, top: int, plot_w: int, plot_h: int) -> list[str]:
    parts = []
    # the top is 1, 2 or 5 times a power of ten: 5 or 4 steps, or one per unit, give whole numbers
    ticks = 5 if peak % 5 == 0 else 4 if peak % 4 == 0 else peak
    for tick in range(ticks + 1):
        y = top + plot_h - plot_h * tick / ticks
        label = str(peak * tick // ticks)
        parts.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#dddddd"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" {FONT}>{label}</text>'
        )
    return parts
