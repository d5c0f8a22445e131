"""Jobs page: the job records, refreshed live, with cancel and retry.

The list and the detail view poll small fragments (every 2 s) so progress and status
changes show without a reload. Cancel and retry call the same functions as
POST /api/v1/jobs/<id>/cancel|retry, so a job that cannot be cancelled or retried answers
with the API's Conflict / NotFound (an error page, or a toast for htmx).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from db.repositories.wanted import WantedFilter, WantedRepository
from errors import ValidationFailed
from job_queue import JobInfo, JobStatus, QueueBackend
from routes.jobs import cancel, find_job, parse_status_filter, retry
from web.blueprint import bp

PAGE_SIZE = 25
STATUS_TABS = ("queued", "running", "failed", "completed", "cancelled")
# Functions users meet every day get a name; anything else is named after its function.
JOB_KINDS = {
    "wanted_search.process_wanted_item": "Wanted search",
    "wanted_search.refresh_job": "Library scan",
    "translator.run_translation_job": "Translation",
    "routes.webhooks.process_arr_webhook": "Sonarr/Radarr event",
}
SUMMARY_LIMIT = 120
ERROR_HEAD_LIMIT = 160


def job_kind(func_path: str) -> str:
    """'wanted_search.process_wanted_item' -> 'Wanted search'; unknown -> 'My job'."""
    known = JOB_KINDS.get(func_path)
    if known:
        return known
    name = func_path.rpartition(".")[2].replace("_", " ").strip()
    return name[:1].upper() + name[1:] if name else func_path


def dom_id(prefix: str, *parts: Any) -> str:
    """An element id safe in CSS selectors whatever the job id holds (. : @)."""
    digest = hashlib.sha1("|".join(str(p) for p in parts).encode()).hexdigest()[:12]
    return f"{prefix}-{digest}"


def short_id(job_id: str) -> str:
    """Generated ids are 32 hex digits; named ids (wanted-12) are kept whole."""
    is_generated = len(job_id) == 32 and all(c in "0123456789abcdef" for c in job_id)
    return job_id[:8] if is_generated else job_id


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def result_summary(result: Any) -> str:
    """One line for the table: the scalar fields of a dict result, or its text."""
    if result is None:
        return ""
    if isinstance(result, dict):
        parts = [f"{key} {value}" for key, value in result.items()
                 if isinstance(value, str | int | float | bool) and value != ""]
        text = ", ".join(parts)
    else:
        text = result if isinstance(result, str) else json.dumps(result, default=str)
    return clip(text, SUMMARY_LIMIT)


def error_head(error: str | None) -> str:
    """The line that says what went wrong (the first), for the row."""
    if not error:
        return ""
    return clip(error.strip().splitlines()[0], ERROR_HEAD_LIMIT)


def error_has_more(error: str | None) -> bool:
    return bool(error) and error_head(error) != (error or "").strip()


@dataclass(frozen=True)
class JobView:
    """A job record with what the templates show of it."""

    info: JobInfo
    kind: str
    subject: str

    @property
    def id(self) -> str:
        return self.info.id

    @property
    def short_id(self) -> str:
        return short_id(self.info.id)

    @property
    def status(self) -> str:
        return self.info.status.value

    @property
    def can_cancel(self) -> bool:
        return self.info.status.is_active

    @property
    def can_retry(self) -> bool:
        return self.info.status in (JobStatus.FAILED, JobStatus.CANCELLED)

    @property
    def waiting_to_retry(self) -> bool:
        return self.info.status is JobStatus.QUEUED and self.info.run_after is not None

    @property
    def error_head(self) -> str:
        return error_head(self.info.error)

    @property
    def error_has_more(self) -> bool:
        return error_has_more(self.info.error)

    @property
    def result_summary(self) -> str:
        return result_summary(self.info.result)

    @property
    def action_id(self) -> str:
        # Cancel and Retry share it, so focus stays on the button that replaces the other.
        return dom_id("job-action", self.info.id)

    @property
    def error_id(self) -> str:
        # A new failure gets a new element; an opened one survives the polling swaps.
        return dom_id("job-error", self.info.id, self.info.attempts, self.info.finished_at,
                      len(self.info.error or ""))


def describe_jobs(jobs: list[JobInfo]) -> list[JobView]:
    """What each job is about: the wanted item's episode and language (one query for the
    page), the translated file, the *arr event, or the arguments."""
    wanted_ids = [int(job.args[0]) for job in jobs
                  if job.func == "wanted_search.process_wanted_item" and job.args
                  and isinstance(job.args[0], int)]
    items: dict[int, dict[str, Any]] = {}
    if wanted_ids:
        repo = WantedRepository(current_app.database)  # type: ignore[attr-defined]
        rows, _ = repo.page(WantedFilter(ids=tuple(wanted_ids)), page_size=len(wanted_ids))
        items = {row["id"]: row for row in rows}
    return [JobView(job, job_kind(job.func), _subject(job, items)) for job in jobs]


def _subject(job: JobInfo, wanted: dict[int, dict[str, Any]]) -> str:
    if job.func == "wanted_search.process_wanted_item" and job.args:
        row = wanted.get(job.args[0]) if isinstance(job.args[0], int) else None
        return wanted_label(row) if row else f"wanted item #{job.args[0]}"
    if job.func == "translator.run_translation_job" and job.args:
        target = job.kwargs.get("target_lang")
        name = Path(str(job.args[0])).name
        return f"{name} \u2192 {target}" if target else name
    if job.func == "routes.webhooks.process_arr_webhook" and len(job.args) >= 2:
        payload = job.args[1] if isinstance(job.args[1], dict) else {}
        return f"{job.args[0]} {payload.get('eventType', '')}".strip()
    if job.func == "wanted_search.refresh_job":
        return "scan the media roots, then refresh the wanted list"
    shown = [json.dumps(a, default=str) for a in job.args]
    shown += [f"{k}={json.dumps(v, default=str)}" for k, v in job.kwargs.items()]
    return clip(", ".join(shown), 80)


def wanted_label(row: dict[str, Any]) -> str:
    """'Sousou no Frieren S01E02 · en' (movies: title · language)."""
    title = row.get("title") or Path(str(row.get("path") or "")).name
    if row.get("season") is not None and row.get("episode") is not None:
        title = f"{title} S{row['season']:02d}E{row['episode']:02d}"
    variant = f" ({row['variant']})" if row.get("variant") not in (None, "", "normal") else ""
    return f"{title} \u00b7 {row['language']}{variant}"


# -- list ------------------------------------------------------------------------------


def _queue() -> QueueBackend:
    return current_app.job_queue  # type: ignore[attr-defined,no-any-return]


def _list_args() -> tuple[str, int]:
    """The status filter ('' = all) and page number from the query string."""
    raw = request.args.get("status", "").strip().lower()
    try:
        statuses = parse_status_filter(raw)
    except ValueError as exc:
        raise ValidationFailed("status", str(exc)) from None
    if len(statuses) > 1:
        raise ValidationFailed("status", "pick one status, or none for all jobs")
    page_text = request.args.get("page", "1")
    if not page_text.isdigit() or int(page_text) < 1:
        raise ValidationFailed("page", f"must be a whole number >= 1, got {page_text!r}")
    return (statuses[0] if statuses else ""), int(page_text)


def jobs_list_context(status: str, page: int) -> dict[str, Any]:
    repository = _queue().repository
    statuses = (status,) if status else ()
    total = repository.count(statuses=statuses)
    jobs = repository.list_jobs(statuses=statuses, limit=PAGE_SIZE,
                                offset=(page - 1) * PAGE_SIZE)
    counts = repository.counts_by_status()

    def page_url(number: int) -> str:
        return url_for("web.jobs", status=status or None, page=number if number > 1 else None)

    return {
        "jobs": describe_jobs(jobs), "status": status, "page": page,
        "pages": max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1), "total": total,
        "counts": counts, "all_count": sum(counts.values()), "tabs": STATUS_TABS,
        "page_url": page_url, "return_to": page_url(page),
        "rows_url": url_for("web.jobs_rows", status=status or None,
                            page=page if page > 1 else None),
    }


@bp.get("/jobs")
def jobs() -> ResponseReturnValue:
    status, page = _list_args()
    return render_template("jobs/index.html", page_title="Jobs", active_page="jobs",
                           **jobs_list_context(status, page))


@bp.get("/jobs/_rows")
def jobs_rows() -> ResponseReturnValue:
    """The polled part of the list: status tabs, table and pager."""
    status, page = _list_args()
    return render_template("jobs/_list.html", **jobs_list_context(status, page))


# -- one job ---------------------------------------------------------------------------


def job_detail_context(job_id: str) -> dict[str, Any]:
    info = find_job(_queue(), job_id)
    view = describe_jobs([info])[0]
    return {
        "job": view,
        "args_json": json.dumps(info.args, indent=2, default=str),
        "kwargs_json": json.dumps(info.kwargs, indent=2, default=str),
        "result_json": (json.dumps(info.result, indent=2, default=str)
                        if info.result is not None else None),
        "return_to": url_for("web.job_detail", job_id=job_id),
    }


@bp.get("/jobs/<job_id>")
def job_detail(job_id: str) -> ResponseReturnValue:
    context = job_detail_context(job_id)
    return render_template("jobs/detail.html", page_title=f"Job {short_id(job_id)}",
                           active_page="jobs", **context)


@bp.get("/jobs/<job_id>/_panel")
def job_detail_panel(job_id: str) -> ResponseReturnValue:
    return render_template("jobs/_detail_panel.html", **job_detail_context(job_id))


# -- actions ---------------------------------------------------------------------------


def _answer(message: str) -> ResponseReturnValue:
    """htmx: a toast, and an event that makes the list or detail refresh at once.
    Without JavaScript: a flash message on the page the form came from."""
    if request.headers.get("HX-Request"):
        body = render_template("jobs/_toast.html", message=message)
        return body, 200, {"HX-Trigger": "jobs-changed"}
    flash(message, "success")
    return redirect(_return_to())


def _return_to() -> str:
    """Back to the jobs list or a job page only (never off the site)."""
    target = request.form.get("next", "")
    if target.startswith("/jobs") and not target.startswith("//"):
        return target
    return url_for("web.jobs")


@bp.post("/jobs/<job_id>/cancel")
def job_cancel(job_id: str) -> ResponseReturnValue:
    info = cancel(_queue(), job_id)
    return _answer(f"Cancelled job {short_id(info.id)} ({job_kind(info.func)}).")


@bp.post("/jobs/<job_id>/retry")
def job_retry(job_id: str) -> ResponseReturnValue:
    info = retry(_queue(), job_id)
    return _answer(f"Queued job {short_id(info.id)} ({job_kind(info.func)}) again.")
