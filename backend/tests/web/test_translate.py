"""Translate page, in a real browser against a live server whose translation backend is
a fake LibreTranslate (tests.fakes): the job really runs on the queue and the translated
file really appears beside the source."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from db.repositories.jobs import JobRepository
from tests.fakes.libretranslate import FakeLibreTranslate
from tests.fakes.server import serve
from tests.provider_world import SERIES, video_name
from tests.test_api_translate import SRT, SRT_DE
from tests.web.conftest import Live, screenshots, start_live

JOB_TIMEOUT = 30_000  # ms


@pytest.fixture(scope="module")
def libretranslate() -> Iterator[FakeLibreTranslate]:
    fake = FakeLibreTranslate(latency=0.3)
    with serve(fake.app) as server:
        fake.url = server.url  # type: ignore[attr-defined]
        yield fake


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory,
         libretranslate: FakeLibreTranslate) -> Iterator[Live]:
    yield from start_live(tmp_path_factory.mktemp("translate"), config={
        "translation_backends": ["libretranslate"],
        "libretranslate_url": libretranslate.url,  # type: ignore[attr-defined]
        # One line per call, one call at a time: the job moves through 1/3, 2/3, 3/3.
        "translation_batch_size": 1, "translation_concurrency": 1,
        "translation_max_retries": 0,
        # A failed job is tried once more, a second later.
        "job_max_retries": 1, "job_retry_delays": ["1"]})


def english_srt(live: Live, episode: int) -> Path:
    """An English subtitle beside episode `episode`, named as a player expects."""
    path = (live.media_root / SERIES / "Season 01"
            / video_name(episode).replace(".mkv", ".en.srt"))
    path.write_text(SRT, encoding="utf-8")
    return path


def german_of(source: Path) -> Path:
    return source.with_name(source.name.replace(".en.srt", ".de.srt"))


def fill_form(page: Any, source: Path, *, target: str = "de", replace: bool = False) -> None:
    page.get_by_label("Subtitle file", exact=True).select_option(str(source))
    page.get_by_label("Target language").fill(target)
    if replace:
        page.get_by_label("Replace an existing translation").check()


def test_a_translation_is_queued_followed_and_written(logged_in: Any, live: Live,
                                                      libretranslate: FakeLibreTranslate
                                                      ) -> None:
    source = english_srt(live, 2)
    english_srt(live, 3)
    # Another job function's record stays out of the recent translations.
    JobRepository(live.app.database).claim("not-a-translation", "tests.job_funcs.noop",
                                           "[]", "{}", backend="memory", max_attempts=1)
    logged_in.goto("/translate")
    picker = logged_in.get_by_label("Subtitle file", exact=True)
    expect(picker.locator("option")).to_have_count(2)
    # The filter narrows the picker while typing (htmx), without leaving the page.
    logged_in.get_by_label("Find subtitle files").fill("s01e02")
    expect(picker.locator("option")).to_have_count(1)
    expect(picker.locator("option")).to_have_text(source.name)
    backend = logged_in.get_by_label("Backend")
    expect(backend.locator("option").first).to_have_text("Configured chain: libretranslate")
    fill_form(logged_in, source)
    backend.select_option("libretranslate")
    calls_before = libretranslate.calls
    logged_in.get_by_role("button", name="Translate").click()

    logged_in.wait_for_url(re.compile(r"/translate\?job=translate-de-"))
    panel = logged_in.locator("#translate-job")
    expect(panel).to_have_attribute("data-status", "completed", timeout=JOB_TIMEOUT)
    expect(panel.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "3")
    expect(panel.get_by_role("progressbar")).to_have_attribute("aria-valuemax", "3")
    target = german_of(source)
    expect(panel.locator(".output-path")).to_have_text(str(target))
    assert target.read_text(encoding="utf-8") == SRT_DE
    assert libretranslate.calls - calls_before == 3  # one line per call
    # The recent list was refreshed when the job finished.
    recent = logged_in.locator("#translate-recent")
    expect(recent.get_by_role("row")).to_have_count(2)  # header + this job
    expect(recent).to_contain_text(target.name)
    expect(recent.locator("[data-job=not-a-translation]")).to_have_count(0)


def test_an_existing_translation_needs_replace(logged_in: Any, live: Live) -> None:
    source = english_srt(live, 1)
    german_of(source).write_text("keep me", encoding="utf-8")
    logged_in.goto("/translate")
    fill_form(logged_in, source)
    logged_in.get_by_role("button", name="Translate").click()
    alert = logged_in.get_by_role("alert")
    expect(alert).to_contain_text("already exists")
    expect(alert).to_contain_text("Replace an existing translation")
    assert german_of(source).read_text(encoding="utf-8") == "keep me"
    # The form kept what was chosen; ticking Replace goes through.
    expect(logged_in.get_by_label("Subtitle file", exact=True)).to_have_value(str(source))
    logged_in.get_by_label("Replace an existing translation").check()
    logged_in.get_by_role("button", name="Translate").click()
    expect(logged_in.locator("#translate-job")).to_have_attribute(
        "data-status", "completed", timeout=JOB_TIMEOUT)
    assert german_of(source).read_text(encoding="utf-8") == SRT_DE


def test_a_failing_backend_shows_the_error(logged_in: Any, live: Live,
                                           libretranslate: FakeLibreTranslate) -> None:
    source = english_srt(live, 3)
    libretranslate.fault = "500"
    try:
        logged_in.goto("/translate")
        fill_form(logged_in, source, target="fr")
        logged_in.get_by_role("button", name="Translate").click()
        panel = logged_in.locator("#translate-job")
        expect(panel).to_have_attribute("data-status", "failed", timeout=JOB_TIMEOUT)
        expect(panel.get_by_role("alert")).to_contain_text("Failed: ")
        expect(panel.get_by_role("alert")).to_contain_text("libretranslate")
        # The message leads; the traceback stays folded away until asked for.
        full = panel.get_by_role("alert").locator("details")
        expect(full.locator("pre")).not_to_be_visible()
        full.locator("summary").click()
        expect(full.locator("pre")).to_contain_text("translator.py")
        job_id = logged_in.url.split("job=", 1)[1]
        record = JobRepository(live.app.database).get(job_id)
        assert record is not None and record.attempts == 2  # tried again once
    finally:
        libretranslate.fault = None
    assert not source.with_name(source.name.replace(".en.srt", ".fr.srt")).exists()
    expect(logged_in.locator("#translate-recent .pill-failed")).to_have_count(1)


def test_a_path_outside_the_media_roots_is_refused(logged_in: Any, live: Live,
                                                   tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.en.srt"
    outside.write_text(SRT, encoding="utf-8")
    logged_in.goto("/translate")
    # A crafted form: the picker only offers files under the media roots.
    logged_in.evaluate("""(value) => {
        const option = new Option(value, value, true, true);
        document.getElementById('path').add(option);
    }""", str(outside))
    logged_in.get_by_label("Target language").fill("de")
    with logged_in.expect_response(lambda r: r.request.method == "POST") as answer:
        logged_in.get_by_role("button", name="Translate").click()
    assert answer.value.status == 400
    expect(logged_in.get_by_role("alert")).to_contain_text("is not inside a media root")
    assert not outside.with_name("elsewhere.de.srt").exists()
    jobs = JobRepository(live.app.database).list_jobs(func="translator.run_translation_job",
                                                      limit=100)
    assert all(str(outside) not in job.args for job in jobs)


def test_screenshots(browser: Any, live: Live) -> None:
    jobs = JobRepository(live.app.database).list_jobs(func="translator.run_translation_job",
                                                      limit=1)
    assert jobs, "runs after a translation"
    screenshots(browser, live, f"/translate?job={jobs[0].id}", "translate")
