"""One exception base for the API; every error renders as
{"error": {"code", "message", "details"}} with its HTTP status."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, has_request_context, jsonify, render_template, request
from markupsafe import escape
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


class ApiError(Exception):
    status = 500
    code = "internal_error"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None,
                 code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}
        if code:
            self.code = code


class BadRequest(ApiError):
    status = 400
    code = "bad_request"


class ValidationFailed(BadRequest):
    """Bad input; details name the field."""

    code = "validation_failed"

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}", details={"field": field})


class Unauthorized(ApiError):
    status = 401
    code = "unauthorized"


class NotFound(ApiError):
    status = 404
    code = "not_found"


class Conflict(ApiError):
    status = 409
    code = "conflict"


class ServiceUnavailable(ApiError):
    status = 503
    code = "service_unavailable"


def error_response(status: int, code: str, message: str,
                   details: dict[str, Any] | None = None) -> tuple[Response, int]:
    if _wants_page():
        return _error_page(status, code, message)
    body = {"error": {"code": code, "message": message, "details": details or {}}}
    return jsonify(body), status


def _wants_page() -> bool:
    """Browser UI paths get an HTML error page; the API and /metrics keep JSON."""
    if not has_request_context():
        return False
    path = request.path
    return not (path == "/api" or path.startswith("/api/") or path == "/metrics")


def _error_page(status: int, code: str, message: str) -> tuple[Response, int]:
    title = code.replace("_", " ").capitalize()
    try:
        html = render_template("error.html", status=status, title=title, message=message)
    except Exception:  # the page itself failing must still answer
        log.exception("error page could not be rendered")
        html = f"<h1>{status} {escape(title)}</h1><p>{escape(message)}</p>"
    return Response(html, status=status, mimetype="text/html"), status


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> tuple[Response, int]:
        return error_response(exc.status, exc.code, exc.message, exc.details)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> HTTPException | tuple[Response, int]:
        status = exc.code or 500
        if status < 400:
            # Routing redirects (e.g. a missing trailing slash) are answers, not errors.
            return exc
        code = (exc.name or "error").lower().replace(" ", "_")
        response, status = error_response(status, code,
                                          exc.description or exc.name or "error")
        # Keep what the client needs to act on, such as Allow on a 405.
        for name, value in exc.get_headers():
            if name.lower() != "content-type":
                response.headers[name] = value
        return response, status

    @app.errorhandler(OperationalError)
    def _database_error(exc: OperationalError) -> tuple[Response, int]:
        log.error("database unavailable: %s", exc.orig if exc.orig is not None else exc)
        return error_response(503, "database_unavailable",
                              "the database is unavailable; try again later")

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> tuple[Response, int]:
        log.exception("unhandled error")
        return error_response(500, "internal_error",
                              "internal error; the server log has the details")
