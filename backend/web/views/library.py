"""Library pages: series (-> seasons -> episodes) and movies, each file with a badge per
wished language — present, missing, embedded or translated, as routes.library computes
them (wanted.subtitle_state) — and a Search for the missing ones.

A file whose search is queued or running shows "searching" and its row polls every 2 s
until the search settles, so a download turns the badge to present without a reload.
"""

from __future__ import annotations

from collections import Counter
from itertools import groupby
from pathlib import Path
from typing import Any

from flask import current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from db.models import MediaFile, Movie, Series
from errors import ValidationFailed
from routes.library import list_owners, media_file_state, page_args, series_episodes
from routes.wanted import start_search
from web.blueprint import bp
from web.views.wanted import active_search_jobs, media_label

OPEN_STATUSES = ("wanted", "failed")
HAVE_STATES = ("present", "embedded", "translated")
VIEWS = ("episode", "movie")


def _label(language: str, variant: str) -> str:
    # The key wanted.subtitle_state uses for a wish.
    return language if variant == "normal" else f"{language}:{variant}"


def decorate_files(files: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per file: a badge per wish (state, and "searching" while its search is in flight),
    the wanted row a Search would start, and whether the row must keep polling."""
    jobs = active_search_jobs([row["id"] for f in files for row in f["wanted"]])
    for media in files:
        rows = {_label(r["language"], r["variant"]): r for r in media["wanted"]}
        badges = []
        for label, state in media["subtitles"].items():
            row = rows.get(label)
            busy = row is not None and (row["status"] == "searching" or row["id"] in jobs)
            searchable = (row is not None and state == "missing" and not busy
                          and row["status"] in OPEN_STATUSES)
            badges.append({"label": label, "state": "searching" if busy else state,
                           "busy": busy,
                           "wanted_id": row["id"] if row is not None and searchable else None,
                           "ignored": row is not None and row["status"] == "ignored"})
        media["badges"] = badges
        media["busy"] = any(b["busy"] for b in badges)
        media["file_name"] = Path(media["path"]).name
        media["code"] = (f"S{media['season'] or 0:02d}E{media['episode']:02d}"
                         if media.get("episode") is not None else "")
    return files


def language_summary(files: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per wish over some files: how many have it (any way) and how many miss it."""
    counts: dict[str, Counter[str]] = {}
    for media in files:
        for label, state in media["subtitles"].items():
            counts.setdefault(label, Counter())[state] += 1
    return [{"label": label, "have": sum(c[s] for s in HAVE_STATES),
             "missing": c["missing"], "total": sum(c.values()), "states": dict(c)}
            for label, c in counts.items()]


def _pages(total: int, size: int) -> int:
    return max(1, -(-total // size))


@bp.get("/library")
def library() -> ResponseReturnValue:
    page, size = page_args()
    listing = list_owners(Series, MediaFile.series_id, page, size, with_files=True)
    for series in listing["items"]:
        series["summary"] = language_summary(series.pop("media_files"))
    return render_template(
        "library/index.html", page_title="Library", active_page="library", tab="series",
        listing=listing, pages=_pages(listing["total"], size),
        page_url=lambda n: url_for("web.library", page=n, page_size=size))


@bp.get("/library/movies")
def library_movies() -> ResponseReturnValue:
    page, size = page_args()
    listing = list_owners(Movie, MediaFile.movie_id, page, size)
    for movie in listing["items"]:
        decorate_files(movie["media_files"])
    return render_template(
        "library/movies.html", page_title="Movies", active_page="library", tab="movies",
        listing=listing, pages=_pages(listing["total"], size), back=request.full_path,
        page_url=lambda n: url_for("web.library_movies", page=n, page_size=size))


@bp.get("/library/series/<int:series_id>")
def library_series(series_id: int) -> ResponseReturnValue:
    data = series_episodes(series_id)
    episodes = decorate_files(data["episodes"])
    seasons = [{"number": number, "episodes": list(group)}
               for number, group in groupby(episodes, key=lambda e: e["season"])]
    for season in seasons:
        season["summary"] = language_summary(season["episodes"])
    series = data["series"]
    return render_template(
        "library/series.html", page_title=series["title"], active_page="library",
        tab="series", series=series, seasons=seasons,
        summary=language_summary(episodes), back=request.path)


def _file_context(media_file_id: int, view: str) -> dict[str, Any]:
    if view not in VIEWS:
        raise ValidationFailed("view", f"must be one of {', '.join(VIEWS)}")
    media = decorate_files([media_file_state(media_file_id)])[0]
    context: dict[str, Any] = {"file": media, "view": view,
                               "back": str(request.values.get("back") or "")}
    if view == "movie" and media["movie_id"] is not None:
        with current_app.database.session() as session:  # type: ignore[attr-defined]
            movie = session.get(Movie, media["movie_id"])
            context["movie"] = {"title": movie.title, "year": movie.year} if movie else None
    return context


@bp.get("/library/files/<int:media_file_id>")
def library_file_row(media_file_id: int) -> ResponseReturnValue:
    """One file's row again: what a row polls while its search runs."""
    return render_template("library/_file_row.html",
                           **_file_context(media_file_id, request.args.get("view", "")))


@bp.post("/library/wanted/<int:item_id>/search")
def library_search(item_id: int) -> ResponseReturnValue:
    """Search one missing subtitle: htmx gets the file's row back (searching, polling);
    a plain form goes back to the page it came from."""
    _, item = start_search(item_id)
    if request.headers.get("HX-Request"):
        context = _file_context(item["media_file_id"], request.form.get("view", ""))
        return render_template("library/_file_row.html", **context)
    flash(f"Searching {media_label(item)} ({item['language']})", "success")
    back = str(request.form.get("back") or "")
    return redirect(back if back.startswith("/library") else url_for("web.library"))
