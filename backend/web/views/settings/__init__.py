"""The Settings pages. Importing the package registers every route on web.blueprint.bp:
pages.py (General, the editable sections, System) and profiles.py (language profiles)."""

from __future__ import annotations

from web.views.settings import pages, profiles  # noqa: F401 - routes register on import
