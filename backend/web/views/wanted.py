"""Wanted page: the wanted list over the same filter, sort and paging as
GET /api/v1/wanted (routes.wanted parses them, WantedRepository reads them), with
searches (one item, a selection, everything the filter matches), ignore / un-ignore and
a library refresh, each queued the way the API queues it.

Filters are GET parameters (the URL can be shared); htmx swaps #wanted-view and pushes
the URL. The table (#wanted-table) reloads its own rows after every action (the
"wanted-changed" event the action answers with) and every 2 s while one of its rows has
a search queued or running, so status changes show without a page reload.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import (
    current_app,
    flash,
    get_template_attribute,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from db.models import Job, WantedItem
from db.repositories.wanted import WantedFilter, WantedRepository
from errors import ValidationFailed
from job_queue.types import ACTIVE_STATUSES
from routes.wanted import (
    MAX_PAGE_SIZE,
    existing_ids,
    ids_matching,
    parse_filter,
    parse_paging,
    parse_sort,
    set_ignored,
    start_search,
)
from wanted import STATUSES
from web.blueprint import bp
from web.filters import parse_timestamp

# The listing's GET parameters, in the order they appear in a shared URL.
LIST_ARGS = ("status", "language", "q", "sort", "order", "page_size", "page")
SORT_CHOICES = (("due", "Next search"), ("title", "Title"), ("status", "Status"),
                ("attempts", "Attempts"), ("last_search", "Last search"),
                ("created", "Added"), ("score", "Score"))
PAGE_SIZES = (25, 50, 100, 200)
VARIANT_LABELS = {"normal": "", "hi": "HI", "forced": "forced"}
CHANGED_EVENT = "wanted-changed"


def _repo() -> WantedRepository:
    return WantedRepository(current_app.database)  # type: ignore[attr-defined]


def wanted_url(endpoint: str, params: dict[str, Any]) -> str:
    return url_for(endpoint, **params)


def wanted_list_args(source: Any) -> dict[str, str]:
    """The listing parameters that are set, as strings (what links and forms carry)."""
    return {name: str(source.get(name)).strip() for name in LIST_ARGS
            if source.get(name) not in (None, "")}


# -- reading ------------------------------------------------------------------------


def active_search_jobs(item_ids: list[int]) -> dict[int, str]:
    """Item id -> "queued" / "running" for items whose search job has not ended."""
    from wanted_search import job_id_for

    if not item_ids:
        return {}
    by_job = {job_id_for(i): i for i in item_ids}
    with current_app.database.session() as session:  # type: ignore[attr-defined]
        rows = session.execute(select(Job.id, Job.status).where(
            Job.id.in_(list(by_job)), Job.status.in_(ACTIVE_STATUSES))).all()
    return {by_job[job_id]: str(status) for job_id, status in rows}


def media_label(item: dict[str, Any]) -> str:
    """"Series S01E02" for an episode, the title for a movie."""
    title = item.get("title") or Path(item["path"]).stem
    if item.get("kind") == "episode" and item.get("episode") is not None:
        return f"{title} S{item.get('season') or 0:02d}E{item['episode']:02d}"
    return str(title)


def language_label(language: str, variant: str) -> str:
    suffix = VARIANT_LABELS.get(variant, variant)
    return f"{language} {suffix}" if suffix else language


def _decorate(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What the row template shows beyond the API's fields: labels, datetimes, and
    whether a search is in flight (such rows keep the table polling)."""
    jobs = active_search_jobs([item["id"] for item in items])
    now = datetime.now(UTC)
    for item in items:
        job = jobs.get(item["id"])
        item["media"] = media_label(item)
        item["file_name"] = Path(item["path"]).name
        item["lang"] = language_label(item["language"], item["variant"])
        item["last_search"] = parse_timestamp(item["last_search_at"])
        item["next_search"] = parse_timestamp(item["next_search_at"])
        item["due_now"] = item["next_search"] is not None and item["next_search"] <= now
        item["busy"] = item["status"] == "searching" or job is not None
        item["shown_status"] = ("queued" if job == "queued" and item["status"] == "wanted"
                                else item["status"])
    return items


def _languages() -> list[str]:
    with current_app.database.session() as session:  # type: ignore[attr-defined]
        return sorted(session.scalars(select(WantedItem.language).distinct()))


def _table_context(items: list[dict[str, Any]], args: dict[str, str]) -> dict[str, Any]:
    sort, descending = parse_sort(args)
    ids = ",".join(str(item["id"]) for item in items)
    return {"items": items, "args": args, "sort": sort, "descending": descending,
            "busy": any(item["busy"] for item in items),
            "rows_url": wanted_url("web.wanted_rows", {"ids": ids, **args}),
            "sort_url": _sort_url}


def _sort_url(args: dict[str, str], column: str, sort: str, descending: bool) -> str:
    """Link of a column head: sort by it, or flip the order when it already sorts."""
    order = "asc" if column == sort and descending else (
        "desc" if column == sort else "asc")
    params = {**args, "sort": column, "order": order}
    params.pop("page", None)
    return wanted_url("web.wanted", params)


