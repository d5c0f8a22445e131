"""Providers page (placeholder until the page is built)."""

from __future__ import annotations

from flask import render_template
from flask.typing import ResponseReturnValue

from web.blueprint import bp


@bp.get("/providers")
def providers() -> ResponseReturnValue:
    return render_template("placeholder.html", page_title="Providers", active_page="providers")
