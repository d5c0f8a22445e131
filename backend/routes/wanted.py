"""/api/v1/wanted: the wanted list (filtered, sorted, paged, with counts by status),
``?status=&language=&kind=&series_id=&movie_id=&search= (or q=)&sort=&order=&page=
&page_size=``;
refresh (queued as a job: a scan can take minutes), searches (one job per item) and
ignore / un-ignore."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, request
from flask.typing import ResponseReturnValue

from db.repositories.wanted import KINDS, SORT_ALIASES, SORTS, WantedFilter, WantedRepository
from errors import NotFound, ValidationFailed
from wanted import STATUSES

bp = Blueprint("wanted", __name__)

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


def _repo() -> WantedRepository:
    return WantedRepository(current_app.database)  # type: ignore[attr-defined]


def _int(value: Any, name: str, minimum: int = 1, maximum: int | None = None) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValidationFailed(name, f"must be a whole number, got {value!r}") from None
    if number < minimum or (maximum is not None and number > maximum):
        bounds = f"between {minimum} and {maximum}" if maximum else f">= {minimum}"
        raise ValidationFailed(name, f"must be {bounds}, got {number}")
    return number


def parse_filter(args: Any) -> WantedFilter:
    """A WantedFilter from query arguments or a JSON body (ValidationFailed on bad ones)."""
    raw_status = args.get("status") or ""
    statuses = raw_status if isinstance(raw_status, list) else str(raw_status).split(",")
    statuses = [s.strip().lower() for s in statuses if s and s.strip()]
    unknown = [s for s in statuses if s not in STATUSES]
    if unknown:
        raise ValidationFailed("status", f"unknown status {', '.join(unknown)}; use "
                                         f"{', '.join(STATUSES)}")
    kind = args.get("kind") or None
    if kind is not None and kind not in KINDS:
        raise ValidationFailed("kind", f"must be one of {', '.join(KINDS)}")
    language = args.get("language") or None
    if language is not None:
        from providers.base import normalize_language

        try:
            language = normalize_language(str(language))
        except ValueError as exc:
            raise ValidationFailed("language", str(exc)) from None
    series_id = args.get("series_id")
    movie_id = args.get("movie_id")
    return WantedFilter(
        statuses=tuple(dict.fromkeys(statuses)), language=language, kind=kind,
        series_id=_int(series_id, "series_id") if series_id not in (None, "") else None,
        movie_id=_int(movie_id, "movie_id") if movie_id not in (None, "") else None,
        search=(str(args.get("search") or args.get("q") or "").strip() or None))


def parse_sort(args: Any) -> tuple[str, bool]:
    """(sort, descending) from ``sort=`` (a name, an alias, or "-name") and ``order=``."""
    sort = str(args.get("sort") or "due")
    order = args.get("order") or ("desc" if sort.startswith("-") else "asc")
    if order not in ("asc", "desc"):
        raise ValidationFailed("order", "must be asc or desc")
    sort = SORT_ALIASES.get(sort.lstrip("-"), sort.lstrip("-"))
    if sort not in SORTS:
        raise ValidationFailed("sort", f"must be one of {', '.join(SORTS)} (prefix - "
                                       "or order=desc for descending)")
    return sort, order == "desc"


def parse_paging(args: Any) -> tuple[int, int]:
    page = _int(args.get("page") or 1, "page")
    page_size = _int(args.get("page_size") or DEFAULT_PAGE_SIZE, "page_size",
                     maximum=MAX_PAGE_SIZE)
    return page, page_size


@bp.get("")
def list_wanted() -> ResponseReturnValue:
    flt = parse_filter(request.args)
    sort, descending = parse_sort(request.args)
    page, page_size = parse_paging(request.args)
    repo = _repo()
    summary = repo.summary()
    items, total = repo.page(flt, sort=sort, descending=descending, page=page,
                             page_size=page_size, summary=summary)
    return jsonify({"items": items, "total": total, "page": page, "page_size": page_size,
                    "summary": summary})


@bp.post("/refresh")
def refresh() -> ResponseReturnValue:
    from wanted_search import submit_library_refresh

    job_id = submit_library_refresh()
    return jsonify({"job_id": job_id}), 202


def _existing(item_id: int) -> dict[str, Any]:
    item = _repo().get(item_id)
    if item is None:
        raise NotFound(f"wanted item {item_id} does not exist", details={"id": item_id})
    return item


def start_search(item_id: int) -> tuple[str, dict[str, Any]]:
    """Queue one item's search: (job id, the item). Ignored items are refused."""
    from wanted_search import submit_wanted_search

    item = _existing(item_id)
    if item["status"] == "ignored":
        raise ValidationFailed("id", f"wanted item {item_id} is ignored; un-ignore it first")
    return submit_wanted_search(item_id), item


def ids_matching(flt: WantedFilter, limit: int) -> list[int]:
    """What a "search all" covers: the filter's items, wanted and failed ones unless the
    filter names statuses, due first, at most `limit`."""
    if not flt.statuses:
        flt.statuses = ("wanted", "failed")
    return _repo().ids(flt, limit=limit)


def existing_ids(ids: list[int]) -> list[int]:
    """The ids as given, NotFound naming any that do not exist."""
    known = set(_repo().ids(WantedFilter(ids=tuple(ids)), limit=len(ids)))
    missing = [i for i in ids if i not in known]
    if missing:
        raise NotFound(f"wanted item(s) {', '.join(map(str, missing))} do not exist",
                       details={"ids": missing})
    return ids


def set_ignored(item_id: int, ignored: bool) -> dict[str, Any]:
    """Ignore or un-ignore an item; returns it as it is now."""
    _existing(item_id)
    _repo().set_ignored(item_id, ignored)
    return _existing(item_id)


@bp.post("/<int:item_id>/search")
def search_one(item_id: int) -> ResponseReturnValue:
    job_id, item = start_search(item_id)
    return jsonify({"job_id": job_id, "item": item}), 202


@bp.post("/batch-search")
def batch_search() -> ResponseReturnValue:
    from wanted_search import submit_wanted_batch_search

    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ValidationFailed("body", 'send {"ids": [...]} or {"all": true, ...filters}')
    limit = current_app.settings.wanted_batch_limit  # type: ignore[attr-defined]
    if body.get("all") is True:
        ids = ids_matching(parse_filter(body), _int(body.get("limit", limit), "limit"))
    elif isinstance(body.get("ids"), list) and body["ids"]:
        ids = existing_ids([_int(value, "ids") for value in body["ids"]])
    else:
        raise ValidationFailed("ids", 'send a non-empty "ids" list or "all": true')
    job_ids = submit_wanted_batch_search(ids)
    return jsonify({"job_ids": job_ids, "count": len(job_ids)}), 202


@bp.post("/<int:item_id>/ignore")
def ignore(item_id: int) -> ResponseReturnValue:
    return jsonify(set_ignored(item_id, True))


@bp.post("/<int:item_id>/unignore")
def unignore(item_id: int) -> ResponseReturnValue:
    return jsonify(set_ignored(item_id, False))