@bp.get("/wanted")
def wanted() -> ResponseReturnValue:
    args = wanted_list_args(request.args)
    flt = parse_filter(args)
    sort, descending = parse_sort(args)
    page, page_size = parse_paging(args)
    repo = _repo()
    summary = repo.summary()
    items, total = repo.page(flt, sort=sort, descending=descending, page=page,
                             page_size=page_size, summary=summary)
    pages = max(1, -(-total // page_size))
    context = {
        **_table_context(_decorate(items), args), "summary": summary, "total": total,
        "page": page, "pages": pages, "page_size": page_size, "statuses": STATUSES,
        "languages": _languages(), "sort_choices": SORT_CHOICES,
        "page_sizes": sorted({*PAGE_SIZES, page_size}),
        "page_url": lambda n: wanted_url("web.wanted", {**args, "page": n}),
        "back": wanted_url("web.wanted", args), "refresh_job": _refresh_job(),
    }
    partial = (request.headers.get("HX-Target") == "wanted-view"
               and not request.headers.get("HX-History-Restore-Request"))
    template = "wanted/_view.html" if partial else "wanted/index.html"
    response = make_response(render_template(template, page_title="Wanted",
                                             active_page="wanted", **context))
    response.headers["Vary"] = "HX-Request, HX-Target"
    return response


def _parse_ids(raw: Any, field: str) -> list[int]:
    values = raw if isinstance(raw, list) else str(raw or "").split(",")
    try:
        ids = [int(v) for v in values if str(v).strip()]
    except ValueError:
        raise ValidationFailed(field, "must be whole numbers") from None
    if len(ids) > MAX_PAGE_SIZE:
        raise ValidationFailed(field, f"at most {MAX_PAGE_SIZE} ids")
    return list(dict.fromkeys(ids))


@bp.get("/wanted/rows")
def wanted_rows() -> ResponseReturnValue:
    """The table again for the rows it shows (by id, in the same order), with the
    counts out of band: what the table polls while a search runs."""
    args = wanted_list_args(request.args)
    ids = _parse_ids(request.args.get("ids"), "ids")
    rows, _ = _repo().page(WantedFilter(ids=tuple(ids)), page_size=max(len(ids), 1)) \
        if ids else ([], 0)
    by_id = {row["id"]: row for row in rows}
    items = _decorate([by_id[i] for i in ids if i in by_id])
    return render_template("wanted/_table.html", summary=_repo().summary(), oob=True,
                           back=wanted_url("web.wanted", args),
                           **_table_context(items, args))


# -- actions --------------------------------------------------------------------------


def _back() -> str:
    """Where a plain (no-JavaScript) form goes after its POST: the page it came from."""
    target = str(request.form.get("back") or "")
    if target.startswith(("/wanted", "/library")) and not target.startswith("//"):
        return target
    return url_for("web.wanted")


def wanted_answer(message: str, kind: str = "success") -> ResponseReturnValue:
    """htmx: a toast and the event that makes the table reload; otherwise flash the
    message and go back to the list the form was posted from."""
    if request.headers.get("HX-Request"):
        toast = get_template_attribute("_macros.html", "toast")
        response = make_response(str(toast(message, kind)))
        response.headers["HX-Trigger"] = CHANGED_EVENT
        return response
    flash(message, "error" if kind == "error" else "success")
    return redirect(_back())


@bp.post("/wanted/<int:item_id>/search")
def wanted_search_one(item_id: int) -> ResponseReturnValue:
    _, item = start_search(item_id)
    lang = language_label(item["language"], item["variant"])
    return wanted_answer(f"Searching {media_label(item)} ({lang})")


@bp.post("/wanted/search")
def wanted_search_selected() -> ResponseReturnValue:
    from wanted_search import submit_wanted_batch_search

    ids = _parse_ids(request.form.getlist("ids"), "ids")
    if not ids:
        return wanted_answer("Select the items to search first.", "error")
    submit_wanted_batch_search(existing_ids(ids))
    return wanted_answer(f"Searching {len(ids)} selected item{'s' if len(ids) != 1 else ''}")


@bp.post("/wanted/search-all")
def wanted_search_all() -> ResponseReturnValue:
    from wanted_search import submit_wanted_batch_search

    limit = current_app.settings.wanted_batch_limit  # type: ignore[attr-defined]
    ids = ids_matching(parse_filter(wanted_list_args(request.form)), limit)
    if not ids:
        return wanted_answer("Nothing to search: no wanted or failed item matches.", "info")
    submit_wanted_batch_search(ids)
    more = f" (the first {limit})" if len(ids) == limit else ""
    return wanted_answer(f"Searching {len(ids)} item{'s' if len(ids) != 1 else ''}{more}")


@bp.post("/wanted/<int:item_id>/ignore")
def wanted_ignore(item_id: int) -> ResponseReturnValue:
    item = set_ignored(item_id, True)
    return wanted_answer(f"Ignoring {media_label(item)} ({item['language']})")


@bp.post("/wanted/<int:item_id>/unignore")
def wanted_unignore(item_id: int) -> ResponseReturnValue:
    item = set_ignored(item_id, False)
    return wanted_answer(f"{media_label(item)} ({item['language']}) is wanted again")


def _refresh_job() -> Any:
    from wanted_search import REFRESH_JOB_ID

    return current_app.job_queue.get_job(REFRESH_JOB_ID)  # type: ignore[attr-defined]


@bp.post("/wanted/refresh")
def wanted_refresh() -> ResponseReturnValue:
    """Queue the library scan + wanted refresh (the job POST /api/v1/wanted/refresh
    queues); the page then follows it in #wanted-refresh."""
    from wanted_search import submit_library_refresh

    submit_library_refresh()
    message = "Library scan queued: the list can be reloaded when it finishes."
    if not request.headers.get("HX-Request"):
        return wanted_answer(message, "info")
    toast = get_template_attribute("_macros.html", "toast")
    status = render_template("wanted/_refresh.html", job=_refresh_job(), oob=True,
                             back=_back(), followed=True)
    return str(toast(message, "info")) + status


@bp.get("/wanted/refresh")
def wanted_refresh_status() -> ResponseReturnValue:
    """The scan's state, polled while it runs; once it ends, a link to reload the list."""
    back = str(request.args.get("back") or "")
    return render_template("wanted/_refresh.html", job=_refresh_job(), followed=True,
                           back=back if back.startswith("/wanted") else url_for("web.wanted"))
