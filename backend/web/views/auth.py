"""Login, logout and the first-start account form."""

from __future__ import annotations

import logging
import threading
from urllib.parse import urlsplit

from flask import current_app, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from web.accounts import (
    AccountError,
    create_first_user,
    has_users,
    validate_credentials,
    verify_login,
)
from web.blueprint import bp
from web.guard import password_fingerprint

log = logging.getLogger("sublarr.web")

# Guessing passwords: a few failed tries per minute per address and user name (a
# successful login does not count, so a household logging in often is never locked out).
LOGIN_LIMIT = parse("10/minute")
_limiter = MovingWindowRateLimiter(MemoryStorage())
# MemoryStorage is not safe for request threads calling it at once (see
# providers.resilience.RateLimit): one caller at a time.
_limiter_lock = threading.Lock()


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    database = current_app.database  # type: ignore[attr-defined]
    if not has_users(database):
        return redirect(url_for("web.setup"))
    target = _safe_next(request.values.get("next"))
    if request.method == "GET":
        return render_template("login.html", next=target, error=None, username="")
    username = request.form.get("username", "").strip()
    password = request.form.get("password", "")
    who = (request.remote_addr or "-", username.lower())
    with _limiter_lock:
        allowed = _limiter.test(LOGIN_LIMIT, *who)
    if not allowed:
        return render_template("login.html", next=target, username=username,
                               error="Too many failed attempts; wait a minute and try "
                                     "again."), 429
    if not verify_login(database, username, password):
        with _limiter_lock:
            _limiter.hit(LOGIN_LIMIT, *who)
        log.warning("failed web login for %r from %s", username, request.remote_addr)
        return render_template("login.html", next=target, username=username,
                               error="Wrong user name or password."), 401
    _start_session(username, remember=bool(request.form.get("remember")))
    return redirect(target)


@bp.route("/setup", methods=["GET", "POST"])
def setup() -> ResponseReturnValue:
    database = current_app.database  # type: ignore[attr-defined]
    if has_users(database):
        return redirect(url_for("web.login"))
    if request.method == "GET":
        return render_template("setup.html", error=None, username="admin")
    username = request.form.get("username", "").strip()
    password = request.form.get("password", "")
    try:
        validate_credentials(username, password, request.form.get("confirm", ""))
    except AccountError as exc:
        return render_template("setup.html", error=str(exc), username=username), 400
    if not create_first_user(database, username, password):
        # Someone else finished the form first: their account stands.
        return redirect(url_for("web.login"))
    log.info("web UI account %r created", username)
    _start_session(username, remember=False)
    return redirect(url_for("web.dashboard"))


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    session.clear()
    return redirect(url_for("web.login"))


def _start_session(username: str, *, remember: bool) -> None:
    from sqlalchemy import select

    from db.models import WebUser

    database = current_app.database  # type: ignore[attr-defined]
    with database.session() as db:
        stored = db.scalar(select(WebUser.password_hash).where(WebUser.username == username))
    session.clear()
    session.permanent = remember
    session["user"] = username
    session["auth"] = password_fingerprint(stored or "")


def _safe_next(target: str | None) -> str:
    """Only paths on this server: a crafted ?next= must not send users elsewhere."""
    if not target:
        return url_for("web.dashboard")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("web.dashboard")
    return target
