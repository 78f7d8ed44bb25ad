"""Small charts drawn on the server as SVG, with no dependency (the home page's outcomes per day).

Pure: it takes the counts and the labels (already translated by the caller) and returns markup,
every text escaped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from html import escape

# Drawn bottom up in this order; the colours are the batch page's.
SERIES = (("succeeded", "#2e7d32"), ("failed", "#c62828"), ("timed_out", "#ad1457"), ("stopped", "#6d4c41"))
WIDTH, HEIGHT, AXIS = 560, 140, 18


def outcomes_svg(
    days: Sequence[date],
    counts: Mapping[tuple[date, str], int],
    labels: Mapping[str, str],
    title: str,
) -> str:
    """Stacked bars, one per day, of the batches that ended in each status; a bar's tooltip gives its counts."""
    totals = [sum(counts.get((day, status), 0) for status, _ in SERIES) for day in days]
    top = max([*totals, 1])
    slot = WIDTH / max(len(days), 1)
    bar = max(slot * 0.7, 1.0)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="baton-chart" role="img" viewBox="0 0 {WIDTH} {HEIGHT + AXIS}" '
        f'width="100%" preserveAspectRatio="xMinYMin meet"><title>{escape(title)}</title>'
    ]
    for index, day in enumerate(days):
        x = index * slot + (slot - bar) / 2
        y = float(HEIGHT)
        tip = [day.isoformat()] + [
            f"{labels.get(status, status)}: {counts[(day, status)]}"
            for status, _ in SERIES
            if counts.get((day, status))
        ]
        parts.append(
            f'<g class="chart-day" data-day="{day.isoformat()}" data-total="{totals[index]}"><title>{escape(" · ".join(tip))}</title>'
        )
        for status, colour in SERIES:
            value = counts.get((day, status), 0)
            if not value:
                continue
            height = value / top * (HEIGHT - 4)
            y -= height
            parts.append(
                f'<rect class="chart-{status}" x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{height:.1f}" fill="{colour}"/>'
            )
        if totals[index] == 0:
            parts.append(f'<rect x="{x:.1f}" y="{HEIGHT - 1}" width="{bar:.1f}" height="1" fill="#bdbdbd"/>')
        parts.append("</g>")
        if index % max(len(days) // 7, 1) == 0 or index == len(days) - 1:
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{HEIGHT + AXIS - 4}" font-size="11" text-anchor="middle" fill="#666">'
                f"{day:%m-%d}</text>"
            )
    parts.append("</svg>")
    return "".join(parts)
