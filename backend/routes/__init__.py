"""One blueprint per resource under /api/v1, and /metrics; all of them need the API key."""

from __future__ import annotations

from flask import Flask, current_app, request

from auth import key_matches
from errors import Unauthorized

API_PREFIX = "/api/v1"
METRICS_PATH = "/metrics"
WEBHOOK_PREFIX = API_PREFIX + "/webhook/"
# One message whether the key is missing or wrong, so a caller learns nothing from it.
UNAUTHORIZED_MESSAGE = "a valid API key is required (X-Api-Key header or apikey parameter)"


def register_blueprints(app: Flask) -> None:
    from metrics import metrics_registry
    from routes.glossary import bp as glossary_bp
    from routes.jobs import bp as jobs_bp
    from routes.library import bp as library_bp
    from routes.metrics import bp as metrics_bp
    from routes.profiles import bp as profiles_bp
    from routes.providers import bp as providers_bp
    from routes.system import bp as system_bp
    from routes.translate import bp as translate_bp
    from routes.wanted import bp as wanted_bp
    from routes.webhooks import bp as webhooks_bp

    app.register_blueprint(system_bp, url_prefix=f"{API_PREFIX}/system")
    app.register_blueprint(jobs_bp, url_prefix=f"{API_PREFIX}/jobs")
    app.register_blueprint(providers_bp, url_prefix=f"{API_PREFIX}/providers")
    app.register_blueprint(translate_bp, url_prefix=f"{API_PREFIX}/translate")
    app.register_blueprint(webhooks_bp, url_prefix=f"{API_PREFIX}/webhook")
    app.register_blueprint(wanted_bp, url_prefix=f"{API_PREFIX}/wanted")
    app.register_blueprint(library_bp, url_prefix=f"{API_PREFIX}/library")
    app.register_blueprint(profiles_bp, url_prefix=f"{API_PREFIX}/profiles")
    app.register_blueprint(glossary_bp, url_prefix=f"{API_PREFIX}/glossary")
    app.register_blueprint(metrics_bp)
    metrics_registry(app)
    # An app-level hook rather than per-blueprint ones: it also runs for unknown
    # /api/v1 paths and wrong methods, so without a key nobody can probe which routes exist.
    app.before_request(_require_api_key)


def needs_api_key(path: str) -> bool:
    return path in (API_PREFIX, METRICS_PATH) or path.startswith(API_PREFIX + "/")


def _require_api_key() -> None:
    if not needs_api_key(request.path):
        return
    given = request.headers.get("X-Api-Key") or request.args.get("apikey")
    if not given and request.path.startswith(WEBHOOK_PREFIX) and request.authorization:
        # Sonarr/Radarr webhook connections can send a user name and password only.
        given = request.authorization.password
    if not key_matches(given, current_app.api_key):  # type: ignore[attr-defined]
        raise Unauthorized(UNAUTHORIZED_MESSAGE)
