"""The dashboard in a real browser: counts straight from the database, the job queue,
provider health after real searches against the fakes, and recent downloads, all
following along without a reload."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from db.models import HistoryEvent, MediaFile, WantedItem
from job_queue import JobStatus
from tests.fakes.libretranslate import FakeLibreTranslate
from tests.fakes.server import serve
from tests.provider_world import SERIES
from tests.web.conftest import Live, screenshots, start_live
from tests.web.jobs_helpers import fail_with

LIVE_WAIT = 20_000  # ms: a poll every 3 s plus the search itself


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """The usual live server, with a (fake) LibreTranslate to translate with."""
    fake = FakeLibreTranslate()
    with serve(fake.app) as server:
        yield from start_live(tmp_path_factory.mktemp("dashboard"), config={
            "translation_backends": ["libretranslate"], "libretranslate_url": server.url,
            "translation_max_retries": 0})



def wanted_counts(live: Live) -> dict[str, int]:
    with live.app.database.session() as session:
        return {status: int(n) for status, n in session.execute(
            select(WantedItem.status, func.count()).group_by(WantedItem.status))}


def wanted_item_id(live: Live, language: str, episode: int) -> int:
    with live.app.database.session() as session:
        return int(session.scalar(
            select(WantedItem.id).join(MediaFile, MediaFile.id == WantedItem.media_file_id)
            .where(WantedItem.language == language, MediaFile.episode == episode)))


def tile(page: Any, href: str) -> Any:
    return page.locator(f'#dashboard-live a.stat[href="{href}"]')


def search_and_wait(live: Live, item_id: int) -> str:
    from wanted_search import submit_wanted_search

    with live.app.app_context():
        job_id = submit_wanted_search(item_id)
    deadline = time.monotonic() + 20
    while live.app.job_queue.get_job(job_id).status.is_active:
        assert time.monotonic() < deadline, "the wanted search did not finish"
        time.sleep(0.05)
    return job_id


def test_a_fresh_library_shows_its_wanted_counts_and_what_to_do_next(
        browser: Any, logged_in: Any, live: Live) -> None:
    page = logged_in
    page.goto("/")
    counts = wanted_counts(live)
    # The scan found 3 episodes wanted in en and de, and nothing has been searched yet.
    assert counts == {"wanted": 6}
    expect(tile(page, "/wanted?status=wanted")).to_have_text(re.compile(r"^\s*6\s+Wanted\s*$"))
    for status in ("searching", "found", "failed", "ignored"):
        expect(tile(page, f"/wanted?status={status}")).to_contain_text("0")
    for status in ("running", "queued", "failed"):
        expect(tile(page, f"/jobs?status={status}")).to_contain_text("0")
    activity = page.get_by_role("region", name="Recent activity")
    expect(activity).to_contain_text("Nothing downloaded yet. 6 subtitles are wanted")
    expect(activity.get_by_role("link", name="Wanted")).to_have_attribute("href", "/wanted")
    health = page.get_by_role("region", name="Provider health")
    for name in ("animetosho", "jimaku", "opensubtitles", "podnapisi", "subdl"):
        provider = health.locator(f'tr[data-provider="{name}"]')
        expect(provider.locator(".pill")).to_have_text("closed")
    expect(health).to_contain_text("5 of 5 enabled")

    tile(page, "/wanted?status=wanted").click()
    page.wait_for_url(re.compile(r"/wanted\?status=wanted$"))
    screenshots(browser, live, "/", "dashboard-empty")


def test_a_finished_search_shows_as_a_download_without_a_reload(logged_in: Any,
                                                                live: Live) -> None:
    from wanted_search import submit_wanted_search

    page = logged_in
    page.goto("/")
    page.evaluate("window.__noReload = true")
    item_id = wanted_item_id(live, "en", 1)
    with live.app.app_context():
        submit_wanted_search(item_id)
    activity = page.get_by_role("region", name="Recent activity")
    first = activity.locator("tbody tr").first
    expect(first).to_contain_text("Sousou no Frieren S01E01", timeout=LIVE_WAIT)
    expect(first).to_contain_text("downloaded")

    with live.app.database.session() as session:
        item = session.get(WantedItem, item_id)
        assert item is not None and item.status == "found"
        event = session.scalars(select(HistoryEvent).order_by(HistoryEvent.id.desc())).first()
    subtitle = Path(item.subtitle_path or "")
    assert subtitle.is_file() and subtitle.is_relative_to(live.media_root)
    assert event is not None and event.path == str(subtitle)
    expect(first).to_contain_text(subtitle.name)
    expect(first).to_contain_text(f"{item.provider}")
    expect(first).to_contain_text(str(item.score))
    expect(first.locator("time")).to_have_attribute("datetime", event.at.isoformat())
    # The counts follow: one found, one fewer wanted.
    expect(tile(page, "/wanted?status=found")).to_contain_text("1", timeout=LIVE_WAIT)
    expect(tile(page, "/wanted?status=wanted")).to_contain_text("5")
    assert wanted_counts(live) == {"wanted": 5, "found": 1}
    # The provider that delivered it has a last success now (it had none before).
    provider_row = page.locator(f'tr[data-provider="{item.provider}"]')
    expect(provider_row.locator("td").nth(2).locator("time")).to_be_visible()
    assert page.evaluate("window.__noReload === true")


def test_a_finished_translation_shows_in_the_activity(logged_in: Any, live: Live) -> None:
    from translator import submit_translation_job

    page = logged_in
    item_id = wanted_item_id(live, "en", 1)
    with live.app.database.session() as session:
        item = session.get(WantedItem, item_id)
        assert item is not None
        if item.status != "found":
            search_and_wait(live, item_id)
            session.refresh(item)
        english = Path(item.subtitle_path or "")
    page.goto("/")
    page.evaluate("window.__noReload = true")
    with live.app.app_context():
        job_id = submit_translation_job(english, target_lang="de")
    first = page.get_by_role("region", name="Recent activity").locator("tbody tr").first
    expect(first).to_contain_text("translated", timeout=LIVE_WAIT)
    info = live.app.job_queue.get_job(job_id)
    assert info.status is JobStatus.COMPLETED
    german = Path(info.result["output_path"])
    assert german.is_file() and german.is_relative_to(live.media_root)
    assert german.name.endswith(".de.srt")
    expect(first).to_contain_text(german.name)
    # The history row the job wrote, tied to its video; the job is not listed twice.
    expect(first).to_contain_text(f"{SERIES} S01E01")
    activity = page.get_by_role("region", name="Recent activity").locator("tbody tr")
    expect(activity.filter(has_text=german.name)).to_have_count(1)
    expect(first).to_contain_text("libretranslate")
    assert page.evaluate("window.__noReload === true")


def test_provider_health_shows_a_throttled_provider_and_its_error(logged_in: Any,
                                                                  live: Live) -> None:
    page = logged_in
    page.goto("/")
    live.world.animetosho.fault = "429"
    live.world.animetosho.retry_after = "600"
    try:
        search_and_wait(live, wanted_item_id(live, "de", 2))
    finally:
        live.world.animetosho.fault = None
    row = page.locator('tr[data-provider="animetosho"]')
    expect(row.locator(".pill-throttled")).to_have_text(re.compile(r"^in \d+ min$"),
                                                        timeout=LIVE_WAIT)
    stats = {s["provider"]: s for s in live.app.provider_manager.stats()}
    assert stats["animetosho"]["throttled_until"] is not None
    error = stats["animetosho"]["last_error"]
    assert error
    expect(row.locator("td.dash-error")).to_have_attribute("title", error)
    expect(row.locator("td").nth(3)).not_to_have_text("\u2013")  # last failure: a time


def test_the_queue_tiles_count_jobs_and_lead_to_them(logged_in: Any, live: Live) -> None:
    page = logged_in
    page.goto("/")
    before = live.app.job_queue.repository.counts_by_status()["failed"]
    job_id = live.app.job_queue.enqueue(fail_with, "dashboard sees this")
    deadline = time.monotonic() + 20
    while live.app.job_queue.get_job(job_id).status is not JobStatus.FAILED:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    failed = tile(page, "/jobs?status=failed")
    expect(failed).to_contain_text(str(before + 1), timeout=LIVE_WAIT)
    expect(failed).to_have_class(re.compile(r"stat-danger"))
    failed.click()
    page.wait_for_url(re.compile(r"/jobs\?status=failed$"))
    expect(page.locator(f'tr[data-job-id="{job_id}"]')).to_contain_text(
        "ValueError: dashboard sees this")


def test_screenshots(browser: Any, live: Live) -> None:
    for episode in (2, 3):
        search_and_wait(live, wanted_item_id(live, "en", episode))
    saved = screenshots(browser, live, "/", "dashboard")
    assert all(path.stat().st_size > 0 for path in saved)
