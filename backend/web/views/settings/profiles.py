"""Language profiles: list, create, edit, delete, make default (wanted.py does the work).
Every change queues the wanted-list refresh, so the wanted rows follow the profiles."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import current_app, flash, redirect, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from werkzeug.datastructures import MultiDict

from db.models import LanguageProfile
from providers.base import normalize_language
from routes.profiles import deletable_profile, find_profile
from wanted import (
    create_profile,
    delete_profile,
    profile_to_dict,
    profile_usage,
    update_profile,
)
from wanted_search import submit_library_refresh
from web.blueprint import bp
from web.views.settings.pages import render_settings

BLANK_ROWS = 3  # empty language rows offered below a profile's own
MAX_ROWS = 100


@dataclass
class ProfileForm:
    """What the profile form shows and, once valid, what is saved."""

    name: str = ""
    rows: list[dict[str, Any]] = field(default_factory=list)  # language, hi, forced
    cutoff: int | None = None  # index into the kept rows
    tags: list[str] = field(default_factory=list)
    is_default: bool = False
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, profile: dict[str, Any]) -> ProfileForm:
        return cls(name=profile["name"], rows=[dict(item) for item in profile["items"]],
                   cutoff=profile["cutoff"], tags=list(profile["tags"]),
                   is_default=profile["is_default"])

    @classmethod
    def read(cls, form: MultiDict[str, str]) -> ProfileForm:
        """Rows in order, blank ones dropped; every bad language named by its row."""
        result = cls(name=form.get("name", "").strip(), is_default="is_default" in form,
                     tags=[t.strip() for t in form.get("tags", "").split(",") if t.strip()])
        cutoff_row = form.get("cutoff", "")
        for index in range(_row_count(form.get("row_count", ""))):
            language = form.get(f"language-{index}", "").strip()
            if not language:
                continue
            if cutoff_row == str(index):
                result.cutoff = len(result.rows)
            row = {"language": language, "hi": f"hi-{index}" in form,
                   "forced": f"forced-{index}" in form}
            try:
                row["language"] = normalize_language(language)
            except ValueError as exc:
                result.errors[f"language-{len(result.rows)}"] = str(exc)
            result.rows.append(row)
        if not result.name:
            result.errors["name"] = "name: must not be empty"
        elif len(result.name) > 100:
            result.errors["name"] = "name: at most 100 characters"
        if not result.rows:
            result.errors["items"] = "languages: add at least one language"
        return result

    def shown_rows(self) -> list[dict[str, Any]]:
        blank = {"language": "", "hi": False, "forced": False}
        return [*self.rows, *[dict(blank) for _ in range(BLANK_ROWS)]]


def _row_count(raw: str) -> int:
    """Rows the form had; a tampered value reads as none rather than failing."""
    try:
        return min(max(int(raw), 0), MAX_ROWS)
    except ValueError:
        return 0


def _database() -> Any:
    return current_app.database  # type: ignore[attr-defined]




@bp.get("/settings/languages")
def settings_profiles() -> ResponseReturnValue:
    from wanted import default_profile

    with _database().session() as session:
        default_profile(session, current_app.settings)  # type: ignore[attr-defined]
        profiles = [profile_to_dict(p) for p in session.scalars(
            select(LanguageProfile).order_by(LanguageProfile.name))]
        usage = profile_usage(session)
    return render_settings("settings/profiles.html", "languages", profiles=profiles,
                           usage=usage)


@bp.route("/settings/languages/new", methods=["GET", "POST"])
def settings_profile_new() -> ResponseReturnValue:
    if request.method == "GET":
        return _render_form(ProfileForm(rows=[{"language": "en", "hi": False,
                                                "forced": False}]), None)
    form = ProfileForm.read(request.form)
    if form.errors:
        return _render_form(form, None, status=400)
    try:
        with _database().session() as session:
            create_profile(session, form.name, form.rows, cutoff=form.cutoff, tags=form.tags,
                           is_default=form.is_default)
    except IntegrityError:
        form.errors["name"] = f"name: a profile called {form.name!r} exists already"
        return _render_form(form, None, status=400)
    submit_library_refresh()
    flash(f"Profile {form.name!r} created; the wanted list is being refreshed.", "success")
    return redirect(url_for("web.settings_profiles"))


@bp.route("/settings/languages/<int:profile_id>", methods=["GET", "POST"])
def settings_profile_edit(profile_id: int) -> ResponseReturnValue:
    with _database().session() as session:
        stored = profile_to_dict(find_profile(session, profile_id))
    if request.method == "GET":
        return _render_form(ProfileForm.of(stored), profile_id)
    form = ProfileForm.read(request.form)
    if form.errors:
        return _render_form(form, profile_id, status=400)
    changes: dict[str, Any] = {"name": form.name, "items": form.rows, "cutoff": form.cutoff,
                               "tags": form.tags}
    if form.is_default:
        changes["is_default"] = True  # unticking is done by making another one default
    try:
        with _database().session() as session:
            update_profile(session, find_profile(session, profile_id), **changes)
    except IntegrityError:
        form.errors["name"] = f"name: a profile called {form.name!r} exists already"
        return _render_form(form, profile_id, status=400)
    submit_library_refresh()
    flash(f"Profile {form.name!r} saved; the wanted list is being refreshed.", "success")
    return redirect(url_for("web.settings_profiles"))


@bp.post("/settings/languages/<int:profile_id>/default")
def settings_profile_default(profile_id: int) -> ResponseReturnValue:
    with _database().session() as session:
        profile = find_profile(session, profile_id)
        update_profile(session, profile, is_default=True)
        name = profile.name
    submit_library_refresh()
    flash(f"{name!r} is now the default profile.", "success")
    return redirect(url_for("web.settings_profiles"))


@bp.post("/settings/languages/<int:profile_id>/delete")
def settings_profile_delete(profile_id: int) -> ResponseReturnValue:
    with _database().session() as session:
        profile = deletable_profile(session, profile_id)
        used = profile_usage(session).get(profile_id, 0)
        name = profile.name
        delete_profile(session, profile)
    submit_library_refresh()
    fallback = (f" {used} series/movies now use their tags' profile or the default."
                if used else "")
    flash(f"Profile {name!r} deleted.{fallback}", "success")
    return redirect(url_for("web.settings_profiles"))


def _render_form(form: ProfileForm, profile_id: int | None,
                 status: int = 200) -> ResponseReturnValue:
    return render_settings("settings/profile_form.html", "languages", status=status,
                           form=form, profile_id=profile_id)
