"""Settings page (placeholder until the page is built)."""

from __future__ import annotations

from flask import render_template
from flask.typing import ResponseReturnValue

from web.blueprint import bp


@bp.get("/settings")
def settings() -> ResponseReturnValue:
    return render_template("placeholder.html", page_title="Settings", active_page="settings")
