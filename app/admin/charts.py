"""Small server-drawn SVG bar charts with their numbers, for the admin dashboard."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

__all__ = ("DAYS", "BarChart", "bar_chart", "daily_series")

DAYS = 30
WIDTH, HEIGHT = 600, 120


@dataclass(frozen=True)
class Bar:
    """One day's bar: its box in the SVG and the number it stands for."""

    day: date
    value: int
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class BarChart:
    """A titled chart: bars to draw, and the same values for the table beside it."""

    title: str
    bars: list[Bar]
    total: int
    peak: int
    width: int = WIDTH
    height: int = HEIGHT


def daily_series(counts: dict[date, int], first: date) -> list[tuple[date, int]]:
    """One (day, count) per day from `first`, zero where nothing happened."""
    return [(first + timedelta(days=n), counts.get(first + timedelta(days=n), 0)) for n in range(DAYS)]


def bar_chart(title: str, series: list[tuple[date, int]]) -> BarChart:
    """Lay the series out as bars scaled to the largest value."""
    peak = max((value for _, value in series), default=0)
    step = WIDTH / max(len(series), 1)
    bars = []
    for index, (day, value) in enumerate(series):
        height = (HEIGHT - 4) * value / peak if peak else 0
        bars.append(Bar(day, value, index * step + 1, HEIGHT - height, step - 2, height))
    return BarChart(title=title, bars=bars, total=sum(value for _, value in series), peak=peak)
