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
    """One bar per day, one coloured segment per series, and the same numbers as a table.

    The bars are an SVG that stretches to fill its box; the axis labels are HTML beside it,
    so they keep the page's text size on a phone instead of shrinking with the drawing. The
    drawing is hidden from screen readers, which get the table (captioned with `title`).
    """
    totals = [sum(values[i] for _, values in series) for i in range(len(days))]
    y_max = nice_max(max(totals, default=0))
    return Markup(
        '<div class="chart">'
        f"{_y_axis(y_max)}{_bars(days, series, y_max)}{_x_axis(days)}"
        f"{_chart_table(days, series, totals, title)}</div>"
    )


BAR_SLOT, BAR_HEIGHT = 10, 100  # SVG units per day, and for the tallest bar
DAYS_PER_LABEL = 7


def _bars(days: Sequence[date], series: Sequence[tuple[str, Sequence[int]]], y_max: int) -> str:
    width = BAR_SLOT * max(len(days), 1)
    parts = [
        f'<svg class="chart-bars" viewBox="0 0 {width} {BAR_HEIGHT}" preserveAspectRatio="none" '
        'aria-hidden="true" focusable="false" xmlns="http://www.w3.org/2000/svg">'
    ]
    for fraction in (0, 0.5, 1):
        y = BAR_HEIGHT * (1 - fraction)
        parts.append(
            f'<line x1="0" x2="{width}" y1="{y:g}" y2="{y:g}" stroke="#d9dee5" '
            'stroke-width="1" vector-effect="non-scaling-stroke"/>'
        )
    for i, day in enumerate(days):
        y = float(BAR_HEIGHT)
        for index, (name, values) in enumerate(series):
            if not values[i]:
                continue
            height = BAR_HEIGHT * values[i] / y_max
            y -= height
            parts.append(
                f'<rect x="{i * BAR_SLOT + 1.5:g}" y="{y:.2f}" width="{BAR_SLOT - 3}" '
                f'height="{height:.2f}" fill="{colour(index)}"><title>{escape(name)}, '
                f"{day.strftime('%d %b')}: {values[i]}</title></rect>"
            )
    parts.append("</svg>")
    return "".join(parts)


def _y_axis(y_max: int) -> str:
    labels = "".join(f"<span>{value:g}</span>" for value in (y_max, y_max / 2, 0))
    return f'<div class="chart-y" aria-hidden="true">{labels}</div>'


def _x_axis(days: Sequence[date]) -> str:
    """The first day of each week under the bars, each label as wide as its days."""
    labels = "".join(
        f'<span class="days-{len(days[start : start + DAYS_PER_LABEL])}">'
        f"{days[start].strftime('%d %b')}</span>"
        for start in range(0, len(days), DAYS_PER_LABEL)
    )
    return f'<div class="chart-x" aria-hidden="true">{labels}</div>'


def _chart_table(
    days: Sequence[date],
    series: Sequence[tuple[str, Sequence[int]]],
    totals: Sequence[int],
    title: str,
) -> str:
    head = "".join(f'<th scope="col">{escape(name)}</th>' for name, _ in series)
    rows = "".join(
        f'<tr><th scope="row">{day.strftime("%d %B")}</th>'
        + "".join(f"<td>{values[i]}</td>" for _, values in series)
        + f"<td>{totals[i]}</td></tr>"
        for i, day in enumerate(days)
    )
    return (
        f'<table class="sr-only"><caption>{escape(title)}</caption>'
        f'<thead><tr><th scope="col">Day</th>{head}<th scope="col">All</th></tr></thead>'
        f"<tbody>{rows}</tbody></table>"
    )


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
    # Stretches to its cell (up to its natural width), so a narrow column does not overflow.
    return Markup(
        f'<svg class="spark" viewBox="0 0 {width} {height}" preserveAspectRatio="none" '
        f'role="img" aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg">'
        f'<polyline points="{points}" fill="none" stroke="#0b7a6c" stroke-width="2" '
        f'vector-effect="non-scaling-stroke" stroke-linejoin="round" stroke-linecap="round"/>'
        "</svg>"
    )
