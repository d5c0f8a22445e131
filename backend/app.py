"""Application factory: settings, database (migrated to head), cache, job queue,
scheduler, the /api/v1 blueprints and the web UI."""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Mapping
from typing import Any

from flask import Flask

import settings_store
from auth import resolve_api_key
from cache import create_cache_backend
from config import Settings, load_settings
from db import Database
from db.migrate import upgrade_to_head
from errors import register_error_handlers
from job_queue import create_job_queue

log = logging.getLogger("sublarr")

# Settings that testing=True points somewhere harmless unless the caller (config
# mapping or SUBLARR_* variable) names them.
_TESTING_ISOLATED = ("data_dir", "database_url", "redis_url")


# Where create_app keeps the mapping it was given (after testing defaults), so that a
# save from the web UI resolves the settings again with the same top layer.
OVERRIDES_KEY = "SUBLARR_OVERRIDES"


def create_app(config: Mapping[str, Any] | None = None, *, testing: bool = False) -> Flask:
    overrides = _overrides(config, testing)
    # The database's place comes from the file, environment or mapping, never from the
    # database; the values saved from the web UI are layered in once it is open.
    settings = load_settings(overrides)
    configure_logging(settings)
    app = Flask(__name__, static_folder=None)
    app.config["TESTING"] = testing
    app.config["JSON_SORT_KEYS"] = False
    app.config[OVERRIDES_KEY] = overrides

    database = Database(settings.effective_database_url,
                        sqlite_busy_timeout_ms=settings.sqlite_busy_timeout_ms)
    upgrade_to_head(database)
    app.database = database  # type: ignore[attr-defined]
    settings = settings_store.resolve(overrides, database)
    app.settings = settings  # type: ignore[attr-defined]
    app.api_key = resolve_api_key(settings)  # type: ignore[attr-defined]

    app.cache_backend = create_cache_backend(  # type: ignore[attr-defined]
        settings.redis_url, max_entries=settings.cache_max_entries,
        default_ttl=settings.cache_default_ttl, key_prefix=settings.redis_key_prefix,
        socket_timeout=settings.redis_socket_timeout,
    )
    app.provider_manager = _provider_manager(app, settings)  # type: ignore[attr-defined]
    app.job_queue = create_job_queue(settings, database)  # type: ignore[attr-defined]
    app.job_queue.bind_app(app)  # type: ignore[attr-defined]

    from scheduler import create_scheduler

    app.scheduler = create_scheduler(app)  # type: ignore[attr-defined]

    register_error_handlers(app)
    from routes import register_blueprints

    register_blueprints(app)
    from web import register_web

    register_web(app)
    return app


def close_app(app: Flask, *, wait: bool = True) -> None:
    """Release what create_app opened: scheduler lease, provider sessions, job pool,
    cache and database connections."""
    if app.scheduler is not None:  # type: ignore[attr-defined]
        app.scheduler.close()  # type: ignore[attr-defined]
    app.provider_manager.close()  # type: ignore[attr-defined]
    app.job_queue.shutdown(wait=wait)  # type: ignore[attr-defined]
    app.cache_backend.close()  # type: ignore[attr-defined]
    app.database.dispose()  # type: ignore[attr-defined]


def _provider_manager(app: Flask, settings: Settings) -> Any:
    from providers import ProviderManager

    return ProviderManager(settings=settings, database=app.database,  # type: ignore[attr-defined]
                           cache_backend=app.cache_backend)  # type: ignore[attr-defined]


# Scheduled tasks whose interval is an editable setting.
_TASK_INTERVALS = {"search wanted": "wanted_search_interval",
                   "sync library": "library_sync_interval"}


def apply_settings(app: Flask, settings: Settings) -> None:
    """Put settings saved from the web UI into force in this process: app.settings is
    read per request and per job (searches, translations, syncs); the provider manager
    reads its settings when built, so a new one replaces it; scheduled intervals follow.
    RQ workers elsewhere pick the saved values up when they next start."""
    previous = app.settings  # type: ignore[attr-defined]
    app.settings = settings  # type: ignore[attr-defined]
    old_manager = app.provider_manager  # type: ignore[attr-defined]
    app.provider_manager = _provider_manager(app, settings)  # type: ignore[attr-defined]
    old_manager.close()
    scheduler = app.scheduler  # type: ignore[attr-defined]
    if scheduler is None:
        return
    for task, name in _TASK_INTERVALS.items():
        if settings[name] != previous[name]:
            scheduler.set_interval(task, settings[name])


def saved_settings_overrides(app: Flask) -> dict[str, Any]:
    """The create_app mapping this app was built with."""
    return dict(app.config.get(OVERRIDES_KEY) or {})


def _overrides(config: Mapping[str, Any] | None, testing: bool) -> dict[str, Any]:
    overrides = dict(config or {})
    if testing:
        given = {k.lower() for k in overrides}
        env = os.environ
        defaults: dict[str, Any] = {}
        for name in _TESTING_ISOLATED:
            if name not in given and f"SUBLARR_{name.upper()}" not in env:
                defaults[name] = ""
        if "data_dir" in defaults:
            defaults["data_dir"] = tempfile.mkdtemp(prefix="sublarr-test-")
        overrides = {**defaults, **overrides}
    return overrides


def configure_logging(settings: Settings) -> None:
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(
            level=settings.log_level,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
    logging.getLogger("sublarr").setLevel(settings.log_level)
    logging.getLogger("alembic").setLevel(logging.WARNING)
