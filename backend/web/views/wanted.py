"""Wanted page (placeholder until the page is built)."""

from __future__ import annotations

from flask import render_template
from flask.typing import ResponseReturnValue

from web.blueprint import bp


@bp.get("/wanted")
def wanted() -> ResponseReturnValue:
    return render_template("placeholder.html", page_title="Wanted", active_page="wanted")
