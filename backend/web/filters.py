"""Jinja filters and globals shared by every page."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Flask

NAV = (
    ("web.dashboard", "Dashboard", "dashboard"),
    ("web.wanted", "Wanted", "wanted"),
    ("web.library", "Library", "library"),
    ("web.providers", "Providers", "providers"),
    ("web.jobs", "Jobs", "jobs"),
    ("web.translate", "Translate", "translate"),
    ("web.settings", "Settings", "settings"),
)


def parse_timestamp(value: str | None) -> datetime | None:
    """An API timestamp (ISO 8601) as an aware datetime; SQLite's come back without a
    zone and are UTC."""
    if not value:
        return None
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def ago(value: datetime | None, now: datetime | None = None) -> str:
    """'3 min ago' / 'in 2 h' — the *arr apps' relative times."""
    if value is None:
        return "never"
    now = now or datetime.now(UTC)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    seconds = (now - value).total_seconds()
    future = seconds < 0
    seconds = abs(seconds)
    amount, unit = int(seconds // (86400 * 30)), "mo"
    for limit, name, size in ((60, "s", 1), (3600, "min", 60), (86400, "h", 3600),
                              (86400 * 60, "d", 86400)):
        if seconds < limit:
            amount, unit = int(seconds // size), name
            break
    if amount == 0 and unit == "s":
        return "just now"
    return f"in {amount} {unit}" if future else f"{amount} {unit} ago"


def timestamp(value: datetime | None) -> str:
    if value is None:
        return ""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def filesize(value: int | None) -> str:
    if value is None:
        return ""
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"


def milliseconds(value: float | None) -> str:
    if value is None:
        return "\u2013"
    return f"{value:.0f} ms" if value < 10_000 else f"{value / 1000:.1f} s"


def percent(value: float | None) -> str:
    return "\u2013" if value is None else f"{value * 100:.0f}%"


def install(app: Flask) -> None:
    from web.views.jobs import error_has_more, error_head

    app.jinja_env.filters.update(ago=ago, timestamp=timestamp, filesize=filesize,
                                 milliseconds=milliseconds, percent=percent,
                                 error_head=error_head, error_has_more=error_has_more)

    @app.context_processor
    def _globals() -> dict[str, Any]:
        from web.guard import current_user

        return {"nav_items": NAV, "current_user": current_user}
