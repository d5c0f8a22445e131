"""What every page request passes first: CSRF on anything that changes state, then the
login (or the first-start account form when no account exists)."""

from __future__ import annotations

import hashlib
from typing import Any

from flask import Response, current_app, g, redirect, request, session, url_for
from sqlalchemy import select

from db.models import WebUser
from web.accounts import has_users
from web.blueprint import bp

OPEN_ENDPOINTS = frozenset({"web.login", "web.setup", "web.static"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@bp.before_request
def _check_request() -> Any:
    from web import csrf

    if request.method not in SAFE_METHODS:
        csrf.protect()
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    if current_user() is not None:
        return None
    # Only without a valid session: is there any account yet, or is this the first start?
    if not has_users(current_app.database):  # type: ignore[attr-defined]
        return _send_to(url_for("web.setup"))
    return _send_to(url_for("web.login", next=request.full_path.rstrip("?")))


def password_fingerprint(password_hash: str) -> str:
    """Stored in the session: changing the password logs out every other session."""
    return hashlib.sha256(password_hash.encode("utf-8")).hexdigest()[:16]


def current_user() -> str | None:
    """The logged-in user name, checked against the database once per request (the
    guard asks first, the page's top bar again)."""
    if "sublarr_user" not in g:
        g.sublarr_user = _session_user()
    user: str | None = g.sublarr_user
    return user


def _session_user() -> str | None:
    username = session.get("user")
    if not username:
        return None
    database = current_app.database  # type: ignore[attr-defined]
    with database.session() as db:
        stored = db.scalar(select(WebUser.password_hash).where(WebUser.username == username))
    if stored is None or session.get("auth") != password_fingerprint(stored):
        session.clear()
        return None
    return str(username)


def _send_to(location: str) -> Response:
    if request.headers.get("HX-Request"):
        # htmx would swap the login page into a fragment; ask it to navigate instead.
        response = Response(status=401)
        response.headers["HX-Redirect"] = location
        return response
    return redirect(location)  # type: ignore[return-value]
