"""Geometry of the clicks bar chart, drawn as inline SVG by the page template (no JS, no CDN)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

WIDTH = 720
HEIGHT = 180
AXIS = 24
"""Pixels below the bars for the time labels."""


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    clicks: int


@dataclass(frozen=True)
class BarChart:
    width: int
    height: int
    plot_height: int
    bars: list[Bar]
    peak: int
    first_label: str
    last_label: str


def bar_chart(
    series: Sequence[tuple[datetime, int]], granularity: str, width: int = WIDTH
) -> BarChart:
    """Bars for `series` (bucket start, clicks), scaled so the busiest bucket fills the plot.

    Empty buckets get no visible bar; the chart is still `width` wide. O(len(series)).
    """
    plot = HEIGHT - AXIS
    fmt = "%d %b %H:00" if granularity == "hour" else "%d %b"
    peak = max((n for _, n in series), default=0)
    slot = width / max(1, len(series))
    gap = min(2.0, slot * 0.2)
    bars = []
    for i, (start, clicks) in enumerate(series):
        height = plot * clicks / peak if peak else 0.0
        bars.append(
            Bar(
                x=round(i * slot + gap / 2, 2),
                y=round(plot - height, 2),
                width=round(slot - gap, 2),
                height=round(height, 2),
                label=start.strftime(fmt),
                clicks=clicks,
            )
        )
    return BarChart(
        width=width,
        height=HEIGHT,
        plot_height=plot,
        bars=bars,
        peak=peak,
        first_label=bars[0].label if bars else "",
        last_label=bars[-1].label if bars else "",
    )
