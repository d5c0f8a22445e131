"""Dashboard page (placeholder until the page is built)."""

from __future__ import annotations

from flask import render_template
from flask.typing import ResponseReturnValue

from web.blueprint import bp


@bp.get("/")
def dashboard() -> ResponseReturnValue:
    return render_template("placeholder.html", page_title="Dashboard", active_page="dashboard")
