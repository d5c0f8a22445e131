"""The browser UI: server-rendered pages with htmx, served by the same app at `/`.

Pages sit behind a forms login (one account, made on first start); every form and every
htmx request carries a CSRF token (Flask-WTF). The /api/v1 routes keep their API key and
are not touched by any of this.
"""

from __future__ import annotations

from datetime import timedelta

from flask import Flask
from flask_wtf.csrf import CSRFProtect

from web.accounts import session_secret

csrf = CSRFProtect()

# Every page module registers its routes on web.blueprint.bp when imported.
PAGE_MODULES = ("auth", "dashboard", "wanted", "library", "providers", "jobs", "translate",
                "settings")


def register_web(app: Flask) -> None:
    import importlib

    from web import filters, guard  # noqa: F401 - guard hooks itself onto bp
    from web.blueprint import bp

    app.secret_key = session_secret(app.database)  # type: ignore[attr-defined]
    app.config.update(
        SESSION_COOKIE_NAME="sublarr_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=timedelta(days=30),
        # The web blueprint asks for the check itself, so the API (key-authenticated,
        # used by scripts and *arr webhooks) never needs a token.
        WTF_CSRF_CHECK_DEFAULT=False,
        # Pages stay open for hours; the token lives as long as the session does.
        WTF_CSRF_TIME_LIMIT=None,
    )
    csrf.init_app(app)
    for name in PAGE_MODULES:
        importlib.import_module(f"web.views.{name}")
    filters.install(app)
    app.register_blueprint(bp)
