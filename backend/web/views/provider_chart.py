"""The Provider Stats chart: a provider's last day as a small server-rendered SVG —
searches per five-minute bucket as bars, p50 and p95 response times as lines.

Geometry is computed here (typed, testable); the template only draws the shapes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from db.repositories.provider_history import BUCKET_SECONDS, StatsBucket

WINDOW = timedelta(hours=24)
# viewBox size and the plot area inside it (left room for the ms labels).
WIDTH, HEIGHT = 400, 130
LEFT, RIGHT, TOP, BOTTOM = 44, 392, 10, 108


@dataclass(frozen=True)
class Bar:
    """One bucket: searches from the axis up, failures stacked on top."""

    x: float
    y: float
    width: float
    height: float
    fail_y: float
    fail_height: float
    label: str


@dataclass
class Chart:
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = RIGHT
    top: int = TOP
    bottom: int = BOTTOM
    bars: list[Bar] = field(default_factory=list)
    p50: str = ""  # polyline points "x,y x,y"
    p95: str = ""
    dots50: list[tuple[float, float]] = field(default_factory=list)
    dots95: list[tuple[float, float]] = field(default_factory=list)
    ms_max: float = 0.0
    searches_max: int = 0
    x_labels: list[tuple[float, str]] = field(default_factory=list)
    summary: str = ""

    @property
    def empty(self) -> bool:
        return not self.bars


def build_chart(provider: str, buckets: Sequence[StatsBucket], now: datetime) -> Chart:
    """The chart of `buckets` (oldest first) over the 24 hours up to `now`."""
    start = now - WINDOW
    shown = [b for b in buckets if b.bucket_start >= start - timedelta(seconds=BUCKET_SECONDS)]
    chart = Chart(x_labels=[(_x(start + WINDOW * f, start), text) for f, text in
                            ((0, "-24 h"), (0.5, "-12 h"), (1, "now"))])
    chart.searches_max = max((b.searches + b.failures for b in shown), default=0)
    timed = [b for b in shown if b.p95_ms is not None]
    chart.ms_max = _nice_ceiling(max((b.p95_ms or 0.0 for b in timed), default=0.0))
    chart.bars = _bars(shown, start, chart.searches_max)
    chart.p50, chart.dots50 = _line([(b.bucket_start, b.p50_ms) for b in timed], start,
                                    chart.ms_max)
    chart.p95, chart.dots95 = _line([(b.bucket_start, b.p95_ms) for b in timed], start,
                                    chart.ms_max)
    chart.summary = _summary(provider, shown, timed)
    return chart


def _x(at: datetime, start: datetime) -> float:
    fraction = (at - start) / WINDOW
    return round(LEFT + min(max(fraction, 0.0), 1.0) * (RIGHT - LEFT), 1)


def _y(value: float, top_value: float) -> float:
    if top_value <= 0:
        return float(BOTTOM)
    return round(BOTTOM - (value / top_value) * (BOTTOM - TOP), 1)


def _bars(buckets: Sequence[StatsBucket], start: datetime, searches_max: int) -> list[Bar]:
    # A bucket is 1/288 of the width: too thin to see alone, so bars get at least 3 units.
    width = max((RIGHT - LEFT) * BUCKET_SECONDS / WINDOW.total_seconds() - 0.4, 3.0)
    bars = []
    for bucket in buckets:
        if not (bucket.searches or bucket.failures):
            continue
        y = _y(bucket.searches, searches_max)
        fail_y = _y(bucket.searches + bucket.failures, searches_max)
        label = f"{bucket.bucket_start:%H:%M} UTC: {bucket.searches} searches"
        if bucket.failures:
            label += f", {bucket.failures} failed"
        bars.append(Bar(x=min(_x(bucket.bucket_start, start), RIGHT - width), y=y,
                        width=round(width, 2), height=round(BOTTOM - y, 1),
                        fail_y=fail_y, fail_height=round(y - fail_y, 1), label=label))
    return bars


def _line(points: Sequence[tuple[datetime, float | None]], start: datetime,
          ms_max: float) -> tuple[str, list[tuple[float, float]]]:
    # Points sit mid-bucket, over their bar.
    middle = timedelta(seconds=BUCKET_SECONDS / 2)
    coords = [(_x(at + middle, start), _y(value, ms_max)) for at, value in points
              if value is not None]
    text = " ".join(f"{x},{y}" for x, y in coords)
    # A single point draws no line: mark it with a dot instead.
    return text, coords if len(coords) == 1 else []


def _nice_ceiling(value: float) -> float:
    """A round axis maximum at or above value (10, 20, 50, 100, 200, 500 ...)."""
    if value <= 0:
        return 0.0
    step = 1.0
    while True:
        for factor in (1, 2, 5):
            if value <= step * factor:
                return step * factor
        step *= 10


def _summary(provider: str, buckets: Sequence[StatsBucket],
             timed: Sequence[StatsBucket]) -> str:
    searches = sum(b.searches for b in buckets)
    failures = sum(b.failures for b in buckets)
    if not searches and not failures:
        return f"{provider}: no searches in the last 24 hours."
    active = sum(1 for b in buckets if b.searches or b.failures)
    text = (f"{provider} over the last 24 hours: {searches} searches"
            f"{f' and {failures} failed calls' if failures else ''} in {active} "
            f"five-minute period{'s' if active != 1 else ''}")
    if timed:
        p50 = [b.p50_ms or 0.0 for b in timed]
        p95 = max(b.p95_ms or 0.0 for b in timed)
        text += (f"; median response {min(p50):.0f} to {max(p50):.0f} ms, "
                 f"95th percentile up to {p95:.0f} ms")
    return text + "."
