"""/api/v1/library: series, their episodes and movies, each file with its subtitle
state per wished language (present / embedded / translated / missing)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from flask import Blueprint, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.models import MediaFile, Movie, Series, WantedItem
from errors import NotFound, ValidationFailed
from wanted import ProfileResolver, profile_to_dict, subtitle_state

bp = Blueprint("library", __name__)

MAX_PAGE_SIZE = 500


def page_args() -> tuple[int, int]:
    try:
        page = int(request.args.get("page", 1))
        size = int(request.args.get("page_size", 100))
    except ValueError:
        raise ValidationFailed("page", "page and page_size must be whole numbers") from None
    if page < 1:
        raise ValidationFailed("page", f"must be >= 1, got {page}")
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise ValidationFailed("page_size", f"must be between 1 and {MAX_PAGE_SIZE}")
    return page, size


def _wanted_counts(session: Session, column: Any, ids: list[int]) -> dict[int, dict[str, int]]:
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    if not ids:
        return counts
    rows = session.execute(
        select(column, WantedItem.status, func.count(WantedItem.id))
        .join(MediaFile, MediaFile.id == WantedItem.media_file_id)
        .where(column.in_(ids)).group_by(column, WantedItem.status)).all()
    for owner_id, status, n in rows:
        counts[owner_id][status] = int(n)
    return counts


def files_with_state(session: Session, resolver: ProfileResolver,
                     owner: Series | Movie | None,
                     files: list[MediaFile]) -> list[dict[str, Any]]:
    wishes = resolver.items(resolver.for_owner(owner))
    rows: dict[int, list[WantedItem]] = defaultdict(list)
    if files:
        for row in session.scalars(select(WantedItem).where(
                WantedItem.media_file_id.in_([f.id for f in files]))):
            rows[row.media_file_id].append(row)
    return [{
        "id": media.id, "path": media.path, "kind": media.kind, "series_id": media.series_id,
        "movie_id": media.movie_id, "season": media.season,
        "episode": media.episode, "title": media.title, "missing": media.missing,
        "subtitles": subtitle_state(media, wishes, rows[media.id]),
        "wanted": [{"id": r.id, "language": r.language, "variant": r.variant,
                    "status": r.status} for r in rows[media.id]],
    } for media in files]


def owner_dict(owner: Series | Movie, resolver: ProfileResolver,
               counts: dict[str, int], files: int) -> dict[str, Any]:
    profile = resolver.for_owner(owner)
    data = {"id": owner.id, "title": owner.title, "year": owner.year, "path": owner.path,
            "imdb_id": owner.imdb_id, "tmdb_id": owner.tmdb_id, "monitored": owner.monitored,
            "profile": profile_to_dict(profile), "files": files, "wanted": counts}
    if isinstance(owner, Series):
        data.update(tvdb_id=owner.tvdb_id, anidb_aid=owner.anidb_aid,
                    anilist_id=owner.anilist_id)
    return data


def _list_owners(model: Any, column: Any) -> dict[str, Any]:
    page, size = page_args()
    return list_owners(model, column, page, size)


def list_owners(model: Any, column: Any, page: int, size: int, *,
                with_files: bool = False) -> dict[str, Any]:
    """A page of series (model Series, column MediaFile.series_id) or movies (Movie,
    MediaFile.movie_id) with file and wanted counts; movies, and series when
    `with_files`, list their files ("media_files") each with its subtitle state."""
    database = current_app.database  # type: ignore[attr-defined]
    settings = current_app.settings  # type: ignore[attr-defined]
    with database.session() as session:
        resolver = ProfileResolver(session, settings)
        total = int(session.scalar(select(func.count(model.id))) or 0)
        owners = list(session.scalars(select(model).order_by(model.title, model.id)
                                      .limit(size).offset((page - 1) * size)))
        ids = [o.id for o in owners]
        files = dict(session.execute(
            select(column, func.count(MediaFile.id)).where(column.in_(ids))
            .group_by(column)).all()) if ids else {}
        counts = _wanted_counts(session, column, ids)
        items = [owner_dict(o, resolver, counts.get(o.id, {}), int(files.get(o.id, 0)))
                 for o in owners]
        if model is Movie or with_files:
            owned: dict[int, list[MediaFile]] = defaultdict(list)
            for media in session.scalars(select(MediaFile).where(column.in_(ids)).order_by(
                    MediaFile.season, MediaFile.episode, MediaFile.path)) if ids else []:
                owned[getattr(media, column.key) or 0].append(media)
            for owner, item in zip(owners, items, strict=True):
                item["media_files"] = files_with_state(session, resolver, owner,
                                                       owned[owner.id])
    return {"items": items, "total": total, "page": page, "page_size": size}


@bp.get("/series")
def list_series() -> ResponseReturnValue:
    return jsonify(_list_owners(Series, MediaFile.series_id))


@bp.get("/movies")
def list_movies() -> ResponseReturnValue:
    return jsonify(_list_owners(Movie, MediaFile.movie_id))


def series_episodes(series_id: int) -> dict[str, Any]:
    """A series and its episodes (season, episode, path order), each with its state."""
    database = current_app.database  # type: ignore[attr-defined]
    settings = current_app.settings  # type: ignore[attr-defined]
    with database.session() as session:
        series = session.get(Series, series_id)
        if series is None:
            raise NotFound(f"series {series_id} does not exist", details={"id": series_id})
        resolver = ProfileResolver(session, settings)
        files = list(session.scalars(select(MediaFile).where(MediaFile.series_id == series_id)
                                     .order_by(MediaFile.season, MediaFile.episode,
                                               MediaFile.path)))
        return {"series": owner_dict(series, resolver, {}, len(files)),
                "episodes": files_with_state(session, resolver, series, files)}


def media_file_state(media_file_id: int) -> dict[str, Any]:
    """One file with its subtitle state, as in a series' or movie's list."""
    database = current_app.database  # type: ignore[attr-defined]
    settings = current_app.settings  # type: ignore[attr-defined]
    with database.session() as session:
        media = session.get(MediaFile, media_file_id)
        if media is None:
            raise NotFound(f"media file {media_file_id} does not exist",
                           details={"id": media_file_id})
        owner = (session.get(Series, media.series_id) if media.series_id
                 else session.get(Movie, media.movie_id) if media.movie_id else None)
        return files_with_state(session, ProfileResolver(session, settings), owner,
                                [media])[0]


@bp.get("/series/<int:series_id>/episodes")
def episodes(series_id: int) -> ResponseReturnValue:
    return jsonify(series_episodes(series_id))
