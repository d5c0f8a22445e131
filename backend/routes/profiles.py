"""/api/v1/profiles: language profiles — an ordered list of (language, hi, forced) wishes
with a cutoff, *arr tags that select the profile, and one default. Every change queues the
wanted-list refresh (job "wanted-refresh"), so the wanted rows follow the profiles."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Blueprint, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from db.models import LanguageProfile
from errors import BadRequest, Conflict, NotFound, ValidationFailed
from wanted import (
    create_profile,
    delete_profile,
    profile_to_dict,
    profile_usage,
    update_profile,
)
from wanted_search import submit_library_refresh

bp = Blueprint("profiles", __name__)

FIELDS = ("name", "items", "cutoff", "tags", "is_default")


@bp.get("")
def list_profiles() -> ResponseReturnValue:
    with current_app.database.session() as session:  # type: ignore[attr-defined]
        used = profile_usage(session)
        profiles = session.scalars(select(LanguageProfile).order_by(LanguageProfile.name))
        return jsonify({"profiles": [_shown(p, used) for p in profiles]})


@bp.get("/<int:profile_id>")
def show_profile(profile_id: int) -> ResponseReturnValue:
    with current_app.database.session() as session:  # type: ignore[attr-defined]
        return jsonify(_shown(find_profile(session, profile_id), profile_usage(session)))


@bp.post("")
def add_profile() -> ResponseReturnValue:
    body = _body(required=("name", "items"))
    with current_app.database.session() as session:  # type: ignore[attr-defined]
        with _saving(session, body["name"]):
            profile = create_profile(session, body["name"], body["items"],
                                     cutoff=body.get("cutoff"), tags=body.get("tags", ()),
                                     is_default=bool(body.get("is_default", False)))
        shown = _shown(profile, profile_usage(session))
    return jsonify({**shown, "refresh_job_id": submit_library_refresh()}), 201


@bp.route("/<int:profile_id>", methods=["PUT", "PATCH"])
def change_profile(profile_id: int) -> ResponseReturnValue:
    body = _body(required=("name", "items") if request.method == "PUT" else ())
    with current_app.database.session() as session:  # type: ignore[attr-defined]
        profile = find_profile(session, profile_id)
        with _saving(session, body.get("name", profile.name)):
            update_profile(session, profile, **body)
        shown = _shown(profile, profile_usage(session))
    return jsonify({**shown, "refresh_job_id": submit_library_refresh()})


@bp.delete("/<int:profile_id>")
def remove_profile(profile_id: int) -> ResponseReturnValue:
    with current_app.database.session() as session:  # type: ignore[attr-defined]
        delete_profile(session, deletable_profile(session, profile_id))
    return jsonify({"deleted": profile_id, "refresh_job_id": submit_library_refresh()})


def _body(*, required: tuple[str, ...]) -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    unknown = sorted(set(body) - set(FIELDS))
    if unknown:
        raise ValidationFailed(unknown[0], f"unknown field; use {', '.join(FIELDS)}")
    for name in required:
        if name not in body:
            raise ValidationFailed(name, "is required")
    if "name" in body and (not isinstance(body["name"], str) or not body["name"].strip()
                           or len(body["name"]) > 100):
        raise ValidationFailed("name", "must be text of 1 to 100 characters")
    if "items" in body and (not isinstance(body["items"], list) or not body["items"]):
        raise ValidationFailed("items", "must be a non-empty list of "
                                        '{"language": "en", "hi": false, "forced": false}')
    if "cutoff" in body and body["cutoff"] is not None and (
            isinstance(body["cutoff"], bool) or not isinstance(body["cutoff"], int)):
        raise ValidationFailed("cutoff", "must be an index into items, or null")
    if "tags" in body and (not isinstance(body["tags"], list)
                           or not all(isinstance(t, str) for t in body["tags"])):
        raise ValidationFailed("tags", "must be a list of *arr tag names")
    if "name" in body:
        body["name"] = body["name"].strip()
    return body


@contextmanager
def _saving(session: Session, name: str) -> Iterator[None]:
    """wanted.py's ValueErrors as 400s naming the field; a taken name as a 409."""
    try:
        yield
        session.flush()
    except ValueError as exc:
        field = "cutoff" if str(exc).startswith("cutoff") else "items"
        raise ValidationFailed(field, str(exc)) from None
    except IntegrityError:
        session.rollback()
        raise Conflict(f"a profile named {name!r} exists already",
                       details={"field": "name"}) from None


def find_profile(session: Session, profile_id: int) -> LanguageProfile:
    """The profile, or NotFound (the API and the settings page)."""
    profile = session.get(LanguageProfile, profile_id)
    if profile is None:
        raise NotFound(f"language profile {profile_id} does not exist",
                       details={"profile_id": profile_id})
    return profile


def deletable_profile(session: Session, profile_id: int) -> LanguageProfile:
    """The profile, unless it is the default (Conflict): something must stay default."""
    profile = find_profile(session, profile_id)
    if profile.is_default:
        raise Conflict("the default profile cannot be deleted; make another profile "
                       "the default first", details={"profile_id": profile_id})
    return profile


def _shown(profile: LanguageProfile, used: dict[int, int]) -> dict[str, Any]:
    return {**profile_to_dict(profile), "used_by": used.get(profile.id, 0)}
