"""Small SVG charts drawn on the server, so the dashboard needs no script library."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from markupsafe import Markup, escape

PALETTE = (
    "#0b7a6c",
    "#175cd3",
    "#c4320a",
    "#7a5af8",
    "#b54708",
    "#0d3b5a",
    "#dd2590",
    "#667085",
)


def colour(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def nice_max(value: int) -> int:
    """A round number at or above value, for the top of an axis."""
    if value <= 5:
        return 5
    step = 10 ** (len(str(value)) - 1)
    for factor in (1, 2, 2.5, 5, 10):
        top = int(step * factor)
        if top >= value:
            return top
    return value


def stacked_bars(
    days: Sequence[date], series: Sequence[tuple[str, Sequence[int]]], title: str
) -> Markup:
    """One bar per day, one coloured segment per series; `title` describes it to screen readers."""
    width, height = 720, 240
    left, right, top, bottom = 44, 8, 12, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    totals = [sum(values[i] for _, values in series) for i in range(len(days))]
    y_max = nice_max(max(totals, default=0))
    slot = plot_w / max(len(days), 1)
    bar_w = max(slot * 0.7, 1)
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">'
    ]
    for fraction in (0, 0.5, 1):
        y = top + plot_h * (1 - fraction)
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="#d9dee5" stroke-width="1"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{int(y_max * fraction)}</text>'
        )
    for i, day in enumerate(days):
        x = left + i * slot + (slot - bar_w) / 2
        y = top + plot_h
        for index, (name, values) in enumerate(series):
            if not values[i]:
                continue
            h = plot_h * values[i] / y_max
            y -= h
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                f'fill="{colour(index)}"><title>{escape(name)}, '
                f"{day.strftime('%d %b')}: {values[i]}</title></rect>"
            )
        if i % 7 == 0 or i == len(days) - 1:
            parts.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{height - 8}" text-anchor="middle">'
                f"{day.strftime('%d %b')}</text>"
            )
    parts.append("</svg>")
    return Markup("".join(parts))


def sparkline(values: Sequence[int], label: str) -> Markup:
    width, height, pad = 120, 28, 3
    if not values:
        return Markup("")
    low, high = min(values), max(values)
    span = (high - low) or 1
    step = (width - 2 * pad) / max(len(values) - 1, 1)
    points = " ".join(
        f"{pad + i * step:.1f},{height - pad - (v - low) * (height - 2 * pad) / span:.1f}"
        for i, v in enumerate(values)
    )
    return Markup(
        f'<svg class="spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg">'
        f'<polyline points="{points}" fill="none" stroke="#0b7a6c" stroke-width="2" '
        f'stroke-linejoin="round" stroke-linecap="round"/></svg>'
    )
