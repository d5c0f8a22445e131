"""/api/v1/system: health, status and the fast cache tier."""

from __future__ import annotations

import functools
import json
import platform
import tomllib
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Flask, current_app, request

from config import REPO_ROOT
from errors import NotFound, ValidationFailed

bp = Blueprint("system", __name__)

OK, DEGRADED, DOWN = "ok", "degraded", "down"
_BODY_HINT = 'must be empty or a JSON object such as {"prefix": "provider:"}'


@functools.cache
def sublarr_version() -> str:
    """The version in pyproject.toml, the one place it is written down."""
    try:
        with (REPO_ROOT / "pyproject.toml").open("rb") as handle:
            return str(tomllib.load(handle)["project"]["version"])
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "unknown"


def describe_error(exc: BaseException) -> str:
    """One line naming what failed, without a traceback."""
    inner = getattr(exc, "orig", None) or exc
    text = str(inner).strip().splitlines()[0] if str(inner).strip() else ""
    return f"{type(inner).__name__}: {text}"[:300]


def _component(status: str, **details: Any) -> dict[str, Any]:
    return {"status": status, "details": details}


def _database_health(app: Flask) -> dict[str, Any]:
    database = app.database  # type: ignore[attr-defined]
    try:
        database.ping()
    except Exception as exc:  # noqa: BLE001 - any failure means the database is down
        return _component(DOWN, dialect=database.dialect, error=describe_error(exc))
    return _component(OK, dialect=database.dialect)


def _fell_back(app: Flask, kind: str) -> bool:
    """Redis was configured but this part runs on its in-process stand-in."""
    return bool(app.settings.redis_url) and kind == "memory"  # type: ignore[attr-defined]


def _cache_health(app: Flask) -> dict[str, Any]:
    stats = app.cache_backend.get_stats()  # type: ignore[attr-defined]
    if _fell_back(app, stats.get("backend", "")):
        return _component(DEGRADED, reason="Redis was unreachable at start; using the "
                          "in-memory cache", **stats)
    if stats.get("available") is False:
        return _component(DEGRADED, reason="cache backend unreachable; calls count as "
                          "misses", **stats)
    return _component(OK, **stats)


def _queue_health(app: Flask) -> dict[str, Any]:
    info = app.job_queue.get_backend_info()  # type: ignore[attr-defined]
    if _fell_back(app, info.get("type", "")):
        return _component(DEGRADED, reason="Redis was unreachable at start; jobs run on "
                          "the in-process thread pool", **info)
    if info.get("available") is False:
        return _component(DEGRADED, reason="queue backend unreachable; new jobs stay "
                          "queued in the database until it answers", **info)
    return _component(OK, **info)


def _scheduler_health(app: Flask) -> dict[str, Any]:
    scheduler = getattr(app, "scheduler", None)
    if scheduler is None:
        return _component(OK, enabled=False)
    status = scheduler.status()
    if status.get("lease_error"):
        return _component(DEGRADED, reason="the scheduler lease store is unreachable; "
                          "periodic tasks wait for it", **status)
    failing = [task["name"] for task in status.get("tasks", ())
               if task.get("last_status") == "failed"]
    if failing:
        return _component(DEGRADED, reason="last run failed: " + ", ".join(failing),
                          **status)
    return _component(OK, **status)


_CHECKS: dict[str, Callable[[Flask], dict[str, Any]]] = {
    "database": _database_health,
    "cache": _cache_health,
    "queue": _queue_health,
    "scheduler": _scheduler_health,
}


def health_report(app: Flask) -> dict[str, Any]:
    """Each component ok / degraded / down; overall down only when the database is."""
    components: dict[str, dict[str, Any]] = {}
    for name, check in _CHECKS.items():
        try:
            components[name] = check(app)
        except Exception as exc:  # noqa: BLE001 - a failing check is a finding, not a 500
            components[name] = _component(DOWN, error=describe_error(exc))
    if components["database"]["status"] == DOWN:
        overall = DOWN
    elif any(part["status"] != OK for part in components.values()):
        overall = DEGRADED
    else:
        overall = OK
    return {"status": overall, "version": sublarr_version(), "components": components}


@bp.get("/health")
def health() -> tuple[dict[str, Any], int]:
    report = health_report(current_app)
    return report, 503 if report["status"] == DOWN else 200


@bp.get("/status")
def status() -> dict[str, Any]:
    from db.migrate import current_revision  # alembic is heavy; only this route needs it

    app = current_app
    database = app.database  # type: ignore[attr-defined]
    return {
        "version": sublarr_version(),
        "python": platform.python_version(),
        "database": {"dialect": database.dialect, "revision": current_revision(database)},
        "cache": {"backend": app.cache_backend.get_stats().get("backend")},  # type: ignore[attr-defined]
        "queue": app.job_queue.get_backend_info(),  # type: ignore[attr-defined]
        "settings": app.settings.masked(),  # type: ignore[attr-defined]
    }


@bp.get("/cache")
def cache_stats() -> dict[str, Any]:
    return dict(current_app.cache_backend.get_stats())  # type: ignore[attr-defined]


@bp.post("/cache/clear")
def cache_clear() -> dict[str, Any]:
    prefix = _clear_prefix()
    cleared = current_app.cache_backend.clear(prefix)  # type: ignore[attr-defined]
    return {"cleared": cleared, "prefix": prefix}


def _clear_prefix() -> str:
    """The optional {"prefix": "..."} body; no body (or null) clears everything."""
    raw = request.get_data()
    if not raw.strip():
        return ""
    try:
        body = json.loads(raw)
    except ValueError:
        raise ValidationFailed("body", _BODY_HINT) from None
    if body is None:
        return ""
    if not isinstance(body, dict):
        raise ValidationFailed("body", _BODY_HINT)
    unknown = sorted(set(body) - {"prefix"})
    if unknown:
        raise ValidationFailed(unknown[0], "unknown field; only prefix is accepted")
    prefix = body.get("prefix", "")
    if prefix is None:
        return ""
    if not isinstance(prefix, str):
        raise ValidationFailed("prefix", f"must be a string, got {type(prefix).__name__}")
    if len(prefix) > 500:
        raise ValidationFailed("prefix", "must be at most 500 characters")
    return prefix


@bp.get("/arr")
def arr_instances() -> dict[str, Any]:
    """The Sonarr/Radarr instances Sublarr syncs from (keys never shown)."""
    return {"instances": [{"name": i.name, "kind": i.kind, "url": i.url}
                          for i in _arr_instances()]}


@bp.post("/arr/<name>/test")
def arr_test(name: str) -> dict[str, Any]:
    """Ask one instance for its system status: {"ok", "version" | "error"}."""
    from library.arr import test_connection

    for instance in _arr_instances():
        if instance.name == name:
            return test_connection(instance)
    raise NotFound(f"no Sonarr/Radarr instance named {name!r}", details={"name": name})


def _arr_instances() -> list[Any]:
    from config import ConfigError
    from library.arr import configured_instances

    try:
        return configured_instances(current_app.settings)  # type: ignore[attr-defined]
    except ConfigError as exc:
        raise ValidationFailed("arr_instances", str(exc)) from None
