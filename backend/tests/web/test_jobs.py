"""The Jobs page in a real browser: jobs queued on the live server's memory queue (two
workers, in this process) show up, progress, fail, are retried and cancelled, and the list
follows without a reload."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from db.models import WantedItem
from job_queue import JobStatus
from tests.web import jobs_helpers
from tests.web.conftest import Live, login, screenshots
from tests.web.jobs_helpers import (
    RUNS,
    count_run,
    fail_for_now,
    fail_until_flag,
    fail_with,
    gate,
    hold,
)

LIVE_WAIT = 20_000  # ms: a poll every 2 s plus the job itself



@pytest.fixture(autouse=True)
def _release_held_jobs() -> Iterator[None]:
    """A failed test must not leave the pool blocked: the server waits for it on close."""
    yield
    jobs_helpers.open_all_gates()


def enqueue(live: Live, func: Any, *args: Any, **kwargs: Any) -> str:
    return str(live.app.job_queue.enqueue(func, *args, **kwargs))


def job(live: Live, job_id: str) -> Any:
    info = live.app.job_queue.get_job(job_id)
    assert info is not None
    return info


def row(page: Any, job_id: str) -> Any:
    return page.locator(f'tr[data-job-id="{job_id}"]')


def mark_page(page: Any) -> None:
    """A flag that only survives as long as the document does (no reload)."""
    page.evaluate("window.__noReload = true")


def assert_not_reloaded(page: Any) -> None:
    assert page.evaluate("window.__noReload === true")


def wanted_item_id(live: Live, language: str, episode: int) -> int:
    from db.models import MediaFile

    with live.app.database.session() as session:
        return int(session.scalar(
            select(WantedItem.id).join(MediaFile, MediaFile.id == WantedItem.media_file_id)
            .where(WantedItem.language == language, MediaFile.episode == episode)))


def hold_both_workers(live: Live, page: Any, *names: str) -> list[str]:
    """Two held jobs fill the pool (job_workers=2); returns their ids once running."""
    ids = [enqueue(live, hold, name) for name in names]
    for job_id in ids:
        expect(row(page, job_id)).to_have_attribute("data-status", "running",
                                                    timeout=LIVE_WAIT)
    return ids


def test_a_wanted_search_shows_up_and_completes_without_a_reload(logged_in: Any,
                                                                  live: Live) -> None:
    from wanted_search import submit_wanted_search

    page = logged_in
    page.goto("/jobs")
    mark_page(page)
    item_id = wanted_item_id(live, "en", 1)
    with live.app.app_context():
        job_id = submit_wanted_search(item_id)
    line = row(page, job_id)
    expect(line).to_have_attribute("data-status", "completed", timeout=LIVE_WAIT)
    expect(line.get_by_role("link", name="Wanted search")).to_be_visible()
    expect(line).to_contain_text("Sousou no Frieren S01E01 \u00b7 en")
    expect(line).to_contain_text("status found")
    assert_not_reloaded(page)
    assert job(live, job_id).status is JobStatus.COMPLETED
    with live.app.database.session() as session:
        item = session.get(WantedItem, item_id)
        assert item is not None and item.status == "found"
        assert Path(item.subtitle_path or "").is_file()


def test_a_failed_job_shows_its_error_and_retry_runs_it_again(logged_in: Any, live: Live,
                                                              tmp_path: Path) -> None:
    page = logged_in
    flag = tmp_path / "go-ahead"
    page.goto("/jobs")
    mark_page(page)
    job_id = enqueue(live, fail_until_flag, str(flag))
    line = row(page, job_id)
    expect(line).to_have_attribute("data-status", "failed", timeout=LIVE_WAIT)
    expect(line).to_contain_text("ValueError: flag file go-ahead is missing")
    expect(line).to_contain_text("1/3")
    # The traceback opens in the row and stays open across the next polls.
    line.get_by_text("Full error").click()
    details = line.locator("details")
    expect(details).to_have_attribute("open", "")
    expect(details.locator("pre")).to_contain_text("jobs_helpers.py")
    with page.expect_response(re.compile(r"/jobs/_rows")):
        pass
    with page.expect_response(re.compile(r"/jobs/_rows")):
        pass
    expect(details).to_have_attribute("open", "")
    assert RUNS[f"flag:{flag}"] == 1

    flag.touch()
    line.get_by_role("button", name=f"Retry job {job_id[:8]}").click()
    expect(page.locator("#toasts .toast")).to_have_text(
        f"Queued job {job_id[:8]} (Fail until flag) again.")
    expect(line).to_have_attribute("data-status", "completed", timeout=LIVE_WAIT)
    expect(line).to_contain_text("runs 2")
    assert_not_reloaded(page)
    info = job(live, job_id)
    assert info.status is JobStatus.COMPLETED
    assert info.attempts == 1  # a retry starts the count afresh
    assert info.result == {"flag": "go-ahead", "runs": 2}
    assert RUNS[f"flag:{flag}"] == 2


def test_cancel_stops_a_queued_and_a_running_job(logged_in: Any, live: Live) -> None:
    page = logged_in
    page.goto("/jobs")
    mark_page(page)
    first, second = hold_both_workers(live, page, "cancel-a", "cancel-b")
    # A running job reports its progress in the row.
    bar = row(page, first).get_by_role("progressbar")
    expect(bar).to_have_attribute("aria-valuenow", "1", timeout=LIVE_WAIT)
    expect(bar).to_contain_text("waiting at gate cancel-a")

    behind = enqueue(live, count_run, "behind-the-gates")
    line = row(page, behind)
    expect(line).to_have_attribute("data-status", "queued", timeout=LIVE_WAIT)
    expect(line).to_contain_text("waiting for a worker")
    line.get_by_role("button", name=f"Cancel job {behind[:8]}").click()
    expect(line).to_have_attribute("data-status", "cancelled", timeout=LIVE_WAIT)
    # Retry replaces Cancel and keeps keyboard focus.
    expect(line.get_by_role("button", name=f"Retry job {behind[:8]}")).to_be_focused()
    assert job(live, behind).status is JobStatus.CANCELLED

    # A running job stops at its next progress report and frees its worker.
    row(page, second).get_by_role("button", name=f"Cancel job {second[:8]}").click()
    expect(row(page, second)).to_have_attribute("data-status", "cancelled",
                                                timeout=LIVE_WAIT)
    freed = enqueue(live, count_run, "after-cancel")
    expect(row(page, freed)).to_have_attribute("data-status", "completed", timeout=LIVE_WAIT)

    gate("cancel-a").set()
    expect(row(page, first)).to_have_attribute("data-status", "completed", timeout=LIVE_WAIT)
    assert_not_reloaded(page)
    assert job(live, second).status is JobStatus.CANCELLED
    assert job(live, behind).status is JobStatus.CANCELLED
    # The cancelled job never ran, even after the workers were free again.
    assert RUNS["count:behind-the-gates"] == 0
    assert RUNS["count:after-cancel"] == 1


def test_a_job_waiting_to_retry_says_when_and_why(logged_in: Any, live: Live) -> None:
    page = logged_in
    page.goto("/jobs")
    job_id = enqueue(live, fail_for_now, "provider timed out")
    line = row(page, job_id)
    # job_retry_delays defaults to 10 s, 60 s: the row waits with the attempt's error.
    expect(line).to_contain_text(re.compile(r"retry in \d+ s"), timeout=LIVE_WAIT)
    expect(line).to_have_attribute("data-status", "queued")
    expect(line).to_contain_text("attempt 1 of 3 failed")
    expect(line).to_contain_text("ConnectionError: provider timed out")
    info = job(live, job_id)
    assert info.status is JobStatus.QUEUED and info.run_after is not None
    assert info.attempts == 1
    line.get_by_role("button", name=f"Cancel job {job_id[:8]}").click()
    expect(line).to_have_attribute("data-status", "cancelled", timeout=LIVE_WAIT)
    assert RUNS["retryable:provider timed out"] == 1


def test_status_filter_and_pages(logged_in: Any, live: Live) -> None:
    page = logged_in
    failed = enqueue(live, fail_with, "filter me")
    done = [enqueue(live, count_run, f"page-{n}") for n in range(30)]
    for job_id in [failed, *done]:
        _wait_finished(live, job_id)
    page.goto("/jobs")
    nav = page.get_by_role("navigation", name="Filter jobs by status")
    nav.get_by_role("link", name=re.compile(r"^Failed")).click()
    page.wait_for_url(re.compile(r"/jobs\?status=failed$"))
    expect(nav.get_by_role("link", name=re.compile(r"^Failed"))).to_have_attribute(
        "aria-current", "page")
    expect(row(page, failed)).to_be_visible()
    statuses = page.locator("tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.status)")
    assert statuses and set(statuses) == {"failed"}
    assert row(page, done[0]).count() == 0

    page.goto("/jobs")
    total = live.app.job_queue.repository.count()
    expect(page.get_by_role("navigation", name="Pages")).to_contain_text(
        f"Page 1 of {(total + 24) // 25}")
    first_page = set(page.locator("tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.jobId)"))
    assert len(first_page) == 25
    page.get_by_role("link", name=re.compile("Next")).click()
    page.wait_for_url(re.compile(r"/jobs\?page=2$"))
    expect(page.get_by_role("navigation", name="Pages")).to_contain_text("Page 2 of")
    second_page = set(page.locator("tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.jobId)"))
    assert second_page and not (second_page & first_page)

    page.goto("/jobs?status=bogus")
    expect(page.locator("[data-error-message]")).to_contain_text("unknown status bogus")


def _wait_finished(live: Live, job_id: str) -> None:
    import time

    deadline = time.monotonic() + 20
    while job(live, job_id).status.is_active:
        assert time.monotonic() < deadline, f"job {job_id} did not finish"
        time.sleep(0.05)


def test_job_detail_shows_arguments_error_and_result(logged_in: Any, live: Live) -> None:
    page = logged_in
    failed = enqueue(live, fail_with, "disk on fire")
    _wait_finished(live, failed)
    page.goto("/jobs")
    row(page, failed).get_by_role("link", name="Fail with").click()
    page.wait_for_url(re.compile(rf"/jobs/{failed}$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Fail with")
    error = page.get_by_role("region", name="Error")
    expect(error).to_contain_text("ValueError: disk on fire")
    expect(error).to_contain_text("in _check")
    expect(page.get_by_role("region", name="Arguments")).to_contain_text('"disk on fire"')
    expect(page.locator("dl.facts")).to_contain_text("tests.web.jobs_helpers.fail_with")
    expect(page.get_by_role("button", name=f"Retry job {failed[:8]}")).to_be_visible()

    # A running job's page follows it to the end by itself.
    held = enqueue(live, hold, "detail")
    page.goto(f"/jobs/{held}")
    mark_page(page)
    expect(page.get_by_role("progressbar")).to_contain_text("waiting at gate detail",
                                                            timeout=LIVE_WAIT)
    gate("detail").set()
    result = page.get_by_role("region", name="Result")
    expect(result).to_contain_text('"released": true', timeout=LIVE_WAIT)
    expect(page.locator("#job-panel .pill")).to_have_text("completed")
    assert_not_reloaded(page)

    page.goto("/jobs/no-such-job")
    expect(page.locator("[data-error-message]")).to_contain_text("does not exist")


def test_actions_work_without_javascript_and_refuse_what_cannot_be_done(
        browser: Any, live: Live, tmp_path: Path) -> None:
    flag = tmp_path / "flag"
    job_id = enqueue(live, fail_until_flag, str(flag))
    _wait_finished(live, job_id)
    flag.touch()
    context = browser.new_context(base_url=live.url, java_script_enabled=False)
    try:
        page = context.new_page()
        login(page)
        page.goto("/jobs?status=failed")
        row(page, job_id).get_by_role("button", name=f"Retry job {job_id[:8]}").click()
        page.wait_for_url(re.compile(r"/jobs\?status=failed$"))
        expect(page.get_by_role("alert")).to_contain_text(f"Queued job {job_id[:8]}")
        _wait_finished(live, job_id)
        assert job(live, job_id).status is JobStatus.COMPLETED

        # Cancelling a finished job is the API's conflict, shown as an error page.
        token = page.locator('meta[name="csrf-token"]').get_attribute("content")
        answer = page.request.post(live.path(f"/jobs/{job_id}/cancel"),
                                   form={"csrf_token": token or ""},
                                   headers={"Referer": live.path("/jobs")})
        assert answer.status == 409
        assert "only queued or running jobs can be cancelled" in answer.text()
        assert job(live, job_id).status is JobStatus.COMPLETED
    finally:
        context.close()


def test_screenshots(browser: Any, live: Live) -> None:
    failed = enqueue(live, fail_with, "provider answered 500 three times in a row")
    _wait_finished(live, failed)
    held = [enqueue(live, hold, name) for name in ("shot-a", "shot-b")]
    waiting = enqueue(live, count_run, "shot-queued")
    import time

    deadline = time.monotonic() + 20
    while any(job(live, j).status is not JobStatus.RUNNING for j in held):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.6)  # one progress report each
    try:
        saved = screenshots(browser, live, "/jobs", "jobs")
        saved += screenshots(browser, live, f"/jobs/{failed}", "job-detail")
        assert all(path.stat().st_size > 0 for path in saved)
    finally:
        gate("shot-a").set()
        gate("shot-b").set()
    _wait_finished(live, waiting)
