"""Dashboard: wanted counts, the job queue, provider health and recent activity.

Everything below the heading is one fragment polled every 3 s, so counts, circuits and
new downloads show up while the page is open. The numbers come from the same places as
the API: the wanted summary (GET /api/v1/wanted), the job counts (GET /api/v1/jobs) and
the provider manager's stats (GET /api/v1/providers/stats).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import current_app, render_template
from flask.typing import ResponseReturnValue

from db.repositories.history import HistoryRepository
from db.repositories.wanted import WantedRepository
from web.blueprint import bp
from web.filters import parse_timestamp
from web.views.jobs import clip

RECENT_LIMIT = 10
ERROR_LIMIT = 90
# (status, label, tile colour) in the order the tiles show.
WANTED_TILES = (("wanted", "Wanted", "warn"), ("searching", "Searching", "info"),
                ("found", "Found", "ok"), ("failed", "Failed", "danger"),
                ("ignored", "Ignored", "neutral"))
QUEUE_TILES = (("running", "Running", "info"), ("queued", "Queued", "warn"),
               ("failed", "Failed jobs", "danger"))
ACTION_BADGES = {"downloaded": "ok", "upgraded": "info", "translated": "translated"}


def provider_health() -> list[dict[str, Any]]:
    """The provider stats rows (enabled providers first) with times as datetimes and a
    short error; `throttled` when a rate limit still holds."""
    manager = current_app.provider_manager  # type: ignore[attr-defined]
    now = datetime.now(UTC)
    rows = []
    for row in manager.stats():
        throttled_until = parse_timestamp(row.get("throttled_until"))
        error = row.get("last_error") or ""
        rows.append({
            **row,
            "throttled_until": throttled_until if throttled_until and throttled_until > now
            else None,
            "last_success": parse_timestamp(row.get("last_success")),
            "last_failure": parse_timestamp(row.get("last_failure")),
            "error_short": clip(error, ERROR_LIMIT),
        })
    rows.sort(key=lambda r: (not r["enabled"], r["provider"]))
    return rows


def recent_activity() -> list[dict[str, Any]]:
    """The latest history rows (downloads, upgrades, translations), newest first, each
    with a label (series S01E02, or the file) and the subtitle's file name."""
    events = HistoryRepository(current_app.database).recent(RECENT_LIMIT)  # type: ignore[attr-defined]
    for event in events:
        label = event["title"] or (Path(event["video_path"]).stem if event["video_path"]
                                   else "removed file")
        if event["season"] is not None and event["episode"] is not None:
            label = f"{label} S{event['season']:02d}E{event['episode']:02d}"
        event["label"] = label
        event["file_name"] = Path(event["path"]).name if event["path"] else ""
        event["badge"] = ACTION_BADGES.get(event["action"], "neutral")
    return events


def dashboard_context() -> dict[str, Any]:
    wanted = WantedRepository(current_app.database).summary()  # type: ignore[attr-defined]
    jobs = current_app.job_queue.repository.counts_by_status()  # type: ignore[attr-defined]
    providers = provider_health()
    return {
        "wanted": wanted, "wanted_tiles": WANTED_TILES, "wanted_total": sum(wanted.values()),
        "jobs": jobs, "queue_tiles": QUEUE_TILES,
        "providers": providers,
        "enabled_providers": sum(1 for p in providers if p["enabled"]),
        "activity": recent_activity(),
    }


@bp.get("/")
def dashboard() -> ResponseReturnValue:
    return render_template("dashboard/index.html", page_title="Dashboard",
                           active_page="dashboard", **dashboard_context())


@bp.get("/dashboard/_live")
def dashboard_live() -> ResponseReturnValue:
    """The polled part of the dashboard."""
    return render_template("dashboard/_live.html", **dashboard_context())
