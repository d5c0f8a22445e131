"""The one blueprint every page of the browser UI hangs off (endpoint names "web.*")."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("web", __name__, template_folder="templates", static_folder="static",
               static_url_path="/static")
